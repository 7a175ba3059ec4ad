package temporal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// scenario is a flow run on both runtimes; every field of how it ended
// but the error's wording must be the same.
type scenario struct {
	name   string
	flow   string
	inputs map[string]any
	status string
	// calls, when set, are the calls each runtime must have made, by
	// "server.tool".
	calls map[string]int
	// cancelled, when set, is the server that must have seen a call
	// cancelled (MCP cancellation reached it) by the time the run ended.
	cancelled string
}

// scenarios reuse the shapes of workflows' TestRunStepKinds and TestRetry,
// plus a step timeout, a read and a run timeout with finally steps (the
// runtime's timers).
var scenarios = []scenario{
	{
		name: "call with structured result and input default",
		flow: `
inputs:
  x: {type: number, default: 2}
steps:
  - id: sum
    call: {server: a, tool: add}
    with: {a: ${ .inputs.x }, b: 3}
outputs:
  sum: ${ .steps.sum.result.sum }
  status: ${ .steps.sum.status }
  attempts: ${ .steps.sum.attempts }
  run: ${ .run.id }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "if true runs, if false skips; text results",
		flow: `
inputs:
  go: {type: boolean, default: false}
steps:
  - id: yes
    if: ${ .inputs.go | not }
    call: {server: a, tool: text}
    with: {text: '{"n": 7}'}
  - id: no
    if: ${ .inputs.go }
    call: {server: a, tool: echo}
    with: {v: 2}
outputs:
  yes: ${ .steps.yes.status }
  n: ${ .steps.yes.result.n }
  no: ${ .steps.no.status }
  no_result: ${ .steps.no.result }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.text": 1, "a.echo": 0},
	},
	{
		name: "for_each with max_concurrency keeps input order, if per item",
		flow: `
inputs:
  xs: {type: array, default: [5, 1, 4, 2, 3, 9, 8]}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    max_concurrency: 3
    if: ${ .item != 4 }
    call: {server: a, tool: add}
    with: {a: ${ .item }, b: ${ .index }}
outputs:
  sums: ${ [.steps.each.items[] | .result.sum] }
  statuses: ${ [.steps.each.items[] | .status] }
  counts: ${ .steps.each.counts }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.add": 6},
	},
	{
		name: "a wide for_each: 120 items, 64 at a time",
		flow: `
steps:
  - id: each
    for_each: ${ [range(120)] }
    max_concurrency: 64
    call: {server: a, tool: add}
    with: {a: ${ .item }, b: 1}
outputs:
  total: ${ [.steps.each.items[].result.sum] | add }
  counts: ${ .steps.each.counts }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.add": 120},
	},
	{
		name: "dependent steps across two servers",
		flow: `
flows: [b -> a]
steps:
  - id: one
    call: {server: a, tool: add}
    with: {a: 1, b: 1}
  - id: two
    call: {server: a, tool: add}
    with: {a: ${ .steps.one.result.sum }, b: 10}
  - id: other
    call: {server: b, tool: add}
    with: {a: 100, b: 0}
  - id: last
    needs: [other]
    call: {server: a, tool: add}
    with: {a: ${ .steps.two.result.sum }, b: 1}
outputs:
  last: ${ .steps.last.result.sum }
  other: ${ .steps.other.result.sum }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.add": 3, "b.add": 1},
	},
	{
		name: "parallel branches and a for_each over a nested group",
		flow: `
flows: [a -> b, b -> a]
steps:
  - id: par
    parallel:
      left:
        - id: l1
          call: {server: a, tool: add}
          with: {a: 1, b: 2}
        - id: l2
          call: {server: a, tool: add}
          with: {a: ${ .steps.l1.result.sum }, b: 10}
      right:
        - id: r1
          call: {server: b, tool: echo}
          with: {side: right}
  - id: batch
    for_each: ${ [1, 2, 3] }
    max_concurrency: 2
    steps:
      - id: double
        call: {server: a, tool: add}
        with: {a: ${ .item }, b: ${ .item }}
      - id: plus
        call: {server: b, tool: add}
        with: {a: ${ .steps.double.result.sum }, b: ${ .index }}
outputs:
  left: ${ .steps.par.result.left.l2.sum }
  right: ${ .steps.par.result.right.r1.side }
  branch: ${ .steps.par.branches.left.status }
  plus: ${ [.steps.batch.items[] | .result.plus.sum] }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "a read step",
		flow: `
steps:
  - id: note
    read: {server: b, uri: "test://b/note"}
outputs:
  text: ${ .steps.note.text }
  uri: ${ .steps.note.result.contents[0].uri }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "retried on tool_error until it succeeds, with backoff",
		flow: `
steps:
  - id: s
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 2}
    retry: {max_attempts: 3, initial_interval: 50ms, on: [tool_error]}
outputs:
  attempts: ${ .steps.s.attempts }
  calls: ${ .steps.s.result.calls }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.flaky": 3},
	},
	{
		name: "tool error fails the step, on_error continue goes on",
		flow: `
steps:
  - id: f
    call: {server: a, tool: fail}
    on_error: continue
  - id: after
    needs: [f]
    call: {server: a, tool: echo}
    with: {v: 1}
outputs:
  f: ${ .steps.f.status }
  class: ${ .steps.f.error.class }
  text: ${ .steps.f.text }
  after: ${ .steps.after.status }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "an unknown tool is refused, an unknown resource is a protocol error",
		flow: `
steps:
  - id: missing
    call: {server: a, tool: nosuch}
    on_error: continue
  - id: gone
    read: {server: b, uri: "test://b/nosuch"}
    on_error: continue
outputs:
  missing: ${ .steps.missing.status }
  missing_class: ${ .steps.missing.error.class }
  gone: ${ .steps.gone.status }
  gone_class: ${ .steps.gone.error.class }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "step timeout per attempt, retried on timeout",
		flow: `
steps:
  - id: s
    call: {server: a, tool: slow}
    with: {ms: 20000}
    timeout: 500ms
    retry: {max_attempts: 2, initial_interval: 1ms}
    on_error: continue
outputs:
  status: ${ .steps.s.status }
  class: ${ .steps.s.error.class }
  attempts: ${ .steps.s.attempts }
`,
		status: workflows.RunSucceeded,
		calls:  map[string]int{"a.slow": 2},
	},
	{
		name: "run timeout cancels the call in flight and finally runs",
		flow: `
flows: [a -> b]
timeout: 1s
steps:
  - id: work
    call: {server: a, tool: slow}
    with: {ms: 20000}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }, work: ${ .steps.work.status }}
`,
		status:    workflows.RunTimedOut,
		calls:     map[string]int{"a.slow": 1, "b.echo": 1},
		cancelled: "a",
	},
}

