package tools

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/orchestrator"
)

// serverDeps are what the verbs on one server's tools (accept, diff) take
// from the Factory.
type serverDeps struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
}

func newServerDeps(f *cmdutil.Factory) serverDeps {
	return serverDeps{IO: f.IOStreams, Config: f.Config, Orchestrator: f.Orchestrator}
}

// open checks that server is configured and opens an orchestrator over it
// alone; the caller closes it.
func (d serverDeps) open(ctx context.Context, server string) (*orchestrator.Orchestrator, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	if _, err := cmdutil.CheckServer(cfg, server); err != nil {
		return nil, err
	}
	return d.Orchestrator(ctx, cfg, server)
}

// AcceptOptions of `mediator tools accept`.
type AcceptOptions struct {
	serverDeps
	Server string
}

// NewCmdAccept returns `mediator tools accept SERVER`.
func NewCmdAccept(f *cmdutil.Factory, runF func(context.Context, *AcceptOptions) error) *cobra.Command {
	opts := &AcceptOptions{serverDeps: newServerDeps(f)}
	return &cobra.Command{
		Use:   "accept SERVER",
		Short: "Accept a server's current tool definitions (re-pin them)",
		Long: `Mediator remembers a hash of each tool's definition. When a server
changes a tool's description or schema, calls to it are refused until you
have looked at the change ("mediator tools diff SERVER") and accepted it
here. Prints what changed against the previous pins.`,
		Args: cmdutil.ExactArgs(1, "SERVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return acceptRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
}

func acceptRun(ctx context.Context, opts *AcceptOptions) error {
	o, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	changes, err := o.AcceptTools(ctx, opts.Server)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "The tools of %s are unchanged; nothing to accept\n", opts.Server)
		return nil
	}
	for _, c := range changes {
		fmt.Fprintln(opts.IO.Out, c)
	}
	fmt.Fprintf(opts.IO.ErrOut, "Accepted %d change(s) to the tools of %s\n", len(changes), opts.Server)
	return nil
}
