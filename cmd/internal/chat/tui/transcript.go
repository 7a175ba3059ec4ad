package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/progress"
	"github.com/charmbracelet/x/ansi"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/termtext"
	"github.com/mediatorhq/mediator/workflows"
)

// collapsedLines is how many lines of a call's result a collapsed block
// shows.
const collapsedLines = 3

// item is one piece of the transcript, drawn for a width.
type item interface {
	render(r *renderer, width int) string
}

// renderer is what items draw with.
type renderer struct {
	st       *styles
	md       *markdown
	redact   func(string) string
	progress *connectors.Progress // the running call's latest report
}

// wrap word-wraps s (already safe) to width, breaking long words.
func wrap(s string, width int) string { return ansi.Wrap(s, max(width, 1), "") }

// hang wraps each line of s to width, continuation lines indented as
// far as the line they continue.
func hang(s string, width int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		plainL := ansi.Strip(l)
		lead := plainL[:len(plainL)-len(strings.TrimLeft(plainL, " "))]
		if len(lead) >= width/2 {
			lead = ""
		}
		parts := strings.Split(wrap(l, width), "\n")
		if len(parts) > 1 && lead != "" {
			rest := strings.Split(wrap(strings.Join(parts[1:], " "), width-len(lead)), "\n")
			for i := range rest {
				rest[i] = lead + rest[i]
			}
			parts = append(parts[:1], rest...)
		}
		out = append(out, parts...)
	}
	return strings.Join(out, "\n")
}

// userItem is what the user typed.
type userItem struct{ text string }

func (it *userItem) render(r *renderer, w int) string {
	return r.st.user.Render("you") + "\n" + wrap(termtext.Sanitize(it.text), w)
}

// answerItem is the model's answer: plain while it streams, Markdown
// once complete.
type answerItem struct {
	text     strings.Builder
	done     bool
	cache    string
	cacheFor int
}

func (it *answerItem) render(r *renderer, w int) string {
	head := r.st.assistant.Render("assistant")
	text := termtext.Sanitize(it.text.String())
	if !it.done {
		return head + "\n" + wrap(text, w)
	}
	if it.cacheFor != w || it.cache == "" {
		it.cache, it.cacheFor = r.md.render(text, w), w
	}
	return head + "\n" + it.cache
}

// noteItem is a line of the UI's own: advice, "cancelled", an error.
type noteItem struct {
	text string
	err  bool
}

func (it *noteItem) render(r *renderer, w int) string {
	s := wrap(termtext.Sanitize(it.text), w)
	if it.err {
		return r.st.errText.Render(s)
	}
	return r.st.note.Render(s)
}

// markdownItem is a slash command's output.
type markdownItem struct {
	md       string
	cache    string
	cacheFor int
}

func (it *markdownItem) render(r *renderer, w int) string {
	if it.cacheFor != w || it.cache == "" {
		it.cache, it.cacheFor = r.md.render(termtext.Sanitize(r.redact(it.md)), w), w
	}
	return it.cache
}

// callItem is one tool call: server badge, tool, arguments, duration,
// and the result, a few lines of it unless expanded; refusals and
// errors in red with the reason.
type callItem struct {
	info     agent.CallInfo
	done     bool // the result is in
	expanded bool
}

