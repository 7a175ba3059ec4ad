package slash

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// servers shows each configured server: transport, state, tools and
// whether it runs sandboxed.
func (c *Commands) servers(_ context.Context, args string, out chat.Sink) (chat.Result, error) {
	if err := noArgs("/servers", args); err != nil {
		return chat.Result{}, err
	}
	rows := c.env.Orchestrator.Servers()
	if len(rows) == 0 {
		out.Markdown("No servers are configured: add them under `servers:` in the config.")
		return chat.Result{}, nil
	}
	var b strings.Builder
	b.WriteString("| server | transport | state | tools | sandboxed |\n|---|---|---|---|---|\n")
	var problems []string
	for _, s := range rows {
		tools := strconv.Itoa(s.Tools)
		if s.State != connectors.StateReady {
			tools = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(s.Name), cell(s.Transport), cell(string(s.State)), tools, cell(sandboxed(s)))
		if s.Err != nil {
			problems = append(problems, fmt.Sprintf("- **%s**: %s", s.Name, cell(s.Err.Error())))
		}
		if s.ToolsErr != nil {
			problems = append(problems, fmt.Sprintf("- **%s** tools: %s", s.Name, cell(s.ToolsErr.Error())))
		}
	}
	if len(problems) > 0 {
		b.WriteString("\n" + strings.Join(problems, "\n") + "\n")
	}
	out.Markdown(c.env.Redactor.Redact(b.String()))
	return chat.Result{}, nil
}

func sandboxed(s orchestrator.ServerStatus) string {
	switch {
	case s.Sandbox.Confined && s.Sandbox.Detail != "":
		return "yes (" + s.Sandbox.Detail + ")"
	case s.Sandbox.Confined:
		return "yes"
	case s.Sandbox.Mode == "":
		return "n/a" // not a process of mediator's
	}
	return "no (" + s.Sandbox.Mode + ")"
}

// tools shows the tools of one server, or of every connected one.
func (c *Commands) tools(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	fields := strings.Fields(args)
	if len(fields) > 1 {
		return chat.Result{}, fmt.Errorf("/tools takes at most one server, got %q", args)
	}
	server := ""
	if len(fields) == 1 {
		server = fields[0]
		if err := c.checkServer("/tools", server); err != nil {
			return chat.Result{}, err
		}
	}
	ts, err := c.env.Orchestrator.Tools(ctx, server)
	if err != nil && len(ts) == 0 {
		return chat.Result{}, err
	}
	byServer := map[string][]orchestrator.ToolInfo{}
	for _, t := range ts {
		byServer[t.Server] = append(byServer[t.Server], t)
	}
	for s, list := range byServer {
		c.cache.setTools(s, list)
	}
	var b strings.Builder
	if len(ts) == 0 {
		b.WriteString("No tools: no server is connected, or none offers tools.\n")
	} else {
		b.WriteString("| tool | read-only | pinned | description |\n|---|---|---|---|\n")
		for _, t := range ts {
			ro := "no"
			if t.Tool != nil && t.Tool.Annotations != nil && t.Tool.Annotations.ReadOnlyHint {
				ro = "yes"
			}
			pin := "yes"
			if t.Pin != orchestrator.PinPinned {
				pin = "no (" + t.Pin + ": `mediator tools accept " + t.Server + "`)"
			}
			desc := ""
			if t.Tool != nil {
				desc = oneLine(t.Tool.Description)
			}
			if !t.Allowed {
				desc = "(not allowed by the server's tools filter) " + desc
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", t.Qualified, ro, pin, cell(desc))
		}
	}
	if err != nil {
		fmt.Fprintf(&b, "\nNot listed: %s\n", cell(err.Error()))
	}
	out.Markdown(c.env.Redactor.Redact(b.String()))
	return chat.Result{}, nil
}

// skills shows the skills every connected server offers.
func (c *Commands) skills(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	if err := noArgs("/skills", args); err != nil {
		return chat.Result{}, err
	}
	ss, err := c.env.Orchestrator.Skills(ctx, "")
	var b strings.Builder
	if len(ss) == 0 {
		b.WriteString("No skills: no connected server offers any.\n")
	} else {
		b.WriteString("| server | skill | description |\n|---|---|---|\n")
		for _, s := range ss {
			desc := oneLine(s.Entry.Description())
			if s.Problem != nil {
				desc = "(cannot be loaded: " + oneLine(s.Problem.Error()) + ") " + desc
			}
			name := s.Entry.Name()
			if name == "" {
				name = s.Entry.URI
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(s.Server), cell(name), cell(desc))
		}
	}
	if err != nil {
		fmt.Fprintf(&b, "\nNot listed: %s\n", cell(err.Error()))
	}
	out.Markdown(c.env.Redactor.Redact(b.String()))
	return chat.Result{}, nil
}

// policy shows the flows allowed, what the model's context has seen and
// the session's approvals.
func (c *Commands) policy(_ context.Context, args string, out chat.Sink) (chat.Result, error) {
	if err := noArgs("/policy", args); err != nil {
		return chat.Result{}, err
	}
	var b strings.Builder
	b.WriteString("**Allowed flows** (data of the first server may be sent to the second):\n\n")
	n := 0
	if c.env.Config != nil {
		for _, f := range c.env.Config.Policy.Flows {
			fmt.Fprintf(&b, "- `%s` (config: policy.flows)\n", f)
			n++
		}
	}
	sess := c.env.Session
	if sess != nil {
		for _, f := range sess.Flows() {
			fmt.Fprintf(&b, "- `%s` (this session: --allow-flow)\n", f)
			n++
		}
	}
	if n == 0 {
		b.WriteString("- none: a server's data goes back only to that server, unless you approve\n")
	}
	if sess == nil {
		b.WriteString("\nNo model is configured (direct mode), so there is no model context: nothing has been seen, and nothing approved.\n")
		out.Markdown(b.String())
		return chat.Result{}, nil
	}
	seen := sess.Provenance().Servers()
	b.WriteString("\n**The context has seen**: ")
	if len(seen) == 0 {
		b.WriteString("no server's output\n")
	} else {
		b.WriteString(strings.Join(seen, ", ") + "\n")
	}
	tools, flows := sess.Approved()
	b.WriteString("\n**Approved for this session**:\n\n")
	if len(tools)+len(flows) == 0 {
		b.WriteString("- nothing\n")
	}
	for _, t := range tools {
		fmt.Fprintf(&b, "- tool `%s`\n", t)
	}
	for _, f := range flows {
		fmt.Fprintf(&b, "- flow `%s`\n", f)
	}
	out.Markdown(b.String())
	return chat.Result{}, nil
}

// oneLine is the first line of s, trimmed.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// cell is s fit for a Markdown table cell: one line, pipes escaped.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// fence is text in a fenced code block longer than any run of backticks
// in it, so server text cannot end the block early.
func fence(text, lang string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	return f + lang + "\n" + strings.TrimRight(text, "\n") + "\n" + f
}
