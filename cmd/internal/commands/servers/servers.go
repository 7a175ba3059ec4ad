// Package servers implements `mediator servers`: the configured servers
// with their live state, and `servers import` of mcpServers JSON files.
package servers

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
)

// ListOptions of `mediator servers`.
type ListOptions struct {
	cmdutil.ListingDeps
	JSON bool
}

// NewCmdServers returns `mediator servers`, which lists, and its verbs.
func NewCmdServers(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{ListingDeps: cmdutil.NewListingDeps(f)}
	run := func(cmd *cobra.Command, _ []string) error {
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return listRun(cmd.Context(), opts)
	}
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the configured servers, connecting to each to show its state",
		Long: `Connects to every configured server at once and shows its transport,
endpoint, state (ready, failed, auth-required) and number of tools, with the
reason when it is not ready. A server whose entry in the config has a
problem (an unset ${VAR}, a secret written inline) is not connected to: it
shows as invalid-config with its problems, and the other servers are
listed as usual.

Exits 2 if any server's entry has a problem, else 3 if any server is not
ready (see ` + "`mediator help exit-codes`" + `).`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")

	list := &cobra.Command{Use: "list", Short: cmd.Short, Long: cmd.Long, Args: cobra.NoArgs, RunE: run}
	list.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.AddCommand(list, NewCmdImport(f, nil))
	return cmd
}

type serverRow struct {
	Name            string    `json:"name"`
	Transport       string    `json:"transport"`
	Endpoint        string    `json:"endpoint"`
	State           string    `json:"state"`
	Since           time.Time `json:"since,omitzero"`
	Tools           int       `json:"tools"`
	Error           string    `json:"error,omitempty"`
	ToolsError      string    `json:"tools_error,omitempty"`
	ServerName      string    `json:"server_name,omitempty"`
	ServerVersion   string    `json:"server_version,omitempty"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	Sandbox         *sandbox  `json:"sandbox,omitempty"`
	// Problems are those of the server's entry in the config, for state
	// invalid-config, each as FILE:LINE:COL: FIELD: PROBLEM.
	Problems []string `json:"problems,omitempty"`
}

// stateInvalidConfig is the state of a server whose entry has problems,
// which is never connected to.
const stateInvalidConfig = "invalid-config"

// sandbox is how a stdio server runs: confined, or why not.
type sandbox struct {
	Confined bool   `json:"confined"`
	Mode     string `json:"mode"`
	Detail   string `json:"detail,omitempty"`
	Warning  string `json:"warning,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	opts.NoConfigHint(cfg)
	o, err := opts.OpenLister(ctx, cfg)
	if err != nil {
		return err
	}
	defer o.Close()
	o.Connect(ctx)

	var rows []serverRow
	notReady := 0
	for _, st := range o.Servers() {
		r := serverRow{Name: st.Name, Transport: st.Transport, Endpoint: st.Endpoint, State: string(st.State), Since: st.Since, Tools: st.Tools}
		if st.Err != nil {
			r.Error = st.Err.Error()
		}
		if st.ToolsErr != nil {
			r.ToolsError = st.ToolsErr.Error()
		}
		if st.ServerInfo != nil {
			r.ServerName, r.ServerVersion = st.ServerInfo.Name, st.ServerInfo.Version
		}
		r.ProtocolVersion = st.ProtocolVersion
		if sb := st.Sandbox; sb.Mode != "" {
			r.Sandbox = &sandbox{Confined: sb.Confined, Mode: sb.Mode, Detail: sb.Detail, Warning: sb.Warning}
		}
		if st.State != connectors.StateReady || st.ToolsErr != nil {
			notReady++
		}
		rows = append(rows, r)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	invalid := 0
	for i := range cfg.Servers {
		if s := &cfg.Servers[i]; s.Err() != nil {
			rows = append(rows, invalidRow(s))
			invalid++
		}
	}
	slices.SortFunc(rows, func(a, b serverRow) int { return strings.Compare(a.Name, b.Name) })

	var out []byte
	if opts.JSON {
		if rows == nil {
			rows = []serverRow{}
		}
		if out, err = cmdutil.MarshalJSON(rows); err != nil {
			return err
		}
	} else if len(rows) > 0 {
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTRANSPORT\tENDPOINT\tSANDBOX\tSTATE\tTOOLS\tREASON")
		for _, r := range rows {
			reason := r.Error
			if reason == "" {
				reason = r.ToolsError
			}
			sb := "-"
			if r.Sandbox != nil {
				sb = r.Sandbox.Mode
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Name, dash(r.Transport), dash(cmdutil.OneLine(r.Endpoint, 60)), sb, r.State, r.Tools, cmdutil.OneLine(reason, 0))
		}
		tw.Flush()
		out = buf.Bytes()
	}
	if err := cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Sandbox != nil && r.Sandbox.Warning != "" {
			fmt.Fprintf(opts.IO.ErrOut, "warning: server %s %s\n", r.Name, r.Sandbox.Warning)
		}
	}
	if len(rows) == 0 && cfg.Found && !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "%s configures no servers\n", cfg.Path)
	}
	switch {
	case invalid > 0:
		msg := fmt.Sprintf("%d of %d servers have problems in the config (`mediator config validate` lists them)", invalid, len(rows))
		if notReady > 0 {
			msg += fmt.Sprintf("; %d more are not ready", notReady)
		}
		return cmdutil.Errorf(cmdutil.ExitUsage, "%s", msg)
	case notReady > 0:
		return cmdutil.Errorf(cmdutil.ExitConnect, "%d of %d servers are not ready", notReady, len(rows))
	}
	return nil
}

// invalidRow shows a server whose entry has problems. Its endpoint is left
// out: the problem may be a secret in its URL or arguments.
func invalidRow(s *config.Server) serverRow {
	r := serverRow{Name: s.Name, State: stateInvalidConfig, Error: s.Problems[0].Field + ": " + s.Problems[0].Message}
	if n := len(s.Problems) - 1; n > 0 {
		r.Error += fmt.Sprintf(" (and %d more)", n)
	}
	for _, p := range s.Problems {
		r.Problems = append(r.Problems, p.String())
	}
	return r
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
