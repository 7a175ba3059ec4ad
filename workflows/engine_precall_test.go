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

// unreachableFirst is a ToolCaller over the harness's real sessions whose
// first `down` tool lookups fail as a transport error would when the
// server is not up yet.
type unreachableFirst struct {
	ToolCaller
	mu      sync.Mutex
	down    int
	lookups int
}

func (u *unreachableFirst) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	u.mu.Lock()
	u.lookups++
	down := u.lookups <= u.down
	u.mu.Unlock()
	if down {
		return nil, &CallError{Class: ClassTransport, Err: errors.New("connect: connection refused")}
	}
	return u.ToolCaller.Tool(ctx, server, tool)
}

// TestToolLookupRetried: a tool lookup that fails for a reason the retry
// policy lists is tried again (nothing was sent, so the retry rule does
// not hold it back, even for a tool with effects), and one that fails for
// good is reported once with the call's place in the file.
func TestToolLookupRetried(t *testing.T) {
	const flow = `version: 1
name: t
steps:
  - id: mk
    call: {server: a, tool: charge}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [transport]}
`
	t.Run("transient", func(t *testing.T) {
		h := newHarness(t)
		caller := &unreachableFirst{ToolCaller: h.caller, down: 2}
		opts := h.opts(nil)
		opts.Runtime = NewLocalRuntime(caller)
		var retries []Event
		opts.Progress = func(ev Event) {
			if ev.Kind == EventRetrying {
				retries = append(retries, ev)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Run(ctx, parseFlow(t, flow), opts)
		// charge always answers with a tool error, so the step fails, but
		// only after the lookup succeeded on its third try.
		if err == nil || !strings.Contains(err.Error(), "card declined") {
			t.Fatalf("err = %v", err)
		}
		if len(retries) != 2 || !strings.Contains(retries[0].Err.Error(), "connection refused") {
			t.Fatalf("retry events %v", retries)
		}
		if n := h.services["a"].count("charge"); n != 1 {
			t.Fatalf("charge called %d times", n)
		}
	})
	t.Run("not listed in retry.on", func(t *testing.T) {
		h := newHarness(t)
		caller := &unreachableFirst{ToolCaller: h.caller, down: 1}
		opts := h.opts(nil)
		opts.Runtime = NewLocalRuntime(caller)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f := parseFlow(t, strings.Replace(flow, "on: [transport]", "on: [timeout]", 1))
		res, err := Run(ctx, f, opts)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "test.flow.yaml:") {
			t.Fatalf("err = %v", err)
		}
		atts, _ := h.journal.Attempts(ctx, res.RunID)
		if len(atts) != 1 || atts[0].State != AttemptFailed || atts[0].ErrorClass != ClassTransport || !strings.Contains(atts[0].Error, "connection refused") {
			t.Fatalf("journal %+v", atts)
		}
	})
	t.Run("no such tool", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f := parseFlow(t, strings.Replace(flow, "tool: charge", "tool: chargee", 1))
		res, err := Run(ctx, f, h.opts(nil))
		if err == nil || !strings.Contains(err.Error(), `test.flow.yaml:5:11: server "a" has no tool "chargee"`) {
			t.Fatalf("err = %v", err)
		}
		atts, _ := h.journal.Attempts(ctx, res.RunID)
		if len(atts) != 1 || atts[0].ErrorClass != ClassRefused {
			t.Fatalf("journal %+v", atts)
		}
	})
}

// TestPreCallFailureJournalled: a step that fails before its call is sent
// (here an argument expression) leaves a failed attempt in the journal
// saying why, also under on_error: continue, where the run succeeds.
func TestPreCallFailureJournalled(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, parseFlow(t, `version: 1
name: t
steps:
  - id: each
    for_each: ${ [1, "x"] }
    call: {server: a, tool: echo}
    with: {n: ${ .item + 1 }}
    on_error: continue
`), h.opts(nil))
	if err != nil || res.Status != RunSucceeded {
		t.Fatalf("run %v %v", res, err)
	}
	atts, _ := h.journal.Attempts(ctx, res.RunID)
	byPath := map[string]*AttemptRecord{}
	for _, a := range atts {
		byPath[a.Path] = a
	}
	bad := byPath["each[1]"]
	if len(atts) != 2 || byPath["each[0]"].State != AttemptSucceeded || bad == nil || bad.State != AttemptFailed ||
		bad.ErrorClass != ClassExpression || !strings.Contains(bad.Error, "with.n") {
		t.Fatalf("journal %+v", atts)
	}
}

// TestResumeReusesWithoutTheServer: a resume takes journalled successes
// without asking their server anything, so a server that is gone by then
// does not stop a resume that has nothing left to call on it.
func TestResumeReusesWithoutTheServer(t *testing.T) {
	h := newHarness(t)
	f := parseFlow(t, `version: 1
name: t
flows: [a -> b]
steps:
  - id: first
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: second
    call: {server: b, tool: flaky}
    with: {key: ${ .steps.first.result.v | tostring }, fail_times: 1}
outputs:
  v: ${ .steps.second.result.key }
`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, f, h.opts(nil))
	if err == nil || res.Status != RunFailed {
		t.Fatalf("first run %v %v", res.Status, err)
	}
	// Server a is gone; b is still there.
	onlyB := &SessionCaller{Sessions: map[string]*mcp.ClientSession{"b": h.caller.Sessions["b"]}}
	opts := h.opts(nil)
	opts.Runtime = NewLocalRuntime(onlyB)
	res2, err := Resume(ctx, f, res.RunID, opts, ResumeOptions{})
	if err != nil || res2.Status != RunSucceeded || engJSON(res2.Outputs) != `{"v":"1"}` {
		t.Fatalf("resume %+v %v", res2, err)
	}
	if n := h.services["a"].count("echo"); n != 1 {
		t.Fatalf("echo called %d times", n)
	}
}
