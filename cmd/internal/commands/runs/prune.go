package runs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/internal/bytesize"
	"github.com/mediatorhq/mediator/workflows"
)

// prunable are the statuses --status accepts; defaultPrune those pruned
// without it. An interrupted run is one to resume, so it goes only when
// named; a run in progress never does.
var (
	prunable     = []string{workflows.RunSucceeded, workflows.RunFailed, workflows.RunCancelled, workflows.RunTimedOut, workflows.RunBlocked, flowrun.StatusInterrupted}
	defaultPrune = []string{workflows.RunSucceeded, workflows.RunFailed, workflows.RunCancelled, workflows.RunTimedOut, workflows.RunBlocked}
)

// PruneOptions of `mediator runs prune`.
type PruneOptions struct {
	Env   flowrun.Env
	Alive func(pid int) bool
	Now   func() time.Time
	// CanPrompt reports whether the user can be asked to confirm.
	CanPrompt func() bool

	// OlderThan is --older-than: prune runs that started longer ago (0:
	// any age).
	OlderThan time.Duration
	Statuses  []string
	DryRun    bool
	Yes       bool
}

// NewCmdPrune returns `mediator runs prune`.
func NewCmdPrune(f *cmdutil.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	opts := &PruneOptions{Env: flowrun.NewEnv(f), Alive: workflows.ProcessAlive, Now: time.Now,
		CanPrompt: func() bool { return f.IOStreams.IsStdinTTY() && !f.NoPrompt }}
	var olderThan string
	cmd := &cobra.Command{
		Use:   "prune [--older-than AGE] [--status STATUS ...] [--dry-run] [--yes]",
		Short: "Delete old runs from the run journal and shrink its file",
		Long: `Deletes runs and every call attempt they journalled (with the results), then
compacts the journal's file (runs.db in the state directory) so the space
goes back to the file system.

--older-than AGE keeps runs that started more recently: AGE is a number with
d (days), w (weeks), h, m or s, e.g. 30d or 12h. --status picks which runs
go: succeeded, failed, cancelled, timed_out, blocked, interrupted (a run
whose process died; it can still be resumed); repeat it or separate with
commas. Without --status every finished run goes (succeeded, failed,
cancelled, timed_out, blocked),
never an interrupted one. A run in progress (its finally steps included) is
never pruned, nor one that a resume takes up while prune runs.

--dry-run lists what would go and deletes nothing. On a terminal prune asks
before deleting; elsewhere it needs --yes.`,
		Example: `  mediator runs prune --older-than 30d --dry-run
  mediator runs prune --older-than 30d
  mediator runs prune --status failed,cancelled --yes`,
		Args: cmdutil.ExactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan != "" {
				d, err := ParseAge(olderThan)
				if err != nil {
					return cmdutil.UsageErrorf("--older-than %s: %v", olderThan, err)
				}
				opts.OlderThan = d
			}
			statuses, err := parseStatuses(opts.Statuses)
			if err != nil {
				return err
			}
			opts.Statuses = statuses
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return pruneRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&olderThan, "older-than", "", "prune only runs that started longer ago than AGE (30d, 2w, 12h)")
	fl.StringSliceVar(&opts.Statuses, "status", nil, "prune only runs in these states: "+strings.Join(prunable, ", "))
	fl.BoolVar(&opts.DryRun, "dry-run", false, "list the runs that would be deleted, delete nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(prunable, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// ParseAge reads a non-negative age: Go's durations (12h, 90m) plus d for
// days and w for weeks (30d, 2w, 1w3d).
func ParseAge(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var day time.Duration
		switch unit {
		case "d":
			day = 24 * time.Hour
		case "w":
			day = 7 * 24 * time.Hour
		}
		if day == 0 {
			d, err := time.ParseDuration(num + unit)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("not an age; use a number with d, w, h, m or s, e.g. 30d or 12h")
			}
			total += d
			continue
		}
		n, err := strconv.ParseFloat(num, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not an age; use a number with d, w, h, m or s, e.g. 30d or 12h")
		}
		total += time.Duration(n * float64(day))
	}
	if s == "" {
		return 0, fmt.Errorf("empty; use a number with d, w, h, m or s, e.g. 30d")
	}
	return total, nil
}

