package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/modelcontextprotocol/go-sdk/mcp"

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
		r:      &renderer{st: st, md: &markdown{style: st.glamourStyle}, redact: u.opts.Redact},
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

// key handles a key press.
func (m *model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := msg.String()
	if k == "ctrl+c" {
		if m.ctrlC {
			return m.quit()
		}
		m.ctrlC = true
		switch {
		case m.prompt() != nil:
			m.drop(m.prompt(), m.prompt().refusal())
		case m.cancel != nil:
			m.cancel()
		default:
			m.ta.Reset()
			m.inputChanged()
		}
		m.refresh()
		return nil
	}
	m.ctrlC = false
	if p := m.prompt(); p != nil {
		return m.promptKey(p, msg)
	}
	switch k {
	case "esc":
		if m.cancel != nil {
			m.cancel()
		}
		m.menu, m.cycling = nil, false
		return nil
	case "ctrl+d":
		if m.ta.Value() == "" {
			return m.quit()
		}
	case "enter":
		if m.cycling && len(m.menu) > 0 {
			// Accept the completion; a second enter sends it.
			m.cycling, m.menu = false, nil
			m.layout()
			return nil
		}
		return m.submit()
	case "tab":
		m.complete()
		return nil
	case "pgup":
		m.vp.PageUp()
		return nil
	case "pgdown":
		m.vp.PageDown()
		return nil
	case "ctrl+o":
		for i := len(m.items) - 1; i >= 0; i-- {
			if c, ok := m.items[i].(*callItem); ok {
				c.expanded = !c.expanded
				m.refresh()
				break
			}
		}
		return nil
	case "up":
		if m.ta.Line() == 0 && m.walk(-1) {
			return nil
		}
	case "down":
		if m.ta.Line() == m.ta.LineCount()-1 && m.walk(1) {
			return nil
		}
	}
	var cmd tea.Cmd
	m.ta, cmd = m.ta.Update(msg)
	m.cycling = false
	m.inputChanged()
	return cmd
}

// inputChanged updates the completion menu after the input changed.
func (m *model) inputChanged() {
	v := m.ta.Value()
	m.menu, m.menuAt = nil, -1
	if strings.HasPrefix(v, "/") && !strings.Contains(v, "\n") && m.u.opts.Commands != nil {
		m.menu = m.u.opts.Commands.Complete(v)
	}
	m.layout()
}

// complete is Tab: the first completion, then the next on each press.
func (m *model) complete() {
	if !m.cycling {
		v := m.ta.Value()
		if m.u.opts.Commands == nil || strings.Contains(v, "\n") {
			return
		}
		m.menu, m.menuAt = m.u.opts.Commands.Complete(v), -1
	}
	if len(m.menu) == 0 {
		return
	}
	m.menuAt = (m.menuAt + 1) % len(m.menu)
	m.ta.SetValue(m.menu[m.menuAt])
	m.ta.CursorEnd()
	m.cycling = true
	m.layout()
}

// remember adds line to the input history.
func (m *model) remember(line string) {
	if n := len(m.history); n == 0 || m.history[n-1] != line {
		m.history = append(m.history, line)
	}
	m.histAt = len(m.history)
}

