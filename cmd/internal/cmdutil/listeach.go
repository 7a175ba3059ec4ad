package cmdutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListOptions are the options of a listing command (`tools`, `skills`,
// `prompts`, `resources`): one server or all, as a table or as JSON.
type ListOptions struct {
	ListingDeps
	Server string
	JSON   bool
}

// NewCmdList returns the listing command use ("tools [SERVER]") with its
// help and --json flag. It runs runF when set (a test's hook), else run.
func NewCmdList(f *Factory, use, short, long string, runF, run func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{ListingDeps: NewListingDeps(f)}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  MaxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
		ValidArgsFunction: CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// Listing is what a listing command lists and how it prints it.
type Listing struct {
	What string // "tools", as in "some servers' tools are not listed"
	// List lists opts.Server's entries, or every connected server's; its
	// error is the listing's.
	List func(context.Context, *orchestrator.Orchestrator) error
	// ListWarm, when set, is List for a listing the daemon running for
	// the config can answer: it gets the daemon's orchestrator when one
	// runs, else the CLI's own, and List is not used.
	ListWarm func(context.Context, Caller) error
	// Render writes what List found (a table or JSON) to out, and returns
	// a note for stderr printed after it, or "".
	Render func(out *bytes.Buffer) (note string, err error)
}

// ListEach runs a listing command: it connects opts.Server (or every
// configured server when it is ""), runs l.List, and writes what
// l.Render makes of it to stdout with secrets masked. With one server
// named, a failed listing is the error. With all, the other servers'
// entries are printed all the same, and the error (exit codes as
// Unlisted says) names what could not be listed.
func ListEach(ctx context.Context, opts *ListOptions, l Listing) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	var names []string
	if opts.Server != "" {
		if _, err := CheckServer(cfg, opts.Server); err != nil {
			return err
		}
		names = []string{opts.Server}
	} else {
		opts.NoConfigHint(cfg)
	}
	var o Lister
	if l.ListWarm != nil {
		o, err = opts.OpenLister(ctx, cfg, names...)
	} else {
		o, err = opts.Orchestrator(ctx, cfg, names...)
	}
	if err != nil {
		return err
	}
	defer o.Close()
	o.Connect(ctx, names...)
	var listErr error
	if l.ListWarm != nil {
		listErr = l.ListWarm(ctx, o)
	} else {
		listErr = l.List(ctx, o.(*orchestrator.Orchestrator))
	}
	if listErr != nil && opts.Server != "" {
		return listErr
	}
	var out bytes.Buffer
	note, err := l.Render(&out)
	if err != nil {
		return err
	}
	if err := WriteRedacted(opts.IO.Out, opts.Redactor(), out.Bytes()); err != nil {
		return err
	}
	if note != "" {
		io.WriteString(opts.IO.ErrOut, strings.TrimSuffix(note, "\n")+"\n")
	}
	return Unlisted(cfg, o, opts.Server == "", listErr, l.What)
}

// Unlisted is the error of a listing command after it printed what it
// could: what servers' entries could not be listed, and why. With all
// (no server named), servers whose config entries have problems exit 2,
// servers that are not connected 3; listErr (the listing's own error)
// exits with its code unless something else set one first. nil when
// everything was listed.
func Unlisted(cfg *config.Config, o Lister, all bool, listErr error, what string) error {
	var unlisted []error
	code := ExitOK
	add := func(err error, c int) {
		unlisted = append(unlisted, err)
		if code == ExitOK {
			code = c
		}
	}
	if all {
		for i := range cfg.Servers {
			if err := cfg.Servers[i].Err(); err != nil {
				add(err, ExitUsage)
			}
		}
		// The listing covers the servers that connected; the others say why not.
		for _, st := range o.Servers() {
			if st.State != connectors.StateReady {
				reason := errors.New(string(st.State))
				if st.Err != nil {
					reason = st.Err
				}
				add(reason, ExitConnect)
			}
		}
	}
	if listErr != nil {
		add(listErr, ExitCode(listErr))
	}
	if len(unlisted) == 0 {
		return nil
	}
	return &ExitError{Code: code, Err: fmt.Errorf("some servers' %s are not listed:\n%w", what, errors.Join(unlisted...))}
}

// YesNo is "yes" or "no", for a table's cell.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
