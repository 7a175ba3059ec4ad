package tools

import (
	"context"
	"fmt"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// DiffOptions of `mediator tools diff`.
type DiffOptions struct {
	serverDeps
	// Redactor is read after the orchestrator opened the keyring.
	Redactor func() *credentials.Redactor
	Server   string
	JSON     bool
}

// NewCmdDiff returns `mediator tools diff SERVER`.
func NewCmdDiff(f *cmdutil.Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{serverDeps: newServerDeps(f), Redactor: func() *credentials.Redactor { return f.Redactor }}
	cmd := &cobra.Command{
		Use:   "diff SERVER",
		Short: "Show how a server's tools differ from what you accepted",
		Long: `Lists the server's tools afresh and shows, as a unified diff of each
definition (name, description, input and output schema, annotations), what
changed since you accepted them, which tools are new and which are gone.
Nothing is accepted: run "mediator tools accept SERVER" when the changes are
ones you trust. A tool pinned by a mediator that kept hashes only shows its
definition now, with nothing to compare it to.

Exit codes: 0 whether or not anything changed (the diff says), 2 usage or
config error, 3 connection or authentication failure.`,
		Example: `  mediator tools diff weather
  mediator tools diff weather --json`,
		Args: cmdutil.ExactArgs(1, "SERVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return diffRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the changes as JSON: tool, change, before, after")
	return cmd
}

func diffRun(ctx context.Context, opts *DiffOptions) error {
	o, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	changes, err := o.ToolChanges(ctx, opts.Server)
	if err != nil {
		return err
	}
	red := opts.Redactor()
	if opts.JSON {
		if changes == nil {
			changes = []orchestrator.ToolChange{}
		}
		out, err := cmdutil.MarshalJSON(changes)
		if err != nil {
			return fmt.Errorf("encoding the changes: %w", err)
		}
		return cmdutil.WriteRedacted(opts.IO.Out, red, out)
	}
	if len(changes) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "The tools of %s are as you accepted them\n", opts.Server)
		return nil
	}
	for _, c := range changes {
		if err := cmdutil.WriteRedacted(opts.IO.Out, red, []byte(renderChange(opts.Server, c))); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "%d change(s); accept them with `mediator tools accept %s`\n", len(changes), opts.Server)
	return nil
}

// renderChange is one change as a unified diff of the definitions, with a
// header naming the tool and what happened to it.
func renderChange(server string, c orchestrator.ToolChange) string {
	name := orchestrator.QualifiedName(server, c.Tool)
	before, after := string(c.Before), string(c.After)
	if before != "" {
		before += "\n"
	}
	if after != "" {
		after += "\n"
	}
	head := fmt.Sprintf("%s: %s\n", name, c.Change)
	if c.Change == orchestrator.PinChanged && before == "" {
		head = fmt.Sprintf("%s: changed (the accepted definition was not kept: shown as it is now)\n", name)
	}
	return head + udiff.Unified(name+" (accepted)", name+" (now)", before, after) + "\n"
}
