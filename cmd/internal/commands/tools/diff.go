package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/orchestrator"
)

// DiffOptions of `mediator tools diff`.
type DiffOptions struct {
	serverDeps
	Server string
	Tool   string
	JSON   bool
}

// NewCmdDiff returns `mediator tools diff SERVER [TOOL]`.
func NewCmdDiff(f *cmdutil.Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{serverDeps: newServerDeps(f)}
	cmd := &cobra.Command{
		Use:   "diff SERVER [TOOL]",
		Short: "Show how a server's tools differ from what you accepted",
		Long: `Lists the server's tools afresh and shows, as a unified diff of each
definition (name, title, description, input and output schema, annotations,
_meta, icons), what changed since you accepted them, which tools are new and
which are gone. With TOOL, only that tool.

The last line is the digest of exactly the changes shown. Nothing is
accepted here: "mediator tools accept SERVER [TOOL] --digest DIGEST" accepts
those changes and nothing else, and refuses if the server offers something
else by then. A tool pinned by a mediator that kept hashes only shows its
definition now, with nothing to compare it to.

Exit codes: 0 whether or not anything changed (the diff says), 2 usage or
config error, 3 the server could not be used (see ` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator tools diff weather
  mediator tools diff weather get_forecast
  mediator tools diff weather --json | jq -r .digest`,
		Args: cmdutil.RangeArgs(1, 2, "SERVER [TOOL]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if len(args) == 2 {
				opts.Tool = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return diffRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the review as JSON: server, tool, digest, and the changes (tool, change, digest, before, after)")
	return cmd
}

func diffRun(ctx context.Context, opts *DiffOptions) error {
	o, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	r, err := o.ReviewTools(ctx, opts.Server, opts.Tool)
	if err != nil {
		return err
	}
	if opts.JSON {
		return opts.writeJSON(r)
	}
	if len(r.Changes) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, unchanged(r))
		return nil
	}
	if err := opts.writeReview(r); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "%d change(s); accept exactly these with `%s`\n", len(r.Changes), acceptCommand(r))
	return nil
}

// writeReview prints a review as tools diff shows it: each change as a
// unified diff, then the digest of them all.
func (d serverDeps) writeReview(r *orchestrator.Review) error {
	var b strings.Builder
	for _, c := range r.Changes {
		b.WriteString(c.Unified(r.Server))
	}
	fmt.Fprintf(&b, "digest %s\n", r.Digest)
	return cmdutil.WriteRedacted(d.IO.Out, d.Redactor(), []byte(b.String()))
}

func (d serverDeps) writeJSON(r *orchestrator.Review) error {
	out, err := cmdutil.MarshalJSON(r)
	if err != nil {
		return fmt.Errorf("encoding the review: %w", err)
	}
	return cmdutil.WriteRedacted(d.IO.Out, d.Redactor(), out)
}

// acceptCommand accepts exactly what r shows.
func acceptCommand(r *orchestrator.Review) string {
	cmd := "mediator tools accept " + r.Server
	if r.Tool != "" {
		cmd += " " + r.Tool
	}
	return cmd + " --digest " + r.Digest
}

// unchanged says that a review found nothing to accept.
func unchanged(r *orchestrator.Review) string {
	if r.Tool != "" {
		return what(r) + " is as you accepted it"
	}
	return "The tools of " + r.Server + " are as you accepted them"
}
