// Package audit implements `mediator audit`.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// NewCmdAudit returns `mediator audit` and its verbs.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit <command>",
		Short: "Check the audit log",
		Long: `Every call mediator makes is recorded in the audit log, one JSON line per
call: time, server, tool, argument digest, outcome. The log is the file the
config's audit.path names, by default audit.jsonl in the state directory
($XDG_STATE_HOME/mediator/audit.jsonl, ~/.local/state/mediator/audit.jsonl
when XDG_STATE_HOME is unset); its head is the file beside it ending in
.head. ` + "`mediator audit verify`" + ` prints the path it checked.`,
	}
	cmd.AddCommand(NewCmdVerify(f, nil))
	return cmd
}

// VerifyOptions of `mediator audit verify`.
type VerifyOptions struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
	// Runs lists the journalled workflow runs, none when there is no
	// journal: a missing log is checked against them.
	Runs func(context.Context, *config.Config) ([]*workflows.RunRecord, error)
	// File is --file; empty means the config's audit.path.
	File string
	JSON bool
}

// NewCmdVerify returns `mediator audit verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams, Config: f.Config, Secrets: f.Secrets, Runs: journalRuns}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's records, their chain and the log's head",
		Long: `Checks every record of the audit log against its MAC (an HMAC under the
audit key kept in the keyring) and the chain between records, which shows
edited, deleted, inserted and reordered records; and checks the log's last
record against its head (the file next to it ending in .head), which shows
records cut off the end. A log rewritten without the key fails: its records
are unkeyed, and mediator writes only keyed records once the key exists.

Records from before mediator had an audit key are unkeyed: only a hash
chains them, which anyone who can write the file could recompute. They are
reported as such.

When there is no log at all, verify looks for what the log's calls leave
elsewhere: its head, the workflow runs in the run journal (runs.db in the
state directory) and the audit key in the keyring, which mediator makes at
the first audited call. Finding any, it reports the records missing.

Exits 0 when the log is intact (or there is none and nothing shows a call
was made), 2 when it is broken, missing or cannot be read, and 3 when the
audit key cannot be read, so the MACs could not be checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return verifyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.File, "file", "", "audit log to verify (default: audit.path from the config)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyReport is --json's output.
type verifyReport struct {
	orchestrator.AuditReport
	OK bool `json:"ok"`
	// Error says why the log failed, KeyError why the key could not be read.
	Error    string `json:"error,omitempty"`
	KeyError string `json:"key_error,omitempty"`
}

func verifyRun(ctx context.Context, opts *VerifyOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	path := opts.File
	if path == "" {
		path = cfg.Audit.Path
	}
	if _, err := os.Stat(path); opts.File == "" && errors.Is(err, fs.ErrNotExist) {
		return missingLog(ctx, opts, cfg, path)
	}
	key := readAuditKey(ctx, opts, cfg)
	rep, err := orchestrator.VerifyAuditFile(path, key.key)
	var ve *orchestrator.AuditVerifyError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	unchecked := err == nil && key.err != nil && key.needed(rep)
	if opts.JSON {
		out := verifyReport{AuditReport: rep, OK: err == nil && !unchecked}
		if err != nil {
			out.Error = err.Error()
		}
		if key.err != nil {
			out.KeyError = key.err.Error()
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(out); werr != nil {
			return werr
		}
	}
	switch {
	case err != nil:
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%w (%d intact records before it)", err, rep.Records)}
	case !opts.JSON:
		printReport(opts.IO.Out, &rep, key, unchecked)
	}
	if unchecked {
		return cmdutil.Errorf(cmdutil.ExitConnect, "the audit key could not be read, so the log could not be fully checked: %v", key.err)
	}
	return nil
}

// missingLog decides what the absence of the log at path means: nothing,
// when no call has been made, or records lost, when something a call
// leaves behind besides its record says one was.
func missingLog(ctx context.Context, opts *VerifyOptions, cfg *config.Config, path string) error {
	var seen []string
	head := orchestrator.AuditHeadPath(path)
	if _, err := os.Stat(head); err == nil {
		seen = append(seen, fmt.Sprintf("its head %s is there, naming the last record written", head))
	}
	runs, err := opts.Runs(ctx, cfg)
	if err != nil {
		return fmt.Errorf("no audit log at %s, and the run journal, which would show whether calls were made, cannot be read: %w", path, err)
	}
	if len(runs) > 0 {
		seen = append(seen, fmt.Sprintf("the run journal lists %d workflow run(s), the newest %s started %s, and every run opens the audit log before its first call",
			len(runs), runs[0].ID, runs[0].StartedAt.UTC().Format(time.RFC3339)))
	}
	key := readAuditKey(ctx, opts, cfg)
	if key.key != nil {
		seen = append(seen, fmt.Sprintf("the keyring holds the audit key, made at the first audited call (%s)", key.key.Created.UTC().Format(time.RFC3339)))
	}
	if len(seen) > 0 {
		return cmdutil.Errorf(cmdutil.ExitUsage, "no audit log at %s, yet calls were audited: %s; its records are missing (deleted or moved; if audit.path changed, verify the old log with --file)",
			path, strings.Join(seen, "; "))
	}
	if !key.opened {
		return cmdutil.Errorf(cmdutil.ExitConnect, "no audit log at %s and no run in the journal, but the keyring could not be opened to look for the audit key a call would have made, so this is not fully checked: %v", path, key.err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "no audit log yet at %s: no call has been made (no head, no journalled run, no audit key in the keyring)\n", path)
	return nil
}

// journalRuns lists the runs of the run journal, without creating one.
func journalRuns(ctx context.Context, cfg *config.Config) ([]*workflows.RunRecord, error) {
	if _, err := os.Stat(flowrun.JournalPath(cfg)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	j, err := flowrun.OpenJournal(cfg, nil)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Runs(ctx, 0)
}

// auditKeyState is what verification knows of the audit key.
type auditKeyState struct {
	key    *credentials.AuditKey
	err    error // why there is no key
	opened bool  // the keyring opened (and, with err, holds no key)
}

// readAuditKey reads the keyring's audit key; it never makes one.
func readAuditKey(ctx context.Context, opts *VerifyOptions, cfg *config.Config) auditKeyState {
	store, err := opts.Secrets(ctx, cfg)
	if err != nil {
		return auditKeyState{err: err}
	}
	key, err := store.AuditKey(ctx, false)
	if err != nil {
		return auditKeyState{err: err, opened: true}
	}
	return auditKeyState{key: &key, opened: true}
}

// needed says whether the key that could not be read was needed for rep's
// log: any log needs it when the keyring cannot be opened (the key also
// dates unkeyed records), while a keyring without a key has made no keyed
// record, so only a log with keyed records or a head needs one.
func (k auditKeyState) needed(rep orchestrator.AuditReport) bool {
	return !k.opened || rep.Keyed > 0 || rep.Head != orchestrator.HeadNone
}

// printReport says what was checked, part by part.
func printReport(w io.Writer, rep *orchestrator.AuditReport, key auditKeyState, unchecked bool) {
	verdict := "OK"
	if unchecked {
		verdict = "NOT FULLY CHECKED"
	}
	fmt.Fprintf(w, "%s: %d records, chain intact (%s)\n", verdict, rep.Records, rep.Path)
	if rep.Unkeyed > 0 {
		dated := ""
		if !key.opened {
			dated = " (not checked to be dated before it: the keyring could not be opened)"
		}
		fmt.Fprintf(w, "  unkeyed: %s, written before the audit key%s: only a hash chains them\n", span(1, rep.Unkeyed), dated)
	}
	if rep.Keyed > 0 {
		checked := "each MAC checked with the keyring's audit key"
		if key.err != nil {
			checked = "MACs NOT checked: the audit key could not be read"
		}
		fmt.Fprintf(w, "  keyed:   %s, %s\n", span(rep.Unkeyed+1, rep.Records), checked)
	}
	switch rep.Head {
	case orchestrator.HeadNone:
		fmt.Fprintf(w, "  head:    none (%s): the log was never written with the audit key\n", rep.HeadPath)
	case orchestrator.HeadMatched:
		fmt.Fprintf(w, "  head:    matched: it names the last record, seq %d (%s)\n", rep.HeadSeq, rep.HeadPath)
	case orchestrator.HeadBehind:
		fmt.Fprintf(w, "  head:    behind: it names seq %d, and the keyed records after it were written by a process "+
			"that stopped before updating the head (%s)\n", rep.HeadSeq, rep.HeadPath)
	}
	if key.err != nil && rep.Head != orchestrator.HeadNone {
		fmt.Fprintln(w, "           the head's MAC NOT checked: the audit key could not be read")
	}
}

func span(from, to int) string {
	if from == to {
		return fmt.Sprintf("record %d", from)
	}
	return fmt.Sprintf("records %d-%d", from, to)
}
