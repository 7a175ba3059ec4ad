package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// answerLate orders two calls: the call of tool late is answered first,
// then the call of tool after is made, and late's answer reaches the
// engine only once its context has ended. So the server answered late's
// call, then a failure of after's cancelled the run, and only then did
// the engine look at the answer.
type answerLate struct {
	ToolCaller
	late, after string
	answered    chan struct{}
}

func (c answerLate) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	switch req.Tool {
	case c.late:
		res, err := c.ToolCaller.CallTool(ctx, req)
		close(c.answered)
		<-ctx.Done()
		return res, err
	case c.after:
		<-c.answered
	}
	return c.ToolCaller.CallTool(ctx, req)
}

// TestFailureBeforeCancellationKeepsItsError: step b's call was answered
// with an error before step d's failure cancelled the run; b failed with
// its own error (journalled as failed, not as cancelled with an unknown
// outcome), and the run's error is d's, which came first.
func TestFailureBeforeCancellationKeepsItsError(t *testing.T) {
	h := newHarness(t, "a")
	f := parseFlow(t, `version: 1
name: siblings
steps:
  - id: b
    call: {server: a, tool: protocol_error}
  - id: d
    call: {server: a, tool: fail}
`)
	opts := h.opts(nil)
	opts.Runtime = NewLocalRuntime(answerLate{ToolCaller: h.caller, late: "protocol_error", after: "fail", answered: make(chan struct{})})
	var mu sync.Mutex
	finished := map[string]Event{}
	opts.Progress = func(ev Event) {
		if ev.Kind == EventStepFinished {
			mu.Lock()
			finished[ev.Path] = ev
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, f, opts)
	if res == nil || res.Status != RunFailed || err == nil || !strings.Contains(err.Error(), "step d failed: a.fail returned an error: boom") {
		t.Fatalf("run: %+v %v", res, err)
	}
	b := finished["b"]
	if b.Status != StatusFailed || b.Err == nil || !strings.Contains(b.Err.Error(), "handler exploded") {
		t.Fatalf("b finished %s: %v", b.Status, b.Err)
	}
	last, err := h.journal.LastAttempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if a := last["b"]; a == nil || a.State != AttemptFailed || a.ErrorClass != ClassProtocol || !strings.Contains(a.Error, "handler exploded") {
		t.Fatalf("journal of b: %+v", a)
	}
}

// TestExpressionCutShortIsCancelled: an if or argument evaluated after the
// run was cancelled stops with the context's error; that is a
// cancellation of the step, not a failure that would stand beside (or in
// place of) the failure that cancelled the run.
func TestExpressionCutShortIsCancelled(t *testing.T) {
	h := newHarness(t, "a")
	f := parseFlow(t, `version: 1
name: cut
inputs:
  x: {type: number, default: 1}
steps:
  - id: guarded
    if: ${ .inputs.x > 0 }
    call: {server: a, tool: echo}
  - id: composed
    call: {server: a, tool: echo}
    with: {v: ${ .inputs.x + 1 }}
  - id: each
    for_each: ${ [.inputs.x] }
    call: {server: a, tool: echo}
`)
	inputs, err := PrepareInputs(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(f, h.opts(nil), inputs)
	if err != nil {
		t.Fatal(err)
	}
	e.runID = "cut"
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("step d failed: boom")
	cancel(cause)
	for _, s := range f.Steps {
		fr := &frame{results: map[string]*stepResult{}}
		r := e.runStep(ctx, fr, s, s.ID)
		if r.status != StatusCancelled {
			t.Errorf("%s: %s (%v), want cancelled", s.ID, r.status, r.err)
		}
	}
	if n := h.services["a"].count("echo"); n != 0 {
		t.Fatalf("%d calls made", n)
	}
}
