// Package tools implements `mediator tools`: the tool catalogue with
// qualified names, filter and pin state; `tools diff` to review changes
// and `tools accept` to pin exactly what was reviewed.
package tools

import (
	"bytes"
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListOptions of `mediator tools`.
type ListOptions struct {
	cmdutil.ListingDeps
	Server string
	JSON   bool
}

// NewCmdTools returns `mediator tools [SERVER]` and its verbs.
func NewCmdTools(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{ListingDeps: cmdutil.NewListingDeps(f)}
	cmd := &cobra.Command{
		Use:   "tools [SERVER]",
		Short: "List the tools of one server or of all, with filter and pin state",
		Long: `Lists each tool by its qualified name (server.tool), whether the server's
tools filter allows it, and its pin state: pinned (as accepted), new, or
changed (its definition changed since it was accepted; calls are refused
until you accept it). "mediator tools diff SERVER [TOOL]" shows what changed
and "mediator tools accept SERVER [TOOL] --digest DIGEST" accepts exactly
that. A server offering more tools than its max_tools setting (default
1000) has its tool list refused.

Exits 2 for an unknown server, 3 when a server's tools could not be
listed (see ` + "`mediator help exit-codes`" + `).`,
		Args: cmdutil.MaxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.AddCommand(NewCmdAccept(f, nil), NewCmdDiff(f, nil))
	return cmd
}

type toolRow struct {
	Server      string `json:"server"`
	Name        string `json:"name"`
	Qualified   string `json:"qualified"`
	LLMName     string `json:"llm_name"`
	Allowed     bool   `json:"allowed"`
	Pin         string `json:"pin"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	InputSchema any    `json:"input_schema,omitempty"`
	// OutputSchema and Annotations are what scripts and flows decide by:
	// a retry is safe on a tool annotated readOnlyHint or idempotentHint.
	OutputSchema any                  `json:"output_schema,omitempty"`
	Annotations  *mcp.ToolAnnotations `json:"annotations,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	var names []string
	if opts.Server != "" {
		if _, err := cmdutil.CheckServer(cfg, opts.Server); err != nil {
			return err
		}
		names = []string{opts.Server}
	} else {
		opts.NoConfigHint(cfg)
	}
	o, err := opts.Orchestrator(ctx, cfg, names...)
	if err != nil {
		return err
	}
	defer o.Close()
	o.Connect(ctx, names...)
	infos, listErr := o.Tools(ctx, opts.Server)
	if listErr != nil && opts.Server != "" {
		return listErr
	}

	rows := make([]toolRow, 0, len(infos))
	for _, ti := range infos {
		r := toolRow{Server: ti.Server, Name: ti.Name, Qualified: ti.Qualified, LLMName: ti.LLMName, Allowed: ti.Allowed, Pin: ti.Pin}
		if ti.Tool != nil {
			r.Title, r.Description, r.InputSchema = ti.Tool.Title, ti.Tool.Description, ti.Tool.InputSchema
			r.OutputSchema, r.Annotations = ti.Tool.OutputSchema, ti.Tool.Annotations
		}
		rows = append(rows, r)
	}
	var out []byte
	if opts.JSON {
		if out, err = cmdutil.MarshalJSON(rows); err != nil {
			return err
		}
	} else if len(rows) > 0 {
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOOL\tALLOWED\tPIN\tDESCRIPTION")
		for _, r := range rows {
			allowed := "yes"
			if !r.Allowed {
				allowed = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Qualified, allowed, r.Pin, cmdutil.OneLine(r.Description, 80))
		}
		tw.Flush()
		out = buf.Bytes()
	}
	if err := cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out); err != nil {
		return err
	}
	if changed := countPin(rows, orchestrator.PinChanged); changed > 0 && !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "%d tool(s) changed since they were accepted; calls to them are refused until you review them with `mediator tools diff SERVER` and accept them with `mediator tools accept SERVER`\n", changed)
	}
	// Other servers' tools are listed; these could not be: servers whose
	// entries have problems (never connected to, exit 2), and servers
	// that failed (exit 3) or whose tool list was refused.
	return cmdutil.Unlisted(cfg, o, opts.Server == "", listErr, "tools")
}

func countPin(rows []toolRow, pin string) int {
	n := 0
	for _, r := range rows {
		if r.Pin == pin {
			n++
		}
	}
	return n
}
