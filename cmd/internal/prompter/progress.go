package prompter

import (
	"fmt"
	"strconv"

	"github.com/mediatorhq/mediator/connectors"
)

// Progress shows p on one line of the terminal, replacing the previous
// report; it shows nothing without a terminal. Its signature fits
// connectors.WithProgress.
func (t *Terminal) Progress(p connectors.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !(t.Interactive || t.ShowProgress) || t.Out == nil || t.held > 0 {
		return
	}
	p.Message = t.redact(p.Message)
	fmt.Fprintf(t.Out, "\r\x1b[K%s: %s", oneLine(p.Server, 64), ProgressText(p))
	t.line = true
}

// ClearProgress removes the progress line, before the result is printed.
func (t *Terminal) ClearProgress() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
}

func (t *Terminal) clearLocked() {
	if t.line {
		fmt.Fprint(t.Out, "\r\x1b[K")
		t.line = false
	}
}

// ProgressText is one report as a progress line shows it after the
// server's name: how far (a percentage when the total is known; a bare
// count only when there is no message, such as a task's status, to say
// more), and the server's message made safe and short.
func ProgressText(p connectors.Progress) string {
	m := oneLine(p.Message, 80)
	s := ""
	switch {
	case p.Total > 0:
		s = strconv.Itoa(int(100*p.Progress/p.Total)) + "%"
	case m == "":
		s = strconv.FormatFloat(p.Progress, 'f', -1, 64)
	}
	if m != "" && s != "" {
		s += " "
	}
	return s + m
}
