package flowrun

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The live view and the plain lines show the finally steps in a lane of
// their own, and how they ended beside the run's status.
func TestTrackerFinally(t *testing.T) {
	f, err := flow.Parse("fin.flow.yaml", []byte(`version: 1
name: fin
timeout: 1m
steps:
  - id: work
    call: {server: s, tool: t}
finally:
  - id: tidy
    call: {server: s, tool: t}
`))
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(f, time.Now())
	m := newViewModel(tr, nil, func() {})
	now := time.Now()
	var lines []string
	add := func(ev workflows.Event) {
		ev.Time = now
		if l := tr.Handle(ev); l != "" {
			lines = append(lines, l)
		}
	}
	work, tidy := f.Steps[0], f.Finally[0]
	add(workflows.Event{Kind: workflows.EventRunStarted, RunID: "r1", Timeout: time.Minute})
	if view := m.render(); !strings.Contains(view, "· times out in ") {
		t.Errorf("the view does not show the time left:\n%s", view)
	}
	add(workflows.Event{Kind: workflows.EventStepStarted, Path: "work", Step: work})
	add(workflows.Event{Kind: workflows.EventStepFinished, Path: "work", Step: work, Status: workflows.StatusCancelled})
	add(workflows.Event{Kind: workflows.EventStepStarted, Path: "finally/tidy", Step: tidy})
	if view := m.render(); !strings.Contains(view, " finally") {
		t.Errorf("no finally lane while it runs:\n%s", view)
	}
	fin := &workflows.FinallyResult{Status: workflows.StatusFailed, Err: errors.New("finally failed: step finally/tidy failed: boom")}
	add(workflows.Event{Kind: workflows.EventStepFinished, Path: "finally/tidy", Step: tidy, Status: workflows.StatusFailed, Err: errors.New("boom")})
	add(workflows.Event{Kind: workflows.EventRunFinished, RunID: "r1", Status: workflows.RunTimedOut, Finally: fin})
	out := strings.Join(lines, "\n")
	for _, w := range []string{"▸ finally/tidy", "✗ finally/tidy: failed", "run r1: timed_out in", "; finally failed: step finally/tidy failed: boom"} {
		if !strings.Contains(out, w) {
			t.Errorf("plain lines lack %q:\n%s", w, out)
		}
	}
	view := m.render()
	var lane, step string
	for _, l := range strings.Split(view, "\n") {
		switch {
		case strings.Contains(l, "✗ finally"):
			lane = l
		case strings.Contains(l, "  tidy"):
			step = l
		}
	}
	if lane == "" || step == "" || !strings.Contains(view, "timed_out") {
		t.Errorf("view:\n%s", view)
	}
}
