package prompts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/call"
	"github.com/mediatorhq/mediator/orchestrator"
)

// GetOptions of `mediator prompt`.
type GetOptions struct {
	cmdutil.ServerDeps

	Server, Name string
	// Pairs are the -a key=value flags, in order; a prompt's arguments
	// are strings, taken as typed.
	Pairs []string
	JSON  bool
}

// NewCmdPrompt returns `mediator prompt SERVER NAME`.
func NewCmdPrompt(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{ServerDeps: cmdutil.NewServerDeps(f)}
	cmd := &cobra.Command{
		Use:   "prompt SERVER NAME [-a KEY=VALUE ...]",
		Short: "Get one prompt of one server through mediator",
		Long: `Gets the prompt NAME of SERVER with its arguments filled in, and prints its
messages. Mediator checks that the server's prompts filter allows the
prompt and that every argument it requires is given (and no other), gets
it with that server's own credential, and writes an audit record (method
prompts/get). Arguments are -a KEY=VALUE flags; a prompt's arguments are
strings, taken as typed. --json prints the raw MCP GetPromptResult.

Exit codes: 0 success; 2 refused before sending (usage, config, an unknown
server or prompt, a prompt not allowed, a missing or unknown argument); 3
the server could not be used. See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator prompt everything args-prompt -a city=Oslo
  mediator prompt everything simple-prompt --json`,
		Args: cmdutil.ExactArgs(2, "SERVER NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Name = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().StringArrayVarP(&opts.Pairs, "arg", "a", nil, "one argument as KEY=VALUE (repeatable)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the raw MCP GetPromptResult as JSON")
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	pairs, err := call.ParsePairs(opts.Pairs)
	if err != nil {
		return err
	}
	args := make(map[string]string, len(pairs))
	for _, p := range pairs {
		args[p.Key] = p.Raw
	}
	o, err := opts.Open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	// The arguments are checked against the listing before anything is
	// sent: a missing one otherwise comes back as the server's own error.
	ps, err := o.Prompts(ctx, opts.Server)
	if err != nil {
		return err
	}
	if err := checkArgs(opts.Server, opts.Name, ps, args); err != nil {
		return err
	}
	pm, getErr := o.GetPrompt(ctx, opts.Server, opts.Name, args, orchestrator.Provenance{})
	if pm == nil {
		return getErr
	}
	var out []byte
	if opts.JSON {
		if out, err = cmdutil.MarshalJSON(pm.GetPromptResult); err != nil {
			return fmt.Errorf("encoding the prompt: %w", err)
		}
	} else {
		out = renderMessages(pm.GetPromptResult)
	}
	if err := cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out); err != nil {
		return err
	}
	if getErr != nil {
		return getErr
	}
	return o.SyncAudit(ctx)
}

// checkArgs refuses a prompt the server does not list, a missing required
// argument and an argument the prompt does not take, naming what would be
// valid.
func checkArgs(server, name string, ps []orchestrator.PromptInfo, args map[string]string) error {
	i := slices.IndexFunc(ps, func(p orchestrator.PromptInfo) bool { return p.Prompt.Name == name })
	if i < 0 {
		names := make([]string, 0, len(ps))
		for _, p := range ps {
			names = append(names, p.Prompt.Name)
		}
		return cmdutil.UsageErrorf("server %q has no prompt %q; its prompts: %s (see `mediator prompts %s`)", server, name, orNone(names), server)
	}
	var known, missing []string
	for _, a := range ps[i].Prompt.Arguments {
		if a == nil {
			continue
		}
		known = append(known, a.Name)
		if _, ok := args[a.Name]; a.Required && !ok {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return cmdutil.UsageErrorf("prompt %q of server %q requires %s; give each with -a KEY=VALUE, e.g. -a %s=...", name, server, strings.Join(missing, ", "), missing[0])
	}
	for k := range args {
		if !slices.Contains(known, k) {
			return cmdutil.UsageErrorf("-a %s: prompt %q of server %q takes no argument %q; its arguments: %s", k, name, server, k, orNone(known))
		}
	}
	return nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// renderMessages prints each message as its role, then its content: text
// as text, anything else summarized.
func renderMessages(res *mcp.GetPromptResult) []byte {
	var buf bytes.Buffer
	if res.Description != "" {
		fmt.Fprintf(&buf, "# %s\n\n", res.Description)
	}
	for i, m := range res.Messages {
		if m == nil {
			continue
		}
		if i > 0 {
			buf.WriteByte('\n')
		}
		fmt.Fprintf(&buf, "%s:\n", m.Role)
		switch c := m.Content.(type) {
		case *mcp.TextContent:
			buf.WriteString(c.Text)
			if c.Text == "" || c.Text[len(c.Text)-1] != '\n' {
				buf.WriteByte('\n')
			}
		case *mcp.ImageContent:
			fmt.Fprintf(&buf, "[image: %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.AudioContent:
			fmt.Fprintf(&buf, "[audio: %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Blob == nil {
				fmt.Fprintf(&buf, "[resource %s]\n%s\n", c.Resource.URI, c.Resource.Text)
			} else if c.Resource != nil {
				fmt.Fprintf(&buf, "[resource %s: %s, %d bytes]\n", c.Resource.URI, c.Resource.MIMEType, len(c.Resource.Blob))
			}
		case *mcp.ResourceLink:
			fmt.Fprintf(&buf, "[resource link: %s]\n", c.URI)
		default:
			b, _ := json.Marshal(c)
			fmt.Fprintf(&buf, "[content %s]\n", cmdutil.OneLine(string(b), 80))
		}
	}
	return buf.Bytes()
}
