package flowrun

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Tracker folds engine events into one row per step of the file (items
// and nested instances counted, not listed), for the live view and the
// plain progress lines alike.
type Tracker struct {
	mu     sync.Mutex
	flow   *flow.Flow
	rows   []*Row
	byPath map[string]*Row
	runID  string
	status string
	start  time.Time
	end    time.Time
	err    error
	// failuresShown caps the failure lines per step in plain output.
	failuresShown map[string]int
	// finally heads the rows of the flow's finally steps, nil without
	// them; its status is theirs as a whole.
	finally *Row
	// timeout is the run's time, 0 for none.
	timeout time.Duration
}

// Row is one step's progress.
type Row struct {
	Path  string // static step path
	Name  string // step id, shown indented by Depth
	Depth int
	// ForEach is set for steps with items; Total counts them (over every
	// instance of the step).
	ForEach bool
	Total   int
	// Done counts finished items by status; Reused how many came from the
	// journal of an earlier attempt.
	Done      map[string]int
	Reused    int
	Retries   int
	Started   time.Time
	Finished  time.Time
	Status    string // "" (waiting), "running", or a final status
	instances int    // started minus finished instances
	LastErr   string
	// Progress is the server's latest progress report about the step's
	// request in flight, as a line shows it (sanitized, not redacted).
	Progress string
}

// Finished items of the row.
func (r *Row) finished() int {
	n := 0
	for _, c := range r.Done {
		n += c
	}
	return n
}

// NewTracker lists every step of f in file order.
func NewTracker(f *flow.Flow, now time.Time) *Tracker {
	t := &Tracker{flow: f, byPath: map[string]*Row{}, start: now, failuresShown: map[string]int{}}
	var walk func(prefix string, steps []*flow.Step, depth int)
	walk = func(prefix string, steps []*flow.Step, depth int) {
		for _, s := range steps {
			r := &Row{Path: prefix + s.Path, Name: s.ID, Depth: depth, ForEach: s.ForEach != nil, Done: map[string]int{}}
			t.rows = append(t.rows, r)
			t.byPath[r.Path] = r
			walk(prefix, s.Steps, depth+1)
			for _, b := range s.BranchOrder {
				walk(prefix, s.Parallel[b], depth+1)
			}
			if s.Uses != nil && s.Uses.Flow != nil {
				// A sub-flow's steps, under the step that uses it.
				walk(r.Path+flow.UsesPathSep, s.Uses.Flow.Steps, depth+1)
				walk(r.Path+flow.UsesPathSep, s.Uses.Flow.Finally, depth+1)
			}
		}
	}
	walk("", f.Steps, 0)
	if len(f.Finally) > 0 {
		t.finally = &Row{Name: "finally", Done: map[string]int{}}
		t.rows = append(t.rows, t.finally)
		walk("", f.Finally, 1)
	}
	return t
}

// Handle records ev and returns the plain progress line it deserves, or "".
func (t *Tracker) Handle(ev workflows.Event) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Kind {
	case workflows.EventRunStarted:
		t.runID = ev.RunID
		t.status = "running"
		t.timeout = ev.Timeout
		return fmt.Sprintf("run %s: %s started", ev.RunID, t.flow.Name)
	case workflows.EventRunFinished:
		t.status, t.err, t.end = ev.Status, ev.Err, ev.Time
		line := fmt.Sprintf("run %s: %s in %s", ev.RunID, ev.Status, ev.Time.Sub(t.start).Round(time.Millisecond))
		if fin := ev.Finally; fin != nil && t.finally != nil {
			t.finally.Status, t.finally.Finished = fin.Status, ev.Time
			// Beside the run's own status, never instead of it.
			if fin.Err != nil && fin.Status == workflows.StatusFailed {
				line += "; " + ErrorLine(fin.Err.Error(), 200) // "finally failed: ..."
			} else {
				line += "; finally " + fin.Status
			}
		}
		if ev.Status == workflows.RunSucceeded {
			// A success with failed steps in it is easy to misread.
			var failed []string
			for _, r := range t.rows {
				if r.Status == workflows.StatusFailed || r.Done[workflows.StatusFailed] > 0 {
					failed = append(failed, r.Path)
				}
			}
			if len(failed) > 0 {
				line += fmt.Sprintf("; failures that their on_error or tolerate_failures let the run go past: %s", strings.Join(failed, ", "))
			}
		}
		return line
	}
	if ev.Step == nil {
		return ""
	}
	path := ev.StepPath
	if path == "" {
		path = ev.Step.Path
	}
	r := t.byPath[path]
	if r == nil {
		return ""
	}
	// Only the step's own instance (not one inside another step's items)
	// gets start and finish lines; the rest shows as counts.
	top := !strings.Contains(ev.Path, "[")
	if t.finally != nil && strings.HasPrefix(path, flow.FinallyPath) && t.finally.Status == "" {
		t.finally.Status, t.finally.Started = "running", ev.Time
	}
	switch ev.Kind {
	case workflows.EventStepStarted:
		r.instances++
		if r.Status == "" {
			r.Status, r.Started = "running", ev.Time
		}
		if ev.Total > 0 || r.ForEach {
			r.ForEach = true
			r.Total += ev.Total
			if top {
				return fmt.Sprintf("▸ %s: %d item(s)", r.Path, ev.Total)
			}
			return ""
		}
		if top {
			return fmt.Sprintf("▸ %s", r.Path)
		}
	case workflows.EventItemFinished:
		r.Done[ev.Status]++
		if ev.Reused {
			r.Reused++
		}
		if ev.Status == workflows.StatusFailed && ev.Err != nil {
			r.LastErr = ev.Err.Error()
			return t.failureLine(r, ev)
		}
		if r.ForEach && r.Total >= 100 {
			n := r.finished()
			if step := r.Total / 10; n%step == 0 {
				return fmt.Sprintf("  %s: %d/%d", r.Path, n, r.Total)
			}
		}
	case workflows.EventProgress:
		// The live view shows it; plain output would be a line per report.
		r.Progress = prompter.ProgressText(ev.Report)
		return ""
	case workflows.EventPolling:
		// The live view shows where the wait is; plain output a line per
		// poll of the step's own instance.
		r.Progress = workflows.PollingText(ev)
		if top {
			return fmt.Sprintf("  … %s: %s", ev.Path, r.Progress)
		}
		return ""
	case workflows.EventBlocked:
		// Under Temporal only: the call's worker was lost and the retry
		// rule may not send it again; the run waits for a decision.
		r.Progress = "blocked: waiting for --rerun or --mark-done"
		return fmt.Sprintf("  ⏸ %s: blocked: %s; the run waits: settle it with `mediator resume %s --rerun %s` (send it again) or `--mark-done %s` (it took effect)",
			ev.Path, ErrorLine(errText(ev.Err), 160), t.runID, ev.Path, ev.Path)
	case workflows.EventResolved:
		r.Progress = ""
		return fmt.Sprintf("  ▸ %s: resolved: %s", ev.Path, ev.Status)
	case workflows.EventRetrying:
		r.Retries++
		return fmt.Sprintf("  ↻ %s: attempt %d failed (%s); retrying in %s", ev.Path, ev.Attempt, ErrorLine(errText(ev.Err), 160), ev.Delay.Round(time.Millisecond))
	case workflows.EventStepFinished:
		r.instances--
		r.Progress = ""
		if !r.ForEach && r.Depth > 0 && strings.Contains(ev.Path, "[") {
			// An instance inside another step's items: count it.
			r.Done[ev.Status]++
		}
		if r.instances <= 0 {
			r.Status, r.Finished = worse(r.Status, ev.Status), ev.Time
		}
		if ev.Reused {
			r.Reused++
		}
		if ev.Err != nil && ev.Status == workflows.StatusFailed {
			r.LastErr = ev.Err.Error()
		}
		if !top {
			return ""
		}
		line := fmt.Sprintf("%s %s: %s", mark(ev.Status), r.Path, ev.Status)
		switch {
		case r.ForEach:
			line += " (" + countsText(r) + ")"
		case ev.Reused:
			line += " (from the journal)"
		}
		if !r.Started.IsZero() {
			line += " in " + ev.Time.Sub(r.Started).Round(time.Millisecond).String()
		}
		if ev.Status == workflows.StatusFailed && ev.Err != nil {
			line += ": " + ErrorLine(ev.Err.Error(), 200)
		}
		return line
	}
	return ""
}

