package flowrun

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The live view draws on the terminal directly, with escape sequences of
// its own, so the server text it shows (a failed step's error) is
// sanitized there: none of a hostile server's attacks gets drawn.
func TestLiveViewShowsServerTextSafely(t *testing.T) {
	f, err := flow.Parse("t.flow.yaml", []byte("version: 1\nname: t\nsteps:\n  - id: one\n    call: {server: s, tool: t}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, a := range hostile.TermAttacks() {
		text.WriteString(a.Text + " " + hostile.TermVisible + " ")
	}
	tr := NewTracker(f, time.Now())
	now := time.Now()
	for _, ev := range []workflows.Event{
		{Kind: workflows.EventRunStarted, RunID: "r1"},
		{Kind: workflows.EventStepStarted, Path: "one", Step: f.Steps[0]},
		{Kind: workflows.EventStepFinished, Path: "one", Step: f.Steps[0], Status: workflows.StatusFailed, Err: errors.New(text.String())},
	} {
		ev.Time = now
		tr.Handle(ev)
	}
	m := newViewModel(tr, nil, func() {})
	m.width = 4000
	view := m.render()
	if !strings.Contains(view, hostile.TermVisible) {
		t.Fatalf("the error is not shown:\n%q", view)
	}
	// The view's own drawing is added by the terminal program, not render;
	// render's text has no escape at all.
	for _, a := range hostile.TermAttacks() {
		for _, mark := range a.Marks {
			if strings.Contains(view, mark) {
				t.Errorf("%s reaches the live view (%q):\n%q", a.Name, mark, view)
			}
		}
	}
}
