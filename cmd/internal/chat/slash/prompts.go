package slash

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

// promptCommand is the command that gets a server's prompt.
func promptCommand(server, prompt string) string { return "/" + server + ":" + prompt }

// promptArgs is a prompt's arguments as /help shows them: name=… for a
// required one, [name=…] for the others.
func promptArgs(p *mcp.Prompt) string {
	var parts []string
	for _, a := range p.Arguments {
		if a == nil {
			continue
		}
		if a.Required {
			parts = append(parts, a.Name+"=…")
		} else {
			parts = append(parts, "["+a.Name+"=…]")
		}
	}
	return strings.Join(parts, " ")
}

// contextProvenance is what the model's context holds: none in direct
// mode.
func (c *Commands) contextProvenance() orchestrator.Provenance {
	if c.env.Session == nil {
		return orchestrator.Provenance{}
	}
	return c.env.Session.Provenance()
}

// flowContext is ctx under the session's standing with the data-flow
// policy: its flows (--allow-flow) and approvals, which an approval given
// here joins, and the FlowApprover.
func (c *Commands) flowContext(ctx context.Context) context.Context {
	if c.env.Session != nil {
		return orchestrator.WithSession(ctx, c.env.Session.FlowSession(c.env.FlowApprover))
	}
	return orchestrator.WithSession(ctx, orchestrator.NewSession(orchestrator.SessionOptions{Approver: c.env.FlowApprover}))
}

// prompt gets a server's prompt with the context's provenance and sends
// its messages to the model as the user's turn, attachments of that
// server. In direct mode it shows them instead.
func (c *Commands) prompt(ctx context.Context, server, name, args string, out chat.Sink) (chat.Result, error) {
	cmd := promptCommand(server, name)
	if server == "" || name == "" {
		return chat.Result{}, fmt.Errorf("%s: a prompt command is /server:prompt; type /help for the servers' prompts", cmd)
	}
	if err := c.checkServer(cmd, server); err != nil {
		return chat.Result{}, err
	}
	fields, err := splitArgs(args)
	if err != nil {
		return chat.Result{}, fmt.Errorf("%s: %w", cmd, err)
	}
	pargs := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return chat.Result{}, fmt.Errorf("%s: argument %q: give arguments as name=value", cmd, f)
		}
		pargs[k] = v
	}
	if ps, listed := c.cache.promptsOf(server); listed {
		if err := checkPrompt(cmd, server, name, ps, pargs); err != nil {
			return chat.Result{}, err
		}
	}
	res, err := c.env.Orchestrator.GetPrompt(c.flowContext(ctx), server, name, pargs, c.contextProvenance())
	if err != nil {
		return chat.Result{}, fmt.Errorf("%s: %w", cmd, err)
	}
	in := agent.Input{}
	for _, m := range res.Messages {
		if m == nil {
			continue
		}
		text := contentText(m.Content)
		if m.Role != "" && m.Role != "user" {
			text = "(" + string(m.Role) + ") " + text
		}
		in.Attachments = append(in.Attachments, agent.Attachment{Server: server, Label: name, Text: c.env.Redactor.Redact(text)})
	}
	if c.env.Session == nil {
		var b strings.Builder
		fmt.Fprintf(&b, "Prompt **%s** of %s (no model is configured, so it is only shown):\n", name, server)
		for _, a := range in.Attachments {
			b.WriteString("\n" + fence(a.Text, "") + "\n")
		}
		out.Markdown(b.String())
		return chat.Result{}, nil
	}
	return chat.Result{Send: &in}, nil
}

// checkPrompt checks a prompt's name and arguments against its server's
// listing.
func checkPrompt(cmd, server, name string, ps []orchestrator.PromptInfo, args map[string]string) error {
	var names []string
	var p *mcp.Prompt
	for _, pi := range ps {
		names = append(names, pi.Prompt.Name)
		if pi.Prompt.Name == name {
			p = pi.Prompt
		}
	}
	if p == nil {
		if len(names) == 0 {
			return fmt.Errorf("%s: server %q offers no prompts", cmd, server)
		}
		return fmt.Errorf("%s: server %q has no prompt %q%s; its prompts: %s", cmd, server, name, suggest.Hint(name, names), suggest.List(names))
	}
	var known, missing []string
	for _, a := range p.Arguments {
		if a == nil {
			continue
		}
		known = append(known, a.Name)
		if _, ok := args[a.Name]; a.Required && !ok {
			missing = append(missing, a.Name)
		}
	}
	for k := range args {
		if !slices.Contains(known, k) {
			valid := "none"
			if len(known) > 0 {
				valid = suggest.List(known)
			}
			return fmt.Errorf("%s: unknown argument %q%s; the prompt's arguments: %s", cmd, k, suggest.Hint(k, known), valid)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing required argument(s) %s; e.g. %s %s", cmd, strings.Join(missing, ", "), cmd, promptArgs(p))
	}
	return nil
}

// contentText is one message's content as text.
func contentText(c mcp.Content) string {
	switch c := c.(type) {
	case *mcp.TextContent:
		return c.Text
	case *mcp.EmbeddedResource:
		if c.Resource != nil {
			return contentsText(&mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{c.Resource}})
		}
	case nil:
		return ""
	}
	return agent.ResultText(&mcp.CallToolResult{Content: []mcp.Content{c}})
}

// mention is `@server:uri` in a message: after the start or a space, a
// server name (orchestrator.ValidateServerName's alphabet), a colon and a
// URI up to the next space.
var mention = regexp.MustCompile(`(?:^|\s)@([A-Za-z0-9][A-Za-z0-9_-]*):(\S+)`)

// Expand reads each `@server:uri` the message mentions, with the context's
// provenance (the data-flow policy decides whether what the context holds
// may reach that server), as attachments of their servers; the text stays
// as typed.
func (c *Commands) Expand(ctx context.Context, line string) (agent.Input, error) {
	in := agent.Input{Text: line}
	prov := c.contextProvenance()
	fctx := c.flowContext(ctx)
	for _, m := range mention.FindAllStringSubmatch(line, -1) {
		server, uri := m[1], m[2]
		what := "@" + server + ":" + uri
		if err := c.checkServer(what, server); err != nil {
			return agent.Input{}, err
		}
		res, err := c.env.Orchestrator.ReadResource(fctx, server, uri, prov)
		if err != nil {
			return agent.Input{}, redactedErr(c.env.Redactor, fmt.Errorf("%s: %w", what, c.resourceHint(server, uri, err)))
		}
		in.Attachments = append(in.Attachments, agent.Attachment{Server: server, Label: uri,
			Text: c.env.Redactor.Redact(contentsText(res.ReadResourceResult))})
	}
	return in, nil
}
