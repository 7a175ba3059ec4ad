// Package skills implements `mediator skills`, the skills servers offer
// (the io.modelcontextprotocol/skills extension), and `mediator skill`,
// which loads one and prints its SKILL.md once it matches the server's
// own listing.
package skills

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListOptions of `mediator skills`.
type ListOptions = cmdutil.ListOptions

// NewCmdSkills returns `mediator skills [SERVER]`.
func NewCmdSkills(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	return cmdutil.NewCmdList(f, "skills [SERVER]", "List the skills servers offer",
		`Lists the skills of one server, or of every server that offers skills (the
io.modelcontextprotocol/skills extension): each by its server, name and
SKILL.md URI. A skill is known by its server and URI, so two servers'
skills of the same name are both listed. Listing reads none of a skill's
files; "mediator skill SERVER NAME" loads one. A skill mediator would
refuse to load (a bad name or URI, over 512 files or 16 MiB, files
declared "dynamic" and so unverifiable) is listed with the reason.

Exits 2 for an unknown server or one that offers no skills, 3 when a
server's skills could not be listed (see `+"`mediator help exit-codes`"+`).`, runF, listRun)
}

type skillRow struct {
	Server      string                 `json:"server"`
	Name        string                 `json:"name"`
	URI         string                 `json:"uri"`
	Description string                 `json:"description,omitempty"`
	Frontmatter map[string]any         `json:"frontmatter"`
	Files       []connectors.SkillFile `json:"files,omitempty"`
	Dynamic     bool                   `json:"dynamic,omitempty"`
	Loadable    bool                   `json:"loadable"`
	Problem     string                 `json:"problem,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	var (
		infos   []orchestrator.SkillInfo
		listErr error
	)
	return cmdutil.ListEach(ctx, opts, cmdutil.Listing{What: "skills",
		List: func(ctx context.Context, o *orchestrator.Orchestrator) error {
			infos, listErr = o.Skills(ctx, opts.Server)
			return listErr
		},
		Render: func(out *bytes.Buffer) (string, error) {
			rows := make([]skillRow, 0, len(infos))
			for _, si := range infos {
				e := si.Entry
				r := skillRow{Server: si.Server, Name: e.Name(), URI: e.URI, Description: e.Description(),
					Frontmatter: e.Frontmatter, Dynamic: e.Dynamic(), Loadable: si.Problem == nil}
				var se *connectors.SkillError
				switch {
				case errors.As(si.Problem, &se):
					r.Problem = se.Reason
				case si.Problem != nil:
					r.Problem = si.Problem.Error()
				default:
					r.Files, _ = e.Check()
				}
				rows = append(rows, r)
			}
			switch {
			case opts.JSON:
				b, err := cmdutil.MarshalJSON(rows)
				out.Write(b)
				return "", err
			case len(rows) > 0:
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVER\tSKILL\tFILES\tDESCRIPTION")
				for _, r := range rows {
					files, desc := fmt.Sprint(len(r.Files)), r.Description
					if !r.Loadable {
						files, desc = "refused", r.Problem
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Server, cmdutil.OneLine(r.Name, 64), files, cmdutil.OneLine(desc, 80))
				}
				return "", tw.Flush()
			case opts.Server != "":
				return fmt.Sprintf("server %q lists no skills", opts.Server), nil
			case listErr == nil:
				return "no connected server offers skills", nil
			}
			return "", nil
		}})
}
