package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"github.com/charmbracelet/x/ansi"
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

// prompt is the prompt shown, or nil.
func (m *model) prompt() *prompt {
	if len(m.prompts) == 0 {
		return nil
	}
	return m.prompts[0]
}

// drop answers p with v and takes it down.
func (m *model) drop(p *prompt, v any) {
	for i, q := range m.prompts {
		if q == p {
			m.prompts = append(m.prompts[:i], m.prompts[i+1:]...)
			select {
			case p.reply <- v:
			default:
			}
			if i == 0 {
				m.modalAt = 0
			}
			break
		}
	}
	m.layout()
}

// promptKey handles a key while a prompt is shown.
func (m *model) promptKey(p *prompt, msg tea.KeyPressMsg) tea.Cmd {
	if p.huh != nil {
		return m.updateForm(p, msg)
	}
	switch k := msg.String(); k {
	case "esc":
		m.choose(p, p.options[len(p.options)-1])
	case "left", "up", "shift+tab":
		p.sel = (p.sel + len(p.options) - 1) % len(p.options)
	case "right", "down", "tab":
		p.sel = (p.sel + 1) % len(p.options)
	case "enter":
		return m.choose(p, p.options[p.sel])
	case "pgup":
		m.modalAt = max(0, m.modalAt-5)
	case "pgdown":
		m.modalAt += 5
	default:
		for _, o := range p.options {
			if o.key == k {
				return m.choose(p, o)
			}
		}
	}
	return nil
}

// choose acts on the option the user picked.
func (m *model) choose(p *prompt, o option) tea.Cmd {
	switch o.value.(type) {
	case fillForm:
		return m.openForm(p)
	case declineAll:
		m.u.declineAll(p.server)
		m.add(&noteItem{text: "every request from " + safe(p.server) + " will be declined for the rest of this session"})
		m.drop(p, decline())
	default:
		m.drop(p, o.value)
	}
	m.refresh()
	return nil
}

// openForm shows an elicitation's fields.
func (m *model) openForm(p *prompt) tea.Cmd {
	km := huh.NewDefaultKeyMap()
	km.Quit = key.NewBinding(key.WithKeys("esc"))
	p.huh = huh.NewForm(p.form.Group()).WithKeyMap(km).WithShowHelp(true).WithWidth(max(m.width-4, 10))
	m.layout()
	return p.huh.Init()
}

// updateForm passes msg to the prompt's form, and answers when the form
// is done: the answer if it fits the schema (else the form again, with
// why), cancel if the user left it.
func (m *model) updateForm(p *prompt, msg tea.Msg) tea.Cmd {
	fm, cmd := p.huh.Update(msg)
	p.huh = fm.(*huh.Form)
	switch p.huh.State {
	case huh.StateCompleted:
		content, err := p.form.Answer()
		if err != nil {
			p.note = "the answer does not fit the form: " + untrusted(err.Error(), 300)
			return m.openForm(p)
		}
		m.add(&noteItem{text: "answered " + safe(p.server) + "'s request"})
		m.drop(p, &mcp.ElicitResult{Action: "accept", Content: content})
		m.refresh()
		return nil
	case huh.StateAborted:
		m.add(&noteItem{text: "cancelled " + safe(p.server) + "'s request"})
		m.drop(p, cancelled())
		m.refresh()
		return nil
	}
	m.layout()
	return cmd
}

// modalView is the prompt shown, boxed, within the height left over
// by the input and the status bar; a long body is cut to fit, and
// pgup/pgdown scroll it.
func (m *model) modalView() string {
	p := m.prompt()
	if p == nil || m.width <= 0 {
		return ""
	}
	inner := max(m.width-4, 1)
	split := func(s string) []string { return strings.Split(hang(s, inner), "\n") }
	head := split(m.st.bold.Render(p.title))
	var tail []string
	if p.note != "" {
		tail = append(tail, split(m.st.errText.Render(p.note))...)
	}
	if p.huh != nil {
		tail = append(tail, strings.Split(p.huh.View(), "\n")...)
	} else {
		var opts []string
		for i, o := range p.options {
			s := "[" + o.key + "] " + o.label
			if i == p.sel {
				s = m.st.selected.Render(s)
			}
			opts = append(opts, s)
		}
		tail = append(tail, split(strings.Join(opts, "  "))...)
	}
	if n := len(m.prompts) - 1; n > 0 {
		tail = append(tail, m.st.dim.Render(fmt.Sprintf("(%d more waiting)", n)))
	}
	var body []string
	for _, l := range p.body {
		body = append(body, split(l)...)
	}
	// The box's border takes 2 lines; the transcript keeps 1.
	avail := max(m.height-lineCount(m.statusView())-1-m.ta.Height()-lineCount(m.menuView())-1, 3)
	if room := avail - 2 - len(head) - len(tail); len(body) > room {
		room = max(room-1, 0) // the line that says what is cut
		m.modalAt = max(min(m.modalAt, len(body)-room), 0)
		more := len(body) - room - m.modalAt
		body = append(slices.Clone(body[m.modalAt:m.modalAt+room]),
			m.st.dim.Render(ansi.Truncate(fmt.Sprintf("… %d lines above, %d below (pgup/pgdown)", m.modalAt, more), inner, "…")))
	}
	lines := append(append(head, body...), tail...)
	box := strings.Split(m.st.modal.Width(m.width).Render(strings.Join(lines, "\n")), "\n")
	if len(box) > avail {
		// A window too small for the options: they stay, the top goes.
		box = box[len(box)-avail:]
	}
	return strings.Join(box, "\n")
}
