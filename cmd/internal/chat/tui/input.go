package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

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
