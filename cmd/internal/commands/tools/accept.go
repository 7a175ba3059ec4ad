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

// AcceptOptions of `mediator tools accept`.
type AcceptOptions struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	Server       string
}

// NewCmdAccept returns `mediator tools accept SERVER`.
func NewCmdAccept(f *cmdutil.Factory, runF func(context.Context, *AcceptOptions) error) *cobra.Command {
	opts := &AcceptOptions{IO: f.IOStreams, Config: f.Config, Orchestrator: f.Orchestrator}
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
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if _, err := cmdutil.CheckServer(cfg, opts.Server); err != nil {
		return err
	}
	o, err := opts.Orchestrator(ctx, cfg, opts.Server)
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