func (t *Tracker) failureLine(r *Row, ev workflows.Event) string {
	const maxLines = 20
	t.failuresShown[r.Path]++
	switch n := t.failuresShown[r.Path]; {
	case n < maxLines:
		return fmt.Sprintf("  ✗ %s: %s", ev.Path, ErrorLine(errText(ev.Err), 200))
	case n == maxLines:
		return fmt.Sprintf("  ✗ %s: … further failures of %s are counted, not listed (see `mediator runs show %s`)", ev.Path, r.Path, t.runID)
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ErrorLine shortens an error message to its first line of at most max
// characters by cutting out its middle: a Go error reads "context:
// context: cause", and the cause at the end ("connection refused") is what
// the reader needs most.
func ErrorLine(msg string, max int) string {
	r := []rune(cmdutil.OneLine(msg, 0))
	if max <= 0 || len(r) <= max {
		return string(r)
	}
	head := (max - 1) * 2 / 5
	tail := max - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// worse keeps the status that matters most once a step has several
// instances: a failure outranks a cancellation, which outranks success.
func worse(cur, next string) string {
	rank := map[string]int{"": 0, "running": 0, workflows.StatusSkipped: 1, workflows.StatusSucceeded: 2, workflows.StatusCancelled: 3, workflows.StatusFailed: 4}
	if cur == "running" || rank[next] > rank[cur] {
		return next
	}
	return cur
}

func mark(status string) string {
	switch status {
	case workflows.StatusSucceeded:
		return "✓"
	case workflows.StatusFailed:
		return "✗"
	case workflows.StatusSkipped:
		return "–"
	case workflows.StatusCancelled:
		return "⊘"
	}
	return "·"
}

func countsText(r *Row) string {
	var parts []string
	for _, s := range []string{workflows.StatusSucceeded, workflows.StatusFailed, workflows.StatusSkipped, workflows.StatusCancelled} {
		if n := r.Done[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if r.Reused > 0 {
		parts = append(parts, fmt.Sprintf("%d from the journal", r.Reused))
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// Snapshot copies the rows for rendering.
func (t *Tracker) Snapshot() (rows []Row, runID, status string, elapsed time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.rows {
		c := *r
		c.Done = map[string]int{}
		for k, v := range r.Done {
			c.Done[k] = v
		}
		rows = append(rows, c)
	}
	end := t.end
	if end.IsZero() {
		end = time.Now()
	}
	return rows, t.runID, t.status, end.Sub(t.start)
}

// PlainPrinter writes the tracker's lines, one per event that has one,
// scrubbing known secrets from them.
type PlainPrinter struct {
	mu  sync.Mutex
	w   io.Writer
	red *credentials.Redactor
	t   *Tracker
}

// NewPlainPrinter prints t's lines to w.
func NewPlainPrinter(w io.Writer, red *credentials.Redactor, t *Tracker) *PlainPrinter {
	return &PlainPrinter{w: w, red: red, t: t}
}

// Event handles one engine event.
func (p *PlainPrinter) Event(ev workflows.Event) {
	line := p.t.Handle(ev)
	if line == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = cmdutil.WriteRedacted(p.w, p.red, []byte(line+"\n"))
}

// timeLeft is what is left of the run's time after elapsed, 0 when it has
// no timeout or none is left.
func (t *Tracker) timeLeft(elapsed time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timeout <= 0 {
		return 0
	}
	return max(t.timeout-elapsed, 0)
}
