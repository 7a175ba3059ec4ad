// Package graph implements `mediator graph FLOW`: a flow's data-flow graph
// as Mermaid, Graphviz DOT or SVG.
package graph

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Options of `mediator graph`.
type Options struct {
	IO       *iostreams.IOStreams
	ReadFile func(string) ([]byte, error)
	// Config and Policy supply the config's policy.flows, so the note on
	// problems agrees with `mediator validate`.
	Config func() (*config.Config, error)
	Policy flowrun.PolicyFunc

	File   string
	Format string
}

var formats = []string{"mermaid", "dot", "svg"}

// NewCmdGraph returns `mediator graph FLOW`.
func NewCmdGraph(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, ReadFile: os.ReadFile, Config: f.Config, Policy: flowrun.NewEnv(f).Policy}
	cmd := &cobra.Command{
		Use:   "graph FLOW",
		Short: "Draw which data moves from which server to which in a flow",
		Long: `Prints a flow's data-flow graph: each step that calls a tool, grouped by
server; groups and parallel steps; and edges labelled with the fields that
move along them ("location → title": the location field of the upstream
result becomes the title argument). Edges that carry one server's data into
another server's call are drawn thick.

--format mermaid (the default) renders on GitHub and in most Markdown
viewers; --format dot is for Graphviz: mediator graph --format dot f.flow.yaml | dot -Tsvg > f.svg;
--format svg draws it without Graphviz, in lanes per server, as the daemon's
web page does.

The graph is drawn for any flow that parses; run mediator validate to check it.`,
		Example: `  mediator graph rain-reminders.flow.yaml
  mediator graph --format dot rain-reminders.flow.yaml | dot -Tsvg > flow.svg
  mediator graph --format svg rain-reminders.flow.yaml > flow.svg`,
		Args:              cmdutil.ExactArgs(1, "FLOW"),
		ValidArgsFunction: flowrun.CompleteFlowFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return graphRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "mermaid", "output format: mermaid, dot or svg")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func plural(n int) string {
	if n == 1 {
		return "problem"
	}
	return "problems"
}

func graphRun(ctx context.Context, opts *Options) error {
	if !slices.Contains(formats, opts.Format) {
		return cmdutil.UsageErrorf("--format %q: valid formats are mermaid, dot and svg", opts.Format)
	}
	data, err := opts.ReadFile(opts.File)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "reading the flow file: %v", err)
	}
	fl, err := flow.Parse(opts.File, data)
	if err != nil {
		if probs, ok := err.(flow.Problems); ok {
			for _, p := range probs {
				fmt.Fprintln(opts.IO.ErrOut, p)
			}
			fmt.Fprintf(opts.IO.ErrOut, "%s does not parse, so there is no graph; `mediator validate %s` lists every problem\n", opts.File, opts.File)
			return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: probs, Silent: true}
		}
		return err
	}
	// The graph needs no config; a config that does not load only loses
	// its policy.flows for the note below.
	var cfg *config.Config
	if opts.Config != nil {
		cfg, _ = opts.Config()
	}
	pol := flowrun.PolicyOf(flowrun.Env{Policy: opts.Policy}, cfg)
	if probs := flow.Validate(ctx, fl, flow.ValidateOptions{PolicyFlows: pol.Flows, ReadFile: opts.ReadFile}).Errors(); len(probs) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "note: %s has %d %s; `mediator validate %s` lists them\n", opts.File, len(probs), plural(len(probs)), opts.File)
	}
	g := flow.BuildGraph(fl)
	switch opts.Format {
	case "dot":
		return g.WriteDOT(opts.IO.Out)
	case "svg":
		return g.WriteSVG(opts.IO.Out, flow.SVGOptions{})
	}
	return g.WriteMermaid(opts.IO.Out)
}
