// Package prompts implements `mediator prompts [SERVER]`, the prompts
// servers offer, and `mediator prompt SERVER NAME`, one mediated prompt.
package prompts

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListOptions of `mediator prompts`.
type ListOptions = cmdutil.ListOptions

// NewCmdPrompts returns `mediator prompts [SERVER]`.
func NewCmdPrompts(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	return cmdutil.NewCmdList(f, "prompts [SERVER]", "List the prompts of one server or of all",
		`Lists each prompt by server and name, whether the server's prompts filter
allows getting it, its arguments (required ones marked *) and description.
Get one with "mediator prompt SERVER NAME -a KEY=VALUE".

Exits 2 for an unknown server, 3 when a server's prompts could not be
listed (see `+"`mediator help exit-codes`"+`).`, runF, listRun)
}

type promptRow struct {
	Server      string        `json:"server"`
	Name        string        `json:"name"`
	Title       string        `json:"title,omitempty"`
	Description string        `json:"description,omitempty"`
	Arguments   []argumentRow `json:"arguments"`
	Allowed     bool          `json:"allowed"`
}

type argumentRow struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	var ps []orchestrator.PromptInfo
	return cmdutil.ListEach(ctx, opts, cmdutil.Listing{What: "prompts",
		List: func(ctx context.Context, o *orchestrator.Orchestrator) error {
			var err error
			ps, err = o.Prompts(ctx, opts.Server)
			return err
		},
		Render: func(out *bytes.Buffer) (string, error) {
			rows := make([]promptRow, 0, len(ps))
			for _, p := range ps {
				r := promptRow{Server: p.Server, Name: p.Prompt.Name, Title: p.Prompt.Title, Description: p.Prompt.Description, Allowed: p.Allowed, Arguments: []argumentRow{}}
				for _, a := range p.Prompt.Arguments {
					if a != nil {
						r.Arguments = append(r.Arguments, argumentRow{Name: a.Name, Description: a.Description, Required: a.Required})
					}
				}
				rows = append(rows, r)
			}
			if opts.JSON {
				b, err := cmdutil.MarshalJSON(rows)
				out.Write(b)
				return "", err
			}
			if len(rows) == 0 {
				return "", nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tPROMPT\tALLOWED\tARGUMENTS\tDESCRIPTION")
			for _, r := range rows {
				var args []string
				for _, a := range r.Arguments {
					n := a.Name
					if a.Required {
						n += "*"
					}
					args = append(args, n)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Server, cmdutil.OneLine(r.Name, 40), cmdutil.YesNo(r.Allowed),
					cmdutil.OneLine(strings.Join(args, ", "), 40), cmdutil.OneLine(r.Description, 60))
			}
			return "", tw.Flush()
		}})
}
