package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// Messages the goroutines of a turn or a command post, in order.
type (
	turnUpdate struct{ u agent.Update } // its Call is the model's own copy
	turnDone   struct{ err error }
	cmdDone    struct {
		res chat.Result
		err error
	}
	showMarkdown struct{ md string }
	showCall     struct{ c agent.CallInfo }
	showFlow     struct{ e workflows.Event }
	showNote     struct {
		text string
		err  bool
	}
	withdraw struct{ p *prompt } // the asker gave up: take the prompt down
)

// model is the root model. Its fields belong to the program's goroutine;
// other goroutines reach it only through UI.post.
type model struct {
	u    *UI
	base context.Context // cancelled when Run's ctx is
	done <-chan struct{} // the program's, from UI.start

	st *styles
	r  *renderer

	width, height int
	vp            viewport.Model
	ta            textarea.Model

	items  []item
	answer *answerItem          // the answer streaming in
	calls  map[string]*callItem // this run's calls by ID
	cancel context.CancelFunc   // of the running turn or command; nil when idle

	prompts []*prompt // the first is shown; the rest wait
	modalAt int       // first body line shown of a long prompt

	history []string
	histAt  int    // len(history) when not walking it
	draft   string // the input before walking the history

	menu    []string // completions of a "/" line
	menuAt  int      // the one Tab chose, -1 before
	cycling bool     // the input is menu[menuAt], chosen by Tab

	ctrlC bool // ctrl+c pressed once: once more quits
}

// Key bindings beyond typing, as /help lists them.
var keys = []struct{ keys, help string }{
	{"enter", "send the message or run the /command"},
	{"alt+enter, ctrl+j", "new line in the input (shift+enter too, where the terminal tells it apart)"},
	{"up / down", "on the first / last line of the input: walk the input history"},
	{"tab", "complete a /command (press again for the next candidate)"},
	{"pgup / pgdown", "scroll the transcript"},
	{"ctrl+o", "expand or collapse the last tool call's result"},
	{"esc", "cancel the running turn or command"},
	{"o / s / d (or arrows + enter)", "in an approval: allow once / for the session / deny (esc denies)"},
	{"ctrl+d", "quit, on an empty input"},
	{"ctrl+c", "cancel or clear; twice quits"},
}

func newModel(u *UI) *model {
	st := newStyles(u.opts.NoColor)
	m := &model{
		u:      u,
		base:   context.Background(),
		st:     st,
		r:      &renderer{st: st, md: newMarkdown(st), redact: u.opts.Redact},
		calls:  map[string]*callItem{},
		menuAt: -1,
	}
	m.vp = viewport.New()
	m.vp.KeyMap = viewport.KeyMap{} // the model routes pgup/pgdown itself
	m.ta = textarea.New()
	m.ta.ShowLineNumbers = false
	m.ta.Prompt = "> "
	m.placeholder()
	m.ta.DynamicHeight = true
	m.ta.MinHeight = 1
	m.ta.MaxHeight = 6
	m.ta.KeyMap.InsertNewline = key.NewBinding(key.WithKeys("alt+enter", "shift+enter", "ctrl+j"))
	if st.noColor {
		s := textarea.DefaultDarkStyles()
		plainState := textarea.StyleState{Base: lipgloss.NewStyle(), Text: lipgloss.NewStyle(), Placeholder: lipgloss.NewStyle(), Prompt: lipgloss.NewStyle()}
		s.Focused, s.Blurred = plainState, plainState
		m.ta.SetStyles(s)
	}
	m.ta.Focus()
	return m
}

// placeholder is the empty input's hint, by mode.
func (m *model) placeholder() {
	m.ta.Placeholder = "Ask the model, or type / for commands"
	if m.u.opts.Session == nil {
		m.ta.Placeholder = "Type / for commands (direct mode: no model)"
	}
}

func (m *model) Init() tea.Cmd {
	m.done = m.u.start()
	if m.width <= 0 {
		// Until the terminal says its size (it may never, on a pipe).
		m.width, m.height = defaultWidth, defaultHeight
		m.layout()
	}
	if m.u.opts.Session == nil {
		m.add(&noteItem{text: m.directAdvice()})
	} else {
		m.add(&noteItem{text: "Type a message, or /help for commands and keys."})
	}
	m.refresh()
	return m.u.listen(m.done)
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case posted:
		cmd := m.handlePosted(msg.msg)
		return m, tea.Batch(cmd, m.u.listen(m.done))
	case progressed:
		if p := m.u.takeProgress(); p != nil && m.cancel != nil {
			m.r.progress = p
			m.refresh()
		}
		return m, m.u.listen(m.done)
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		m.refresh()
		if p := m.prompt(); p != nil && p.huh != nil {
			return m, m.updateForm(p, msg)
		}
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		if p := m.prompt(); p != nil {
			if p.huh != nil {
				return m, m.updateForm(p, msg)
			}
			return m, nil
		}
		var cmd tea.Cmd
		m.ta, cmd = m.ta.Update(msg)
		m.inputChanged()
		return m, cmd
	}
	// Anything else is a component's own message: the form's, the
	// textarea's.
	if p := m.prompt(); p != nil && p.huh != nil {
		return m, m.updateForm(p, msg)
	}
	var cmd tea.Cmd
	m.ta, cmd = m.ta.Update(msg)
	return m, cmd
}

