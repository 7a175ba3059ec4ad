// Package resources implements `mediator resources [SERVER]`, the
// resources and resource templates servers offer, and `mediator read
// SERVER URI`, one mediated resource read.
package resources

import (
	"bytes"
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListOptions of `mediator resources`.
type ListOptions = cmdutil.ListOptions

// NewCmdResources returns `mediator resources [SERVER]`.
func NewCmdResources(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	return cmdutil.NewCmdList(f, "resources [SERVER]", "List the resources and resource templates of one server or of all",
		`Lists each resource by server and URI, whether the server's resources
filter allows reading it, and its name and description; then the resource
templates (URIs with {placeholders}), whose URIs the filter judges when one
is read. Read one with "mediator read SERVER URI".

Exits 2 for an unknown server, 3 when a server's resources could not be
listed (see `+"`mediator help exit-codes`"+`).`, runF, listRun)
}

type resourceRow struct {
	Server      string `json:"server"`
	URI         string `json:"uri"`
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	MIMEType    string `json:"mime_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Allowed     bool   `json:"allowed"`
}

type templateRow struct {
	Server      string `json:"server"`
	URITemplate string `json:"uri_template"`
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	MIMEType    string `json:"mime_type,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	var (
		rs []orchestrator.ResourceInfo
		ts []orchestrator.ResourceTemplateInfo
	)
	return cmdutil.ListEach(ctx, opts, cmdutil.Listing{What: "resources",
		List: func(ctx context.Context, o *orchestrator.Orchestrator) error {
			var err error
			rs, ts, err = o.Resources(ctx, opts.Server)
			return err
		},
		Render: func(out *bytes.Buffer) (string, error) {
			resources := make([]resourceRow, 0, len(rs))
			for _, r := range rs {
				resources = append(resources, resourceRow{Server: r.Server, URI: r.Resource.URI, Name: r.Resource.Name, Title: r.Resource.Title,
					Description: r.Resource.Description, MIMEType: r.Resource.MIMEType, Size: r.Resource.Size, Allowed: r.Allowed})
			}
			templates := make([]templateRow, 0, len(ts))
			for _, t := range ts {
				templates = append(templates, templateRow{Server: t.Server, URITemplate: t.Template.URITemplate, Name: t.Template.Name, Title: t.Template.Title,
					Description: t.Template.Description, MIMEType: t.Template.MIMEType})
			}
			if opts.JSON {
				b, err := cmdutil.MarshalJSON(struct {
					Resources []resourceRow `json:"resources"`
					Templates []templateRow `json:"templates"`
				}{resources, templates})
				out.Write(b)
				return "", err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if len(resources) > 0 {
				fmt.Fprintln(tw, "SERVER\tURI\tALLOWED\tNAME\tDESCRIPTION")
				for _, r := range resources {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Server, cmdutil.OneLine(r.URI, 80), cmdutil.YesNo(r.Allowed),
						cmdutil.OneLine(r.Name, 40), cmdutil.OneLine(r.Description, 60))
				}
			}
			if len(templates) > 0 {
				if len(resources) > 0 {
					fmt.Fprintln(tw)
				}
				fmt.Fprintln(tw, "SERVER\tTEMPLATE\tNAME\tDESCRIPTION")
				for _, t := range templates {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Server, cmdutil.OneLine(t.URITemplate, 80), cmdutil.OneLine(t.Name, 40), cmdutil.OneLine(t.Description, 60))
				}
			}
			return "", tw.Flush()
		}})
}