// parseStatuses checks --status, defaulting to every finished state.
func parseStatuses(in []string) ([]string, error) {
	if len(in) == 0 {
		return defaultPrune, nil
	}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		switch {
		case s == workflows.RunRunning:
			return nil, cmdutil.UsageErrorf("--status running: a run in progress is never pruned (a run whose process died is %s)", flowrun.StatusInterrupted)
		case !slices.Contains(prunable, s):
			return nil, cmdutil.UsageErrorf("--status %q: valid states are %s", s, strings.Join(prunable, ", "))
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	return out, nil
}

func pruneRun(ctx context.Context, opts *PruneOptions) error {
	cfg, err := opts.Env.Config()
	if err != nil {
		return err
	}
	path := flowrun.JournalPath(cfg)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(opts.Env.IO.ErrOut, "no runs yet: nothing to prune")
		return nil
	}
	j, err := flowrun.OpenJournal(cfg, opts.Env.Redactor())
	if err != nil {
		return err
	}
	defer j.Close()
	all, err := j.Runs(ctx, 0)
	if err != nil {
		return err
	}
	cutoff := opts.Now().Add(-opts.OlderThan)
	var (
		chosen []*workflows.RunRecord
		shown  []string // each chosen run's status, interrupted for a dead one
	)
	for _, r := range all {
		st := flowrun.RunStatus(r, opts.Alive)
		if slices.Contains(opts.Statuses, st) && (opts.OlderThan == 0 || r.StartedAt.Before(cutoff)) {
			chosen, shown = append(chosen, r), append(shown, st)
		}
	}
	what := describe(opts)
	if len(chosen) == 0 {
		fmt.Fprintf(opts.Env.IO.ErrOut, "no %s: nothing to prune\n", what)
		return nil
	}
	if opts.DryRun {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFLOW\tSTATUS\tSTARTED")
		for i, r := range chosen {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.FlowName, shown[i], r.StartedAt.Local().Format("2006-01-02 15:04:05"))
		}
		tw.Flush()
		if err := cmdutil.WriteRedacted(opts.Env.IO.Out, opts.Env.Redactor(), []byte(b.String())); err != nil {
			return err
		}
		fmt.Fprintf(opts.Env.IO.ErrOut, "would delete %d of %d run(s) (%s); nothing was deleted\n", len(chosen), len(all), what)
		return nil
	}
	if !opts.Yes {
		if !opts.CanPrompt() {
			return cmdutil.UsageErrorf("runs prune would delete %d run(s) (%s): pass --yes to delete them when not on a terminal, or --dry-run to list them", len(chosen), what)
		}
		ok, err := cmdutil.Confirm(opts.Env.IO, fmt.Sprintf("Delete %d of %d run(s) (%s) and their call attempts? [y/N] ", len(chosen), len(all), what))
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.Errorf(cmdutil.ExitUsage, "nothing deleted")
		}
	}
	before := fileSize(path)
	p, err := j.Prune(ctx, chosen)
	if len(p.Runs) > 0 {
		fmt.Fprintf(opts.Env.IO.ErrOut, "Deleted %d run(s) and their %d call attempt(s)", len(p.Runs), p.Attempts)
		if err == nil {
			fmt.Fprintf(opts.Env.IO.ErrOut, "; %s went from %s to %s", path, bytesize.Approx(before), bytesize.Approx(fileSize(path)))
		}
		fmt.Fprintln(opts.Env.IO.ErrOut)
	}
	if kept := len(chosen) - len(p.Runs); err == nil && kept > 0 {
		fmt.Fprintf(opts.Env.IO.ErrOut, "kept %d run(s) that a resume took up meanwhile\n", kept)
	}
	return err
}

// describe says which runs the options pick, for messages.
func describe(opts *PruneOptions) string {
	s := strings.Join(opts.Statuses, "/") + " runs"
	if opts.OlderThan > 0 {
		s += " that started before " + opts.Now().Add(-opts.OlderThan).Local().Format("2006-01-02 15:04")
	}
	return s
}

// fileSize is the journal's size on disk with its write-ahead log.
func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
