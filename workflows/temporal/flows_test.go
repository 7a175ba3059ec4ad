package temporal_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

const adderFlow = `version: 1
name: adder
inputs:
  x: {type: number}
  y: {type: number, default: 10}
steps:
  - id: add
    call: {server: b, tool: add}
    with: {a: "${ .inputs.x }", b: "${ .inputs.y }"}
outputs:
  sum: ${ .steps.add.result.sum }
`

// A flow whose uses steps run sub-flows from other files runs from the
// files ReadFlowInput collected at submission (the workflow reads no
// disk), and ends as the local run of the same files does.
func TestSubFlowsTravelWithTheRun(t *testing.T) {
	c := needServer(t)
	dir := t.TempDir()
	main := filepath.Join(dir, "main.flow.yaml")
	for name, src := range map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [a -> b]
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {v: 5}
  - id: sync
    uses: lib/adder.flow.yaml
    with: {x: "${ .steps.src.result.v }"}
  - id: each
    for_each: ${ [1, 2] }
    uses: lib/adder.flow.yaml
    with: {x: "${ .item }", y: 100}
outputs:
  sum: ${ .steps.sync.result.sum }
  sums: ${ [.steps.each.items[].result.sum] }
`,
		"lib/adder.flow.yaml": adderFlow,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	in, probs, err := temporal.ReadFlowInput(ctx, main, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("ReadFlowInput: %v %v", err, probs)
	}
	if len(in.Files) != 1 {
		t.Fatalf("files submitted with the run: %d, want the one sub-flow", len(in.Files))
	}
	in.TrustedServers = []string{"a", "b"}

	fl, probs, err := workflows.LoadForRun(ctx, main, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("LoadForRun: %v %v", err, probs)
	}
	lw := newWorld(t, "a", "b")
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(lw.caller()), RunID: "subflows",
		TrustAnnotations: func(string) bool { return true }})
	if res == nil {
		t.Fatal(err)
	}
	local := toOutput(res)

	r := newRig(t, c, newWorld(t, "a", "b"))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "subflows", TaskQueue: r.prefix + "flows"}, temporal.WorkflowRunFlow, in)
	if err != nil {
		t.Fatal(err)
	}
	var remote temporal.FlowOutput
	if err := run.Get(ctx, &remote); err != nil {
		t.Fatal(err)
	}
	if local.Status != workflows.RunSucceeded {
		t.Fatalf("local run %s: %s", local.Status, local.Error)
	}
	if got, want := comparable(&remote), comparable(local); got != want {
		t.Fatalf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
	}
	r.replay(t, history(ctx, t, c, "subflows", run.GetRunID()))
}

// A flow that does not validate, or inputs that do not check, fail the
// workflow as not started, naming the problem.
func TestNotStarted(t *testing.T) {
	c := needServer(t)
	r := newRig(t, c, newWorld(t, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, in := range map[string]temporal.FlowInput{
		"bad-file": {Path: "bad.flow.yaml", Source: []byte("version: 1\nname: bad\nsteps:\n  - id: x\n    call: {server: a}\n")},
		"bad-inputs": {Path: "in.flow.yaml", Source: []byte("version: 1\nname: in\ninputs:\n  n: {type: number}\nsteps:\n  - id: x\n    call: {server: a, tool: echo}\n"),
			Inputs: map[string]any{"n": "not a number"}},
	} {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "not-started-" + name, TaskQueue: r.prefix + "flows"}, temporal.WorkflowRunFlow, in)
		if err != nil {
			t.Fatal(err)
		}
		err = run.Get(ctx, nil)
		if !temporal.IsNotStarted(err) {
			t.Errorf("%s: %v, want a mediator.NotStarted failure", name, err)
		}
	}
}

// Cancelling the workflow cancels the run as an interrupt does a local
// one: the call in flight is cancelled on its worker (the server sees MCP
// cancellation), the run ends cancelled, and its finally steps still make
// their calls.
func TestCancelWorkflow(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	r := newRig(t, c, w)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := `version: 1
name: cancel
flows: [a -> b]
steps:
  - id: work
    call: {server: a, tool: slow}
    with: {ms: 60000}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }}
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "cancel", TaskQueue: r.prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "cancel.flow.yaml", Source: []byte(src), TrustedServers: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !w.services["a"].sawStart(time.Minute) {
		t.Fatal("the slow call never started")
	}
	if err := c.CancelWorkflow(ctx, "cancel", run.GetRunID()); err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunCancelled || out.Steps["work"] != workflows.StatusCancelled || out.ErrorClass != workflows.ClassCancelled {
		t.Fatalf("run %s, steps %v, error %q (%s); want cancelled", out.Status, out.Steps, out.Error, out.ErrorClass)
	}
	if out.Finally == nil || out.Finally.Status != workflows.StatusSucceeded || w.services["b"].count("echo") != 1 {
		t.Fatalf("finally %+v, echo calls %d; want the report made", out.Finally, w.services["b"].count("echo"))
	}
	if !w.services["a"].sawCancel(10 * time.Second) {
		t.Error("server a never saw the call cancelled")
	}
	r.replay(t, history(ctx, t, c, "cancel", run.GetRunID()))
}