// handlePosted handles what a turn, a command or an asker reported.
func (m *model) handlePosted(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case turnUpdate:
		m.turnUpdate(msg.u)
	case turnDone:
		m.finish(msg.err)
		if msg.err != nil {
			m.failed(msg.err)
		}
		if m.u.opts.AfterTurn != nil {
			m.u.opts.AfterTurn()
		}
	case cmdDone:
		m.finish(msg.err)
		if msg.err != nil {
			m.failed(msg.err)
		}
		cmd := m.result(msg.res)
		m.refresh()
		return cmd
	case showMarkdown:
		m.add(&markdownItem{md: msg.md})
	case showCall:
		m.call(msg.c, msg.c.Result != nil)
	case showFlow:
		m.flow(msg.e)
	case showNote:
		m.add(&noteItem{text: msg.text, err: msg.err})
	case *prompt:
		m.prompts = append(m.prompts, msg)
		m.layout()
	case withdraw:
		m.drop(msg.p, msg.p.refusal())
	}
	m.refresh()
	return nil
}

// turnUpdate shows one piece of the model's turn.
func (m *model) turnUpdate(up agent.Update) {
	switch up.Kind {
	case agent.UpdateText:
		if m.answer == nil {
			m.answer = &answerItem{}
			m.add(m.answer)
		}
		m.answer.text.WriteString(up.Text)
	case agent.UpdateToolCall:
		m.endAnswer()
		m.call(*up.Call, false)
	case agent.UpdateToolResult:
		m.call(*up.Call, true)
	case agent.UpdateUsage:
		// The status bar reads the session's usage.
	}
}

// endAnswer completes the streaming answer: it is drawn as Markdown.
func (m *model) endAnswer() {
	if m.answer != nil {
		m.answer.done = true
		m.answer = nil
	}
}

// call adds a call's block, or completes the one with its ID.
func (m *model) call(c agent.CallInfo, done bool) {
	if it, ok := m.calls[c.ID]; ok && c.ID != "" {
		it.info, it.done = c, done
		if done {
			m.r.progress = nil
		}
		return
	}
	it := &callItem{info: c, done: done}
	if c.ID != "" {
		m.calls[c.ID] = it
	}
	m.add(it)
}

// flow shows a workflow event in the run's block.
func (m *model) flow(e workflows.Event) {
	if e.Kind == workflows.EventProgress {
		r := e.Report
		m.r.progress = &r
		return
	}
	var it *flowItem
	if n := len(m.items); n > 0 {
		it, _ = m.items[n-1].(*flowItem)
	}
	if it == nil || e.Kind == workflows.EventRunStarted && it.runID != "" {
		it = &flowItem{}
		m.add(it)
	}
	it.event(e)
}

// finish ends the running turn or command; a call still running when
// it ended with err was stopped, and its block says so.
func (m *model) finish(err error) {
	m.endAnswer()
	for _, it := range m.calls {
		if it.done {
			continue
		}
		why := "stopped before it gave a result (it may have run in part)"
		if errors.Is(err, context.Canceled) {
			why = "stopped by the user before it gave a result (it may have run in part)"
		}
		it.done = true
		it.info.Result = &agent.ToolResult{CallID: it.info.ID, Text: why, IsError: true}
	}
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	m.calls = map[string]*callItem{}
	m.r.progress = nil
}

// failed shows why a turn or command ended early.
func (m *model) failed(err error) {
	if errors.Is(err, context.Canceled) {
		m.add(&noteItem{text: "cancelled", err: true})
		return
	}
	m.add(&noteItem{text: "error: " + m.u.opts.Redact(err.Error()), err: true})
}

// result does what a command's result asks of the UI.
func (m *model) result(res chat.Result) tea.Cmd {
	switch res.Action {
	case chat.ActionQuit:
		return m.quit()
	case chat.ActionClear:
		m.items, m.answer = nil, nil
		if s := m.u.opts.Session; s != nil {
			s.Clear()
		}
		if m.u.opts.AfterTurn != nil {
			m.u.opts.AfterTurn()
		}
		m.add(&noteItem{text: "cleared: the transcript and what the context holds"})
	}
	if res.Send != nil {
		return m.send(*res.Send, "")
	}
	return nil
}

func (m *model) add(it item) { m.items = append(m.items, it) }

