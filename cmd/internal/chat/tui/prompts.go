package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"charm.land/huh/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/termtext"
	"github.com/mediatorhq/mediator/orchestrator"
)

// errNotRunning refuses what would be asked while no program runs.
var errNotRunning = errors.New("no one can be asked: the chat's screen is not running")

// prompt is one question drawn above the input: a title, what the user
// needs to see (already made safe for the terminal), and the answers,
// each with its key. Arrow keys and enter choose too; esc chooses the
// last option. An elicitation's form is filled in with huh once the user
// chose to answer.
type prompt struct {
	title   string
	body    []string
	options []option
	sel     int
	reply   chan any // buffered: the model never blocks on it

	// Elicitation.
	server string
	form   *prompter.Form // form mode; nil in URL mode
	huh    *huh.Form      // the fields, while the user fills them in
	note   string         // why the last answer was not sent
}

// option is one answer: the key that picks it, what it says, and the
// reply it sends (or one of the elicitation's own values).
type option struct {
	key, label string
	value      any
}

// Elicitation choices besides a reply.
type (
	fillForm   struct{} // show the fields
	declineAll struct{} // decline, and every later request of the server
)

func approvalOptions(session string) []option {
	return []option{
		{"o", "allow once", orchestrator.ApprovalOnce},
		{"s", session, orchestrator.ApprovalSession},
		{"d", "deny", orchestrator.ApprovalDeny},
	}
}

// toolPrompt asks about a tool call the approval rules ask about.
func toolPrompt(req agent.ToolRequest) *prompt {
	name := orchestrator.QualifiedName(req.Server, req.Tool)
	p := &prompt{title: "Allow the call to " + safe(name) + "?"}
	p.body = append(p.body, "arguments: "+compactJSON(req.Args))
	p.body = append(p.body, "asked because of "+safe(req.Reason))
	if s := req.Provenance.Servers(); len(s) > 0 {
		p.body = append(p.body, "the context holds output of: "+safe(strings.Join(s, ", ")))
	}
	p.options = approvalOptions("allow " + safe(name) + " for this session")
	return p
}

// flowPrompt asks about a cross-server flow: which servers' data would
// go to which server and tool, exactly the arguments that would be sent,
// and the line that allows it for good.
func flowPrompt(req agent.FlowRequest) *prompt {
	from := strings.Join(req.From, ", ")
	target := req.Target
	if req.Method == "" || req.Method == "tools/call" {
		target = orchestrator.QualifiedName(req.To, req.Target)
	} else {
		target = req.Method + " " + target
	}
	p := &prompt{title: "Send data from " + safe(from) + " to " + safe(req.To) + "?"}
	p.body = append(p.body,
		"The context holds output of "+safe(from)+"; this call would send to "+safe(req.To)+":",
		"  "+safe(target)+" with exactly these arguments:")
	for _, l := range strings.Split(prettyJSON(req.Args), "\n") {
		p.body = append(p.body, "    "+l)
	}
	var edges []string
	for _, f := range req.From {
		edges = append(edges, orchestrator.Flow{From: f, To: req.To}.String())
	}
	p.body = append(p.body, "To allow it always, add to the config: policy.flows: ["+safe(strings.Join(edges, ", "))+"]")
	p.options = approvalOptions("allow " + safe(strings.Join(edges, ", ")) + " for " + safe(target) + " this session")
	return p
}

// samplingPrompt asks whether a server's sampling request may go to the
// model: the server, its system prompt, messages and maxTokens.
func samplingPrompt(req *orchestrator.SamplingRequest, redact func(string) string) *prompt {
	p := &prompt{title: "Server " + safe(req.Server) + " asks the model to answer (sampling)"}
	if req.Params != nil {
		if req.Params.SystemPrompt != "" {
			p.body = append(p.body, "system: "+untrusted(redact(req.Params.SystemPrompt), 400))
		}
		for _, m := range req.Params.Messages {
			var text []string
			for _, c := range m.Content {
				if t, ok := c.(*mcp.TextContent); ok {
					text = append(text, t.Text)
				} else {
					text = append(text, fmt.Sprintf("[%T]", c))
				}
			}
			p.body = append(p.body, safe(string(m.Role))+": "+untrusted(redact(strings.Join(text, " ")), 400))
		}
		p.body = append(p.body, "maxTokens: "+strconv.FormatInt(req.Params.MaxTokens, 10))
	}
	p.options = []option{{"a", "allow", true}, {"d", "deny", false}}
	return p
}

// elicitPrompt asks for what a server requests: first whether to answer,
// then (form mode) the form; URL mode shows the URL, never opened.
func elicitPrompt(req *connectors.ElicitationRequest, redact func(string) string) *prompt {
	p := &prompt{server: req.Server}
	server := safe(req.Server)
	msg := ""
	if req.Params != nil {
		msg = untrusted(redact(req.Params.Message), 1000)
	}
	never := option{"n", "decline all from " + server, declineAll{}}
	if req.Params != nil && req.Params.Mode == "url" {
		p.title = "Server " + server + " asks you to open a web page"
		p.body = append(p.body, msg)
		u, err := url.Parse(req.Params.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.body = append(p.body, "It is not a web address: "+untrusted(redact(req.Params.URL), 400))
			p.options = []option{{"d", "decline", decline()}, never}
			return p
		}
		p.body = append(p.body, "  "+untrusted(redact(u.String()), 1000), "  domain: "+safe(u.Hostname()),
			"mediator does not open it; copy it into your browser yourself if you trust it.")
		p.options = []option{{"o", "I will open it", &mcp.ElicitResult{Action: "accept"}}, {"d", "decline", decline()}, never, {"c", "cancel", cancelled()}}
		return p
	}
	p.title = "Server " + server + " asks for input"
	p.body = append(p.body, msg)
	var requested any
	if req.Params != nil {
		requested = req.Params.RequestedSchema
	}
	form, err := prompter.NewForm(requested, redact)
	if err != nil {
		p.body = append(p.body, "The server's form cannot be shown: "+untrusted(err.Error(), 300))
		p.options = []option{{"d", "decline", decline()}, never}
		return p
	}
	p.form = form
	p.options = []option{{"a", "answer", fillForm{}}, {"d", "decline", decline()}, never, {"c", "cancel", cancelled()}}
	return p
}

func decline() *mcp.ElicitResult   { return &mcp.ElicitResult{Action: "decline"} }
func cancelled() *mcp.ElicitResult { return &mcp.ElicitResult{Action: "cancel"} }

// refusal is what a prompt answers when it is taken down unanswered.
func (p *prompt) refusal() any {
	switch p.options[len(p.options)-1].value.(type) {
	case orchestrator.Approval:
		return orchestrator.ApprovalDeny
	case bool:
		return false
	}
	return cancelled()
}

// safe is text made safe for one line of the terminal.
func safe(s string) string { return strings.Join(strings.Fields(termtext.Sanitize(s)), " ") }

// untrusted is a server's text made safe for the terminal and cut to max
// runes.
func untrusted(s string, max int) string {
	s = safe(s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// compactJSON is v as one line of JSON, safe for the terminal: JSON
// escapes what a terminal would obey, so the text is exact.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(cannot show: %v)", err)
	}
	return string(termtext.EscapeJSON(b))
}

// prettyJSON is v indented, safe for the terminal and exact.
func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("(cannot show: %v)", err)
	}
	return string(termtext.EscapeJSON(b))
}
