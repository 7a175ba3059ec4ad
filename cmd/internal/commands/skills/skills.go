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
)

// ListOptions of `mediator skills`.
type ListOptions struct {
	cmdutil.ListingDeps
	Server string
	JSON   bool
}

// NewCmdSkills returns `mediator skills [SERVER]`.
func NewCmdSkills(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{ListingDeps: cmdutil.NewListingDeps(f)}
	cmd := &cobra.Command{
		Use:   "skills [SERVER]",
		Short: "List the skills servers offer",
		Long: `Lists the skills of one server, or of every server that offers skills (the
io.modelcontextprotocol/skills extension): each by its server, name and
SKILL.md URI. A skill is known by its server and URI, so two servers'
skills of the same name are both listed. Listing reads none of a skill's
files; "mediator skill SERVER NAME" loads one. A skill mediator would
refuse to load (a bad name or URI, over 512 files or 16 MiB, files
declared "dynamic" and so unverifiable) is listed with the reason.

Exits 2 for an unknown server or one that offers no skills, 3 when a
server's skills could not be listed (see ` + "`mediator help exit-codes`" + `).`,
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
	return cmd
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
	infos, listErr := o.Skills(ctx, opts.Server)
	if listErr != nil && opts.Server != "" {
		return listErr
	}
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
	var out []byte
	if opts.JSON {
		if out, err = cmdutil.MarshalJSON(rows); err != nil {
			return err
		}
	} else if len(rows) > 0 {
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVER\tSKILL\tFILES\tDESCRIPTION")
		for _, r := range rows {
			files, desc := fmt.Sprint(len(r.Files)), r.Description
			if !r.Loadable {
				files, desc = "refused", r.Problem
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Server, cmdutil.OneLine(r.Name, 64), files, cmdutil.OneLine(desc, 80))
		}
		tw.Flush()
		out = buf.Bytes()
	} else if opts.Server != "" {
		fmt.Fprintf(opts.IO.ErrOut, "server %q lists no skills\n", opts.Server)
	} else if listErr == nil {
		fmt.Fprintln(opts.IO.ErrOut, "no connected server offers skills")
	}
	if err := cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out); err != nil {
		return err
	}
	return cmdutil.Unlisted(cfg, o, opts.Server == "", listErr, "skills")
}
