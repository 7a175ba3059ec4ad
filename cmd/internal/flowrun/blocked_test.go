package flowrun

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// A call blocked for a decision (a Temporal run whose worker was lost)
// gets a line saying how to settle it, and its decision one more; the
// live view shows the wait on the step's row until then.
func TestTrackerBlockedCall(t *testing.T) {
	f, err := flow.Parse("b.flow.yaml", []byte("version: 1\nname: b\nsteps:\n  - id: pay\n    call: {server: s, tool: charge}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(f, time.Now())
	pay := f.Steps[0]
	tr.Handle(workflows.Event{Kind: workflows.EventRunStarted, RunID: "r1"})
	tr.Handle(workflows.Event{Kind: workflows.EventStepStarted, Path: "pay", Step: pay})
	line := tr.Handle(workflows.Event{Kind: workflows.EventBlocked, Path: "pay", Step: pay, Attempt: 1, Err: errors.New("worker lost: " + workflows.ErrOutcomeUnknown.Error())})
	for _, want := range []string{"pay: blocked", "worker lost", "mediator resume r1 --rerun pay", "--mark-done pay"} {
		if !strings.Contains(line, want) {
			t.Errorf("blocked line %q lacks %q", line, want)
		}
	}
	rows, _, _, _ := tr.Snapshot()
	if !strings.Contains(rows[0].Progress, "blocked") {
		t.Errorf("row while blocked: %+v", rows[0])
	}
	if line := tr.Handle(workflows.Event{Kind: workflows.EventResolved, Path: "pay", Step: pay, Status: workflows.ResolveMarkDone}); !strings.Contains(line, "pay: resolved: mark-done") {
		t.Errorf("resolved line %q", line)
	}
	if rows, _, _, _ := tr.Snapshot(); rows[0].Progress != "" {
		t.Errorf("row once resolved: %+v", rows[0])
	}
}
