package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// styles are the UI's looks. Without colour they keep bold and reverse
// only, and the finished frame is downsampled (plain) so that nothing a
// component draws carries a colour either.
type styles struct {
	noColor bool

	user, assistant, note, errText, dim, badge, bold, status, modal, selected lipgloss.Style
}

func newStyles(noColor bool) *styles {
	s := &styles{noColor: noColor}
	base := lipgloss.NewStyle()
	s.bold = base.Bold(true)
	s.selected = base.Reverse(true)
	s.modal = base.Border(lipgloss.NormalBorder()).Padding(0, 1)
	s.status = base.Reverse(true)
	if noColor {
		s.user, s.assistant, s.badge = s.bold, s.bold, s.bold
		s.note, s.errText, s.dim = base, s.bold, base
		return s
	}
	s.user = s.bold.Foreground(lipgloss.Color("12"))
	s.assistant = s.bold.Foreground(lipgloss.Color("10"))
	s.badge = base.Foreground(lipgloss.Color("0")).Background(lipgloss.Color("14"))
	s.note = base.Foreground(lipgloss.Color("8"))
	s.errText = base.Foreground(lipgloss.Color("9"))
	s.dim = base.Foreground(lipgloss.Color("8"))
	s.modal = s.modal.BorderForeground(lipgloss.Color("11"))
	s.status = base.Foreground(lipgloss.Color("15")).Background(lipgloss.Color("4"))
	return s
}

// plain removes every colour from a frame, keeping the text and its
// other attributes: NO_COLOR for what components (huh, the textarea)
// draw in colours of their own.
func plain(frame string) string {
	var b strings.Builder
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.Ascii}
	if _, err := w.WriteString(frame); err != nil {
		return frame
	}
	return b.String()
}