// A worker stopped mid-call cancels its call, which fails as a transport
// failure: a read-only call whose retry rule covers transport is sent
// again, to the worker that took over the queue, and the run succeeds. (A
// worker killed outright never reports; Temporal then fails the attempt
// at its heartbeat timeout, which decodes to the same class:
// TestDecodeOtherFailures. Killing a worker process is still to be
// tested.)
func TestWorkerStoppedMidCall(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	r := newRig(t, c, newWorld(t, "b")) // the flow worker, and b's
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := worker.New(c, r.flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: w.caller("a")}).Register(first)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	src := `version: 1
name: lost
steps:
  - id: s
    call: {server: a, tool: slow}
    with: {ms: 1500}
    retry: {max_attempts: 2, initial_interval: 1ms, on: [transport]}
outputs:
  attempts: ${ .steps.s.attempts }
  slept: ${ .steps.s.result.slept }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "lost", TaskQueue: r.prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "lost.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !w.services["a"].sawStart(time.Minute) {
		t.Fatal("the call never started")
	}
	first.Stop()
	second := worker.New(c, r.flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: w.caller("a")}).Register(second)
	start(t, second)

	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["attempts"] != float64(2) {
		t.Fatalf("run %s, outputs %v, error %s; want succeeded on the second attempt", out.Status, out.Outputs, out.Error)
	}
	if n := w.services["a"].count("slow"); n != 2 {
		t.Errorf("slow called %d times, want 2", n)
	}
	r.replay(t, history(ctx, t, c, "lost", run.GetRunID()))
}

// A result too large for a Temporal payload fails its attempt with class
// protocol, naming the size and the limit, instead of never reaching the
// workflow; a result within it arrives whole.
func TestResultOverPayloadLimit(t *testing.T) {
	c := needServer(t)
	r := newRig(t, c, newWorld(t, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := `version: 1
name: big
steps:
  - id: small
    call: {server: a, tool: big}
    with: {bytes: 1000000}
  - id: huge
    call: {server: a, tool: big}
    with: {bytes: 3000000}
    on_error: continue
outputs:
  small: ${ .steps.small.text | length }
  huge: ${ .steps.huge.status }
  class: ${ .steps.huge.error.class }
  message: ${ .steps.huge.error.message }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "big", TaskQueue: r.prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "big.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	msg, _ := out.Outputs["message"].(string)
	if out.Outputs["small"] != float64(1000000) || out.Outputs["huge"] != workflows.StatusFailed || out.Outputs["class"] != workflows.ClassProtocol ||
		!strings.Contains(msg, "the result of a.big is 3000") || !strings.Contains(msg, "Temporal payload") {
		t.Fatalf("outputs %v", out.Outputs)
	}
}

// A queue with a worker polling it is found; one without is reported.
func TestQueuesWithoutWorker(t *testing.T) {
	c := needServer(t)
	r := newRig(t, c, newWorld(t, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	served, unserved := r.flows.Queue("a"), r.flows.Queue("nobody")
	// A worker lists as a poller once its first poll reached the server,
	// which start does not wait for.
	for {
		missing, err := temporal.QueuesWithoutWorker(ctx, c, served, unserved)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) == 1 && missing[0] == unserved {
			return
		}
		if ctx.Err() != nil || len(missing) != 2 {
			t.Fatalf("queues without a worker: %v, want only %s", missing, unserved)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A run's progress is queryable while it runs and after it ended, in the
// order the interpreter reported it, with the workflow's clock.
func TestQueryEvents(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	r := newRig(t, c, w)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := `version: 1
name: events
steps:
  - id: first
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: wait
    needs: [first]
    call: {server: a, tool: slow}
    with: {ms: 500}
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "events", TaskQueue: r.prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "events.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	query := func() []temporal.EventView {
		t.Helper()
		v, err := c.QueryWorkflow(ctx, "events", run.GetRunID(), temporal.QueryEvents)
		if err != nil {
			t.Fatal(err)
		}
		var evs []temporal.EventView
		if err := v.Get(&evs); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	if !w.services["a"].sawStart(time.Minute) {
		t.Fatal("the slow call never started")
	}
	var mid []string
	for _, ev := range query() {
		mid = append(mid, string(ev.Kind)+" "+ev.Path+" "+ev.Status)
	}
	if !slices.Contains(mid, "step-finished first succeeded") || !slices.Contains(mid, "step-started wait ") || slices.Contains(mid, "run-finished  succeeded") {
		t.Errorf("events while wait runs: %q", mid)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	evs := query()
	last := evs[len(evs)-1]
	if last.Kind != workflows.EventRunFinished || last.Status != workflows.RunSucceeded || last.Time.IsZero() || last.Time.Before(evs[0].Time) {
		t.Errorf("last event %+v, first at %s", last, evs[0].Time)
	}
}