// TestScenariosMatchLocal runs every scenario on the local runtime and as
// a Temporal workflow (a flow worker, and one activity worker per server
// holding only that server's session), asserts that both ended alike,
// and replays the recorded history with the SDK's WorkflowReplayer.
func TestScenariosMatchLocal(t *testing.T) {
	c := needServer(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			src := "version: 1\nname: t\n" + sc.flow
			runID := "run-" + slug(t.Name())

			lw := newWorld(t, "a", "b")
			local := runLocal(t, lw, src, sc.inputs, runID)

			tw := newWorld(t, "a", "b")
			r := newRig(t, c, tw)
			remote, hist := r.run(t, runID, src, sc.inputs)

			if local.Status != sc.status {
				t.Errorf("local status %s, want %s (%s)", local.Status, sc.status, local.Error)
			}
			got, want := comparable(remote), comparable(local)
			if got != want {
				t.Errorf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
			}
			t.Logf("both: %s; %d events replayed", got, len(hist.Events))
			for call, n := range sc.calls {
				server, tool, _ := strings.Cut(call, ".")
				if got := lw.services[server].count(tool); got != n {
					t.Errorf("local: %s called %d times, want %d", call, got, n)
				}
				if got := tw.services[server].count(tool); got != n {
					t.Errorf("temporal: %s called %d times, want %d", call, got, n)
				}
			}
			if s := sc.cancelled; s != "" {
				if !lw.services[s].sawCancel(10 * time.Second) {
					t.Errorf("local: server %s saw no call cancelled", s)
				}
				if !tw.services[s].sawCancel(10 * time.Second) {
					t.Errorf("temporal: server %s saw no call cancelled", s)
				}
			}
			r.queuesHeld(t, hist)
			r.replay(t, hist)
		})
	}
}

