package call

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/termtext"
)

// progressWidth bounds the text of the progress line.
const progressWidth = 100

// progressLine returns ctx carrying a progress callback that shows the
// call's latest progress (a server's progress notification, a task's
// status) on one line of stderr when that is a terminal (on TermErrOut:
// mediator draws the line itself), and a function that clears the line
// once the call has returned. The server's text is sanitized and kept to
// one line.
func progressLine(ctx context.Context, ios *iostreams.IOStreams) (context.Context, func()) {
	if !ios.IsStderrTTY() {
		return ctx, func() {}
	}
	var (
		mu          sync.Mutex
		shown, done bool
	)
	show := func(p connectors.Progress) {
		text := strings.Join(strings.Fields(termtext.Sanitize(p.Message)), " ")
		if r := []rune(text); len(r) > progressWidth {
			text = string(r[:progressWidth-1]) + "…"
		}
		count := ""
		if p.Total > 0 {
			count = fmt.Sprintf(" %g/%g", p.Progress, p.Total)
		}
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		fmt.Fprintf(ios.TermErrOut, "\r\x1b[K%s:%s %s", termtext.Sanitize(p.Server), count, text)
		shown = true
	}
	clear := func() {
		mu.Lock()
		defer mu.Unlock()
		if shown {
			fmt.Fprint(ios.TermErrOut, "\r\x1b[K")
		}
		done = true
	}
	return connectors.WithProgress(ctx, show), clear
}