// walk moves through the input history; false when there is nowhere to
// go.
func (m *model) walk(d int) bool {
	to := m.histAt + d
	if to < 0 || to > len(m.history) || len(m.history) == 0 {
		return false
	}
	if m.histAt == len(m.history) {
		m.draft = m.ta.Value()
	}
	m.histAt = to
	if to == len(m.history) {
		m.ta.SetValue(m.draft)
	} else {
		m.ta.SetValue(m.history[to])
	}
	m.inputChanged()
	return true
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

// layout sizes the transcript and the input for the window, the prompt
// and the menu.
func (m *model) layout() {
	if m.width <= 0 {
		return
	}
	bottom := m.vp.AtBottom()
	defer func() {
		if bottom {
			m.vp.GotoBottom()
		}
	}()
	m.ta.SetWidth(m.width)
	m.vp.SetWidth(m.width)
	used := lineCount(m.statusView()) + 1 + m.ta.Height() // status, rule, input
	used += lineCount(m.menuView())
	used += lineCount(m.modalView())
	m.vp.SetHeight(max(m.height-used, 1))
}

func lineCount(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// refresh draws the transcript again, keeping the view at the bottom if
// it was there.
func (m *model) refresh() {
	if m.width <= 0 {
		return
	}
	bottom := m.vp.AtBottom() || m.vp.TotalLineCount() <= m.vp.Height()
	var parts []string
	running := false
	for _, it := range m.items {
		parts = append(parts, it.render(m.r, m.width))
		if c, ok := it.(*callItem); ok && !c.done {
			running = true
		}
	}
	if m.cancel != nil && m.r.progress != nil && !running {
		parts = append(parts, progressLine(m.r, *m.r.progress, m.width))
	}
	m.vp.SetContent(strings.Join(parts, "\n\n"))
	if bottom {
		m.vp.GotoBottom()
	}
}

// menuView is the completion menu of a "/" line.
func (m *model) menuView() string {
	if len(m.menu) == 0 || m.prompt() != nil {
		return ""
	}
	const most = 6
	var lines []string
	start := 0
	if m.menuAt >= most {
		start = m.menuAt - most + 1
	}
	for i := start; i < len(m.menu) && i < start+most; i++ {
		l := ansi.Truncate(" "+safe(m.menu[i]), m.width, "…")
		if i == m.menuAt {
			l = m.st.selected.Render(l)
		}
		lines = append(lines, l)
	}
	if len(m.menu) > most {
		lines = append(lines, m.st.dim.Render(fmt.Sprintf(" (%d candidates; tab cycles)", len(m.menu))))
	}
	return strings.Join(lines, "\n")
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

// statusView is the status bar: the model, the servers, what the
// context holds, pending approvals, token usage.
func (m *model) statusView() string {
	var st chat.Status
	if m.u.opts.Status != nil {
		st = m.u.opts.Status()
	} else if s := m.u.opts.Session; s != nil {
		st.Usage = s.Usage()
		st.Context = s.Provenance().Servers()
	}
	var parts []string
	switch {
	case m.u.opts.Session == nil:
		parts = append(parts, "direct mode")
	case st.Model != "":
		parts = append(parts, safe(st.Model))
	}
	ready, failed := 0, 0
	for _, s := range st.Servers {
		switch s.State {
		case connectors.StateReady:
			ready++
		case connectors.StateFailed, connectors.StateAuthRequired, connectors.StateClosed:
			failed++
		}
	}
	if len(st.Servers) > 0 {
		s := fmt.Sprintf("servers: %d ready", ready)
		if failed > 0 {
			s += fmt.Sprintf(", %d failed", failed)
		}
		parts = append(parts, s)
	}
	ctx := "context: empty"
	if len(st.Context) > 0 {
		ctx = "context: " + safe(strings.Join(st.Context, ", "))
	}
	parts = append(parts, ctx)
	if n := len(m.prompts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting for you", n))
	}
	if u := st.Usage; u.InputTokens+u.OutputTokens > 0 {
		parts = append(parts, fmt.Sprintf("tokens: %d in, %d out", u.InputTokens, u.OutputTokens))
	}
	if m.cancel != nil {
		parts = append(parts, "working… esc cancels")
	}
	if m.ctrlC {
		parts = append(parts, "ctrl+c again quits")
	}
	// Two lines at most: a narrow window wraps the parts, not the words.
	var lines []string
	line := ""
	for _, p := range parts {
		switch {
		case line == "":
			line = " " + p
		case ansi.StringWidth(line+" · "+p) <= m.width || len(lines) == 1:
			line += " · " + p
		default:
			lines, line = append(lines, line), " "+p
		}
	}
	lines = append(lines, line)
	for i, l := range lines {
		l = ansi.Truncate(l, m.width, "…")
		if pad := m.width - ansi.StringWidth(l); pad > 0 {
			l += strings.Repeat(" ", pad)
		}
		lines[i] = m.st.status.Render(l)
	}
	return strings.Join(lines, "\n")
}

func (m *model) View() tea.View {
	if m.width <= 0 {
		return tea.NewView("")
	}
	parts := []string{m.vp.View()}
	if s := m.modalView(); s != "" {
		parts = append(parts, s)
	}
	if s := m.menuView(); s != "" {
		parts = append(parts, s)
	}
	parts = append(parts, m.st.dim.Render(strings.Repeat("─", m.width)), m.ta.View(), m.statusView())
	frame := strings.Join(parts, "\n")
	if lines := strings.Split(frame, "\n"); len(lines) > m.height {
		// The window is smaller than the least the UI needs: the
		// input and the status bar stay in view.
		frame = strings.Join(lines[len(lines)-m.height:], "\n")
	}
	if m.st.noColor {
		frame = plain(frame)
	}
	v := tea.NewView(frame)
	v.AltScreen = true
	return v
}