// queuesHeld checks, in h, that every activity was scheduled on the queue
// of the server its input names, so it ran on that server's worker (the
// only one holding its session), and never on the flow worker's queue.
func (r *rig) queuesHeld(t *testing.T, h *historypb.History) {
	t.Helper()
	n := 0
	for _, ev := range h.Events {
		a := ev.GetActivityTaskScheduledEventAttributes()
		if a == nil {
			continue
		}
		n++
		var in struct {
			Server string `json:"server"`
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil || in.Server == "" {
			t.Fatalf("activity %s: input names no server (%v)", a.GetActivityType().GetName(), err)
		}
		if got, want := a.GetTaskQueue().GetName(), r.flows.Queue(in.Server); got != want {
			t.Errorf("activity %s for server %s scheduled on %s, want %s", a.GetActivityType().GetName(), in.Server, got, want)
		}
	}
	if n == 0 {
		t.Error("no activity in the history")
	}
}

// runLocal runs src on the local runtime, as mediator run does.
func runLocal(t *testing.T, w *world, src string, inputs map[string]any, runID string) *temporal.FlowOutput {
	t.Helper()
	fl, probs := flow.Check(context.Background(), "t.flow.yaml", []byte(src), flow.ValidateOptions{RetryAtRunTime: true})
	if errs := probs.Errors(); len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{
		Runtime: workflows.NewLocalRuntime(w.caller()), Inputs: inputs, RunID: runID,
		TrustAnnotations: func(string) bool { return true },
	})
	if res == nil {
		t.Fatalf("local run did not start: %v", err)
	}
	return toOutput(res)
}

// toOutput is a local RunResult as the workflow reports one.
func toOutput(res *workflows.RunResult) *temporal.FlowOutput {
	out := &temporal.FlowOutput{RunID: res.RunID, Status: res.Status, Outputs: res.Outputs, Steps: res.Steps}
	if res.Err != nil {
		out.Error, out.ErrorClass = res.Err.Error(), workflows.ErrorClass(res.Err)
	}
	if f := res.Finally; f != nil {
		out.Finally = &temporal.FinallyOutput{Status: f.Status, Steps: f.Steps}
		if f.Err != nil {
			out.Finally.Error, out.Finally.ErrorClass = f.Err.Error(), workflows.ErrorClass(f.Err)
		}
	}
	return out
}

// comparable is out as JSON without the errors' wording, which names the
// runtime's own transport (the classes stay).
func comparable(out *temporal.FlowOutput) string {
	o := *out
	if o.Error != "" {
		o.Error = "(set)"
	}
	if o.Finally != nil {
		f := *o.Finally
		if f.Error != "" {
			f.Error = "(set)"
		}
		o.Finally = &f
	}
	b, _ := json.Marshal(o)
	return string(b)
}

var nonSlug = regexp.MustCompile(`[^A-Za-z0-9]+`)

func slug(s string) string { return strings.Trim(nonSlug.ReplaceAllString(s, "-"), "-") }

// rig is one test's Temporal workers: the flow worker, on a queue of its
// own, and one activity worker per server of w, each holding only its
// server's session, on that server's queue. Queues carry a prefix of the
// test's own, so tests never pick up each other's tasks.
type rig struct {
	c      client.Client
	flows  *temporal.Flows
	prefix string
	// replayer are the options of the replayer of c's histories (its
	// converters).
	replayer worker.WorkflowReplayerOptions
}

var rigs atomic.Int64

func newRig(t testing.TB, c client.Client, w *world) *rig {
	t.Helper()
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	r := &rig{c: c, prefix: prefix, flows: &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }}}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	r.flows.Register(fw)
	start(t, fw)
	for name := range w.sessions {
		aw := worker.New(c, r.flows.Queue(name), worker.Options{})
		(&temporal.Activities{Caller: w.caller(name)}).Register(aw)
		start(t, aw)
	}
	return r
}

func start(t testing.TB, w worker.Worker) {
	t.Helper()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// run runs src as a workflow with id runID and returns how it ended and
// its history.
func (r *rig) run(t *testing.T, runID, src string, inputs map[string]any) (*temporal.FlowOutput, *historypb.History) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := temporal.FlowInput{Path: "t.flow.yaml", Source: []byte(src), Inputs: inputs, TrustedServers: []string{"a", "b"}}
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: runID, TaskQueue: r.prefix + "flows"}, temporal.WorkflowRunFlow, in)
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("workflow %s: %v", runID, err)
	}
	return &out, history(ctx, t, r.c, runID, run.GetRunID())
}

func history(ctx context.Context, t *testing.T, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

// replay replays h with the flow worker's code: it fails on any
// nondeterminism between the run and its replay.
func (r *rig) replay(t *testing.T, h *historypb.History) {
	t.Helper()
	rp, err := worker.NewWorkflowReplayerWithOptions(r.replayer)
	if err != nil {
		t.Fatal(err)
	}
	r.flows.Register(rp)
	if err := rp.ReplayWorkflowHistory(quietLogger(), h); err != nil {
		t.Errorf("replay of %d events: %v", len(h.Events), err)
	}
}
