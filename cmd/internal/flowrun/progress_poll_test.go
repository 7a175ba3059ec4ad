package flowrun

import (
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/workflows"
)

// A step waiting for its until shows where the wait is: the live view on
// its row, plain output a line per poll; the row clears when it ends.
func TestPollingShown(t *testing.T) {
	tr := NewTracker(parse(t), time.Now())
	m := newViewModel(tr, credentials.NewRedactor(), func() {})
	one := tr.flow.Steps[1]
	tr.Handle(workflows.Event{Kind: workflows.EventStepStarted, Path: "one", Step: one, Time: time.Now()})
	line := tr.Handle(workflows.Event{Kind: workflows.EventPolling, Path: "one", Step: one, Attempt: 3, Delay: 10 * time.Second, Time: time.Now()})
	if line != "  … one: polling: attempt 3 not done, next in 10s" {
		t.Errorf("plain line %q", line)
	}
	if view := m.render(); !strings.Contains(view, "polling: attempt 3 not done, next in 10s") {
		t.Errorf("the live view does not show the wait:\n%s", view)
	}
	tr.Handle(workflows.Event{Kind: workflows.EventStepFinished, Path: "one", Step: one, Status: workflows.StatusSucceeded, Time: time.Now()})
	if view := m.render(); strings.Contains(view, "polling") {
		t.Errorf("a finished step still shows its wait:\n%s", view)
	}
	// An item's polls show on the row only.
	each := tr.flow.Steps[0]
	if line := tr.Handle(workflows.Event{Kind: workflows.EventPolling, Path: "each[4]", Step: each, Attempt: 1, Delay: time.Second, Time: time.Now()}); line != "" {
		t.Errorf("an item's poll printed %q", line)
	}
}