// quit ends the program: what runs is cancelled, prompts are refused.
func (m *model) quit() tea.Cmd {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	for len(m.prompts) > 0 {
		m.drop(m.prompts[0], m.prompts[0].refusal())
	}
	m.u.stop()
	return tea.Quit
}

// runContext is a context for a turn or command, cancelled by Esc, that
// reports servers' progress to the UI.
func (m *model) runContext() context.Context {
	ctx, cancel := context.WithCancel(m.base)
	m.cancel = cancel
	return connectors.WithProgress(ctx, m.u.Progress)
}

// submit handles enter on the input.
func (m *model) submit() tea.Cmd {
	line := m.ta.Value()
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if m.cancel != nil {
		m.add(&noteItem{text: "still working on the last message: wait, or press esc to cancel it"})
		m.refresh()
		return nil
	}
	m.remember(line)
	m.ta.Reset()
	m.inputChanged()
	trimmed := strings.TrimSpace(line)
	switch {
	case trimmed == "/help" || strings.HasPrefix(trimmed, "/help "):
		m.add(&userItem{text: trimmed})
		m.add(&markdownItem{md: m.help()})
		m.refresh()
		return nil
	case strings.HasPrefix(trimmed, "/"):
		m.add(&userItem{text: trimmed})
		m.refresh()
		return m.command(trimmed)
	}
	m.add(&userItem{text: line})
	if m.u.opts.Session == nil {
		m.add(&noteItem{text: m.directAdvice()})
		m.refresh()
		return nil
	}
	m.refresh()
	return m.send(agent.Input{}, line)
}

// directAdvice is what direct mode says: Options.Advice, which says how
// to configure a model, or that only /commands work.
func (m *model) directAdvice() string {
	if m.u.opts.Advice != "" {
		return m.u.opts.Advice
	}
	return "Direct mode: no model is configured, so only /commands work."
}

// command runs a slash command in its own goroutine.
func (m *model) command(line string) tea.Cmd {
	ctx := m.runContext()
	u, cmds := m.u, m.u.opts.Commands
	return func() tea.Msg {
		var res chat.Result
		var err error
		if cmds == nil {
			err = errors.New("no commands here")
		} else {
			res, err = cmds.Run(ctx, line, sink{u})
		}
		u.post(context.Background(), cmdDone{res, err})
		return nil
	}
}

// send sends a turn to the model in its own goroutine: line (expanded
// by Commands.Expand) when not empty, else in as it is.
func (m *model) send(in agent.Input, line string) tea.Cmd {
	sess := m.u.opts.Session
	if sess == nil {
		m.add(&noteItem{text: m.directAdvice()})
		m.refresh()
		return nil
	}
	ctx := m.runContext()
	u, cmds := m.u, m.u.opts.Commands
	return func() tea.Msg {
		bg := context.Background()
		if line != "" {
			in = agent.Input{Text: line}
			if cmds != nil {
				var err error
				if in, err = cmds.Expand(ctx, line); err != nil {
					u.post(bg, turnDone{err: fmt.Errorf("attaching what the message mentions: %w", err)})
					return nil
				}
			}
		}
		for _, a := range in.Attachments {
			u.post(bg, showNote{text: fmt.Sprintf("attached %s:%s (the context now holds %s's output)", a.Server, a.Label, a.Server)})
		}
		_, err := sess.SendInput(ctx, in, func(up agent.Update) {
			if up.Call != nil {
				c := *up.Call // the loop goes on with its own
				up.Call = &c
			}
			u.post(bg, turnUpdate{up})
		})
		u.post(bg, turnDone{err})
		return nil
	}
}

// sink shows a command's output: each piece is posted to the program.
type sink struct{ u *UI }

func (s sink) Markdown(md string)             { s.u.post(context.Background(), showMarkdown{md}) }
func (s sink) Call(c *agent.CallInfo)         { s.u.post(context.Background(), showCall{*c}) }
func (s sink) Progress(p connectors.Progress) { s.u.Progress(p) }
func (s sink) Flow(e workflows.Event)         { s.u.post(context.Background(), showFlow{e}) }

// help is /help: the commands and the keys.
func (m *model) help() string {
	var b strings.Builder
	b.WriteString("## Commands\n\n")
	if m.u.opts.Commands != nil {
		for _, h := range m.u.opts.Commands.Help() {
			fmt.Fprintf(&b, "- `%s", h.Name)
			if h.Args != "" {
				fmt.Fprintf(&b, " %s", h.Args)
			}
			fmt.Fprintf(&b, "`: %s\n", h.Summary)
		}
	}
	b.WriteString("\n## Keys\n\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "- **%s**: %s\n", k.keys, k.help)
	}
	b.WriteString("\nMention `@server:uri` in a message to attach that resource.\n")
	return b.String()
}
