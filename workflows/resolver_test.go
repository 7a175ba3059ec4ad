package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// failFirst is a local runtime whose first call fails with err: after
// the server acted (sent) or before anything reached it. As a Resolver
// (decide set), it answers each blocked call with decide.
type failFirst struct {
	*LocalRuntime
	err    error
	sent   bool
	decide string

	mu      sync.Mutex
	failed  bool
	blocked []BlockedCall
	names   [][]string
}

func (r *failFirst) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	r.mu.Lock()
	fail := !r.failed
	r.failed = true
	r.mu.Unlock()
	if !fail {
		return r.LocalRuntime.CallTool(ctx, req)
	}
	if r.sent {
		_, _ = r.LocalRuntime.CallTool(ctx, req)
	}
	return nil, &CallError{Class: ClassTransport, Err: r.err}
}

type resolving struct{ *failFirst }

func (r resolving) AwaitResolution(_ context.Context, call BlockedCall, names []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocked = append(r.blocked, call)
	r.names = append(r.names, names)
	if r.decide == "cannot" {
		return "", errors.New("no signal reaches this part of the run")
	}
	return r.decide, nil
}

// The engine's side of workflows.Resolver and ErrNotSent: a call whose
// outcome is unknown and that may not be sent again waits for the
// runtime's decision (rerun: sent again; mark-done: succeeded, null
// result, journalled marked done) instead of failing; a call not sent
// gets the step's declared retry whatever the tool does; a runtime that
// is no Resolver fails the call as before.
func TestResolverSeam(t *testing.T) {
	lost := errors.Join(errors.New("worker lost"), ErrOutcomeUnknown)
	notSent := errors.Join(errors.New("no worker polled"), ErrNotSent)
	const src = `version: 1
name: r
steps:
  - id: make
    call: {server: a, tool: create}
    with: {title: x}
    retry: {max_attempts: 2, initial_interval: 1ms, on: [transport]}
outputs:
  id: ${ .steps.make.result.id }
  attempts: ${ .steps.make.attempts }
`
	tests := []struct {
		name     string
		err      error
		sent     bool
		decide   string // "": not a Resolver
		status   string
		effects  int
		attempts float64
		id       any
	}{
		{name: "rerun", err: lost, sent: true, decide: ResolveRerun, status: RunSucceeded, effects: 2, attempts: 2, id: "ev-2"},
		{name: "mark-done", err: lost, sent: true, decide: ResolveMarkDone, status: RunSucceeded, effects: 1, attempts: 2, id: nil},
		{name: "no resolver", err: lost, sent: true, status: RunFailed, effects: 1},
		{name: "cannot wait", err: lost, sent: true, decide: "cannot", status: RunFailed, effects: 1},
		{name: "not sent", err: notSent, decide: ResolveMarkDone, status: RunSucceeded, effects: 1, attempts: 2, id: "ev-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "a")
			ff := &failFirst{LocalRuntime: NewLocalRuntime(h.caller), err: tt.err, sent: tt.sent, decide: tt.decide}
			opts := h.opts(nil)
			opts.Runtime = ff
			if tt.decide != "" {
				opts.Runtime = resolving{ff}
			}
			var events []Event
			var mu sync.Mutex
			opts.Progress = func(ev Event) {
				mu.Lock()
				defer mu.Unlock()
				if ev.Kind == EventBlocked || ev.Kind == EventResolved {
					events = append(events, ev)
				}
			}
			res, err := h.runFlow(context.Background(), parseFlow(t, src), opts)
			if res == nil || res.Status != tt.status {
				t.Fatalf("run %+v, %v; want %s", res, err, tt.status)
			}
			if n := len(h.services["a"].effects); n != tt.effects {
				t.Errorf("the server acted %d times, want %d", n, tt.effects)
			}
			if tt.status != RunSucceeded {
				if cls := ErrorClass(err); cls != ClassTransport || res.Steps["make"] != StatusFailed {
					t.Errorf("steps %v, error %v (%s); want make failed as transport", res.Steps, err, cls)
				}
				if tt.decide == "cannot" && !strings.Contains(err.Error(), "no decision can be waited for: no signal reaches") {
					t.Errorf("error %v, want it to say no decision can be waited for, and why", err)
				}
				return
			}
			if fmt.Sprint(res.Outputs["attempts"]) != fmt.Sprint(tt.attempts) || res.Outputs["id"] != tt.id {
				t.Errorf("outputs %v, want attempts %v, id %v", res.Outputs, tt.attempts, tt.id)
			}
			blocks := tt.err == lost
			if got := len(ff.blocked); (got == 1) != blocks || got > 1 {
				t.Fatalf("blocked calls %+v, want one: %v", ff.blocked, blocks)
			}
			if !blocks {
				return
			}
			if b := ff.blocked[0]; b.Path != "make" || b.Server != "a" || b.Tool != "create" || b.Attempt != 1 {
				t.Errorf("blocked call %+v", b)
			}
			if len(events) != 2 || events[0].Kind != EventBlocked || !errors.Is(events[0].Err, ErrOutcomeUnknown) ||
				events[1].Kind != EventResolved || events[1].Status != tt.decide {
				t.Errorf("events %+v, want blocked then resolved %s", events, tt.decide)
			}
			last, err := h.journal.LastAttempts(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			want := AttemptSucceeded
			if tt.decide == ResolveMarkDone {
				want = AttemptMarkedDone
			}
			if a := last["make"]; a == nil || a.State != want || a.Attempt != 2 {
				t.Errorf("journalled %+v, want attempt 2 %s", a, want)
			}
		})
	}
}
