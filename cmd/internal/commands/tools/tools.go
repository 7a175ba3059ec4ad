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
type ListOptions = cmdutil.ListOptions

// NewCmdTools returns `mediator tools [SERVER]` and its verbs.
func NewCmdTools(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	cmd := cmdutil.NewCmdList(f, "tools [SERVER]", "List the tools of one server or of all, with filter and pin state",
		`Lists each tool by its qualified name (server.tool), whether the server's
tools filter allows it, and its pin state: pinned (as accepted), new, or
changed (its definition changed since it was accepted; calls are refused
until you accept it). "mediator tools diff SERVER [TOOL]" shows what changed
and "mediator tools accept SERVER [TOOL] --digest DIGEST" accepts exactly
that. A server offering more tools than its max_tools setting (default
1000) has its tool list refused.

Exits 2 for an unknown server, 3 when a server's tools could not be
listed (see `+"`mediator help exit-codes`"+`).`, runF, listRun)
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
	var infos []orchestrator.ToolInfo
	return cmdutil.ListEach(ctx, opts, cmdutil.Listing{What: "tools",
		ListWarm: func(ctx context.Context, o cmdutil.Caller) error {
			var err error
			infos, err = o.Tools(ctx, opts.Server)
			return err
		},
		Render: func(out *bytes.Buffer) (string, error) {
			rows := make([]toolRow, 0, len(infos))
			for _, ti := range infos {
				r := toolRow{Server: ti.Server, Name: ti.Name, Qualified: ti.Qualified, LLMName: ti.LLMName, Allowed: ti.Allowed, Pin: ti.Pin}
				if ti.Tool != nil {
					r.Title, r.Description, r.InputSchema = ti.Tool.Title, ti.Tool.Description, ti.Tool.InputSchema
					r.OutputSchema, r.Annotations = ti.Tool.OutputSchema, ti.Tool.Annotations
				}
				rows = append(rows, r)
			}
			if opts.JSON {
				b, err := cmdutil.MarshalJSON(rows)
				out.Write(b)
				return "", err
			}
			if len(rows) > 0 {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TOOL\tALLOWED\tPIN\tDESCRIPTION")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Qualified, cmdutil.YesNo(r.Allowed), r.Pin, cmdutil.OneLine(r.Description, 80))
				}
				if err := tw.Flush(); err != nil {
					return "", err
				}
			}
			if changed := countPin(rows, orchestrator.PinChanged); changed > 0 {
				return fmt.Sprintf("%d tool(s) changed since they were accepted; calls to them are refused until you review them with `mediator tools diff SERVER` and accept them with `mediator tools accept SERVER`", changed), nil
			}
			return "", nil
		}})
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