func (it *callItem) render(r *renderer, w int) string {
	c := it.info
	var b strings.Builder
	server := c.Server
	if server == "" {
		server = "?"
	}
	b.WriteString(r.st.badge.Render(" " + safe(server) + " "))
	b.WriteString(" " + r.st.bold.Render(safe(c.Tool)))
	if c.Tool == "" && c.Result != nil {
		b.WriteString(r.st.bold.Render(safe(c.Result.Name)))
	}
	switch {
	case !it.done:
		b.WriteString(r.st.dim.Render("  running…"))
	case c.Duration > 0:
		b.WriteString(r.st.dim.Render("  " + c.Duration.Round(time.Millisecond).String()))
	}
	head := wrap(b.String(), w)
	lines := []string{head, hang("  "+r.st.dim.Render("args: ")+compactJSON(c.Args), w)}
	if !it.done && r.progress != nil {
		lines = append(lines, progressLine(r, *r.progress, w))
	}
	if c.Result != nil {
		text := termtext.Sanitize(r.redact(c.Result.Text))
		res := strings.Split(wrap(text, w-2), "\n")
		more := 0
		if !it.expanded && len(res) > collapsedLines {
			more = len(res) - collapsedLines
			res = res[:collapsedLines]
		}
		label := "result"
		switch {
		case c.Refused:
			label = "refused"
		case c.Result.IsError:
			label = "error"
		}
		style := r.st.note
		if c.Result.IsError || c.Refused {
			style = r.st.errText
		}
		lines = append(lines, style.Render("  "+label+":"))
		for _, l := range res {
			lines = append(lines, "  "+style.Render(l))
		}
		if more > 0 {
			lines = append(lines, r.st.dim.Render(fmt.Sprintf("  … %d more %s (ctrl+o expands)", more, plural(more, "line"))))
		}
	}
	return strings.Join(lines, "\n")
}

// progressLine is a progress report as a bar (total known) or a line.
func progressLine(r *renderer, p connectors.Progress, w int) string {
	msg := untrusted(r.redact(p.Message), 80)
	if p.Total <= 0 {
		s := fmt.Sprintf("  %s: %v", safe(p.Server), p.Progress)
		if msg != "" {
			s += " " + msg
		}
		return wrap(s, w)
	}
	bw := min(40, max(w-4, 10))
	bar := progress.New(progress.WithWidth(bw), progress.WithFillCharacters('#', '-'))
	s := "  " + bar.ViewAs(min(p.Progress/p.Total, 1))
	if msg != "" {
		s += "\n  " + msg
	}
	return wrap(s, w)
}

// flowItem is a workflow run's live step status (`/run`).
type flowItem struct {
	runID  string
	steps  map[string]string // path -> status
	order  []string
	status string // the run's, once finished
	err    string
}

func (it *flowItem) event(e workflows.Event) {
	if it.steps == nil {
		it.steps = map[string]string{}
	}
	set := func(path, status string) {
		if _, ok := it.steps[path]; !ok {
			it.order = append(it.order, path)
		}
		it.steps[path] = status
	}
	switch e.Kind {
	case workflows.EventRunStarted:
		it.runID = e.RunID
	case workflows.EventStepStarted:
		set(e.Path, "running")
	case workflows.EventRetrying:
		set(e.Path, fmt.Sprintf("retrying (attempt %d failed)", e.Attempt))
	case workflows.EventPolling:
		set(e.Path, workflows.PollingText(e))
	case workflows.EventItemFinished, workflows.EventStepFinished:
		st := e.Status
		if e.Err != nil {
			st += ": " + e.Err.Error()
		}
		set(e.Path, st)
	case workflows.EventRunFinished:
		it.status = e.Status
		if e.Err != nil {
			it.err = e.Err.Error()
		}
	}
}

func (it *flowItem) render(r *renderer, w int) string {
	var lines []string
	head := "flow run"
	if it.runID != "" {
		head += " " + it.runID
	}
	lines = append(lines, r.st.bold.Render(safe(head)))
	for _, p := range it.order {
		st := it.steps[p]
		mark := "…"
		style := r.st.note
		switch {
		case strings.HasPrefix(st, "succeeded"), strings.HasPrefix(st, "skipped"):
			mark = "✓"
		case strings.HasPrefix(st, "failed"), strings.HasPrefix(st, "cancelled"), strings.HasPrefix(st, "blocked"):
			mark, style = "✗", r.st.errText
		}
		lines = append(lines, style.Render(wrap(fmt.Sprintf("  %s %s %s", mark, safe(p), untrusted(r.redact(st), 300)), w)))
	}
	if it.status != "" {
		s := "run " + it.status
		if it.err != "" {
			s += ": " + it.err
		}
		style := r.st.note
		if it.status != workflows.RunSucceeded {
			style = r.st.errText
		}
		lines = append(lines, style.Render(wrap(untrusted(r.redact(s), 600), w)))
	}
	return strings.Join(lines, "\n")
}

// plural is noun for n of it.
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
