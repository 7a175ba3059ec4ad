package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/connectors"
)

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
