package temporal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// itemsBatchFlow runs flaky over ten items, max_concurrency at a time, failing
// the items the input bad names once, with the given lines after the
// for_each (tolerate_failures, on_error); outputs read it item by item.
func itemsBatchFlow(concurrency, extra string) string {
	return `flows: [a -> b, b -> a]
inputs:
  bad: {type: object, default: {}}
  off: {type: number, default: 100}
steps:
  - id: src
    call: {server: b, tool: echo}
    with: {v: 7}
  - id: each
    for_each: ${ [range(10)] }
    max_concurrency: ` + concurrency + `
    call: {server: a, tool: flaky}
    with:
      key: ${ "k\(.item)-\(.steps.src.result.v + .inputs.off)" }
      fail_times: ${ if .inputs.bad[.item | tostring] then 1 else 0 end }
` + extra + `  - id: after
    call: {server: a, tool: echo}
    with: {seen: ${ .steps.each.status }}
outputs:
  status: ${ .steps.each.status }
  counts: ${ .steps.each.counts }
  calls: ${ [.steps.each.items[] | .result.calls] }
  failed: ${ [.steps.each.items[] | select(.status == "failed") | .index] }
  error: ${ .steps.each.error }
`
}

// TestForEachBatchesMatchLocal runs for_each steps whose items run in
// child workflows of three (Limits.BatchItems) and in place locally: the
// outputs read item by item, counts, tolerate_failures and fail-fast
// across batches, error classes, the on_error handler an item's nested
// step triggers, a for_each inside another's items, one among finally
// steps reading .run.status, and the calls made are the same; the run's
// history holds
// a child workflow per batch and none of the items' activities, and it
// and every child's history replay.
func TestForEachBatchesMatchLocal(t *testing.T) {
	c := needServer(t)
	for _, sc := range []scenario{
		{name: "items read", flow: itemsBatchFlow("3", ""), status: workflows.RunSucceeded, calls: map[string]int{"a.flaky": 10}},
		{name: "tolerated failures", flow: itemsBatchFlow("1", "    tolerate_failures: 2\n"), inputs: map[string]any{"bad": map[string]any{"3": true, "7": true}},
			status: workflows.RunSucceeded, calls: map[string]int{"a.flaky": 10}},
		{name: "failures over the bound stop the rest", flow: itemsBatchFlow("1", "    tolerate_failures: 1\n"), inputs: map[string]any{"bad": map[string]any{"1": true, "5": true, "8": true}},
			status: workflows.RunFailed, calls: map[string]int{"a.flaky": 6}},
		{name: "on_error continue", flow: itemsBatchFlow("2", "    on_error: continue\n"), inputs: map[string]any{"bad": map[string]any{"4": true}},
			status: workflows.RunSucceeded, calls: map[string]int{"a.flaky": 10}},
		{name: "a nested step's handler outside", flow: `
flows: [a -> b]
steps:
  - id: each
    for_each: ${ [range(7)] }
    max_concurrency: 2
    steps:
      - id: try
        call: {server: a, tool: flaky}
        with:
          key: ${ "n\(.item)" }
          fail_times: ${ if .item == 4 then 1 else 0 end }
        on_error: recover
      - id: then
        if: ${ .steps.try.status == "succeeded" }
        call: {server: a, tool: echo}
        with: {calls: "${ .steps.try.result.calls }"}
  - id: recover
    call: {server: b, tool: echo}
    with: {x: 1}
outputs:
  items: ${ [.steps.each.items[] | .status] }
  recover: ${ .steps.recover.status }
`, status: workflows.RunSucceeded, calls: map[string]int{"a.flaky": 7, "a.echo": 6, "b.echo": 1}},
		{name: "inside another for_each's items", flow: `
flows: [a -> b, b -> a]
steps:
  - id: outer
    for_each: ${ [1, 2] }
    steps:
      - id: pre
        call: {server: a, tool: echo}
        with: {v: "${ .item * 10 }"}
      - id: inner
        for_each: ${ [range(4 + .item)] }
        max_concurrency: 2
        call: {server: b, tool: add}
        with: {a: "${ .item }", b: "${ .steps.pre.result.v }"}
outputs:
  all: ${ [.steps.outer.items[] | .result.inner] }
`, status: workflows.RunSucceeded, calls: map[string]int{"a.echo": 2, "b.add": 11}},
		{name: "a finally step reading the run's outcome", flow: `
steps:
  - id: first
    call: {server: a, tool: echo}
    with: {v: 1}
finally:
  - id: report
    for_each: ${ [range(7)] }
    if: ${ .run.status == "succeeded" }
    call: {server: a, tool: echo}
    with: {i: "${ .item }"}
`, status: workflows.RunSucceeded, calls: map[string]int{"a.echo": 8}},
	} {
		t.Run(slug(sc.name), func(t *testing.T) {
			src := "version: 1\nname: t\n" + sc.flow
			runID := "batches-" + slug(t.Name())
			lw := newWorld(t, "a", "b")
			local := runLocal(t, lw, src, sc.inputs, runID)

			tw := newWorld(t, "a", "b")
			r := newLimitedRig(t, c, tw, temporal.Limits{BatchItems: 3})
			remote, hist := r.run(t, runID, src, sc.inputs)
			if local.Status != sc.status {
				t.Errorf("local status %s, want %s (%s)", local.Status, sc.status, local.Error)
			}
			if got, want := comparable(remote), comparable(local); got != want {
				t.Errorf("batched and local runs differ:\nbatched %s\n  local %s", got, want)
			}
			for call, n := range sc.calls {
				server, tool, _ := strings.Cut(call, ".")
				if got := lw.services[server].count(tool); got != n {
					t.Errorf("local: %s called %d times, want %d", call, got, n)
				}
				if got := tw.services[server].count(tool); got != n {
					t.Errorf("temporal: %s called %d times, want %d", call, got, n)
				}
			}
			children := childRuns(hist)
			if len(children) < 2 {
				t.Errorf("%d child workflows, want the items in batches", len(children))
			}
			for _, ev := range hist.Events {
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && strings.Contains(string(a.GetInput().GetPayloads()[0].GetData()), `"tool":"flaky"`) {
					t.Fatal("an item's call is in the run's own history")
				}
			}
			if out := remote.Finally; out != nil && out.Status != workflows.StatusSucceeded {
				t.Errorf("finally %+v", out)
			}
			replayAs(t, r, hist, runID)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, ch := range children {
				replayAs(t, r, history(ctx, t, c, ch[0], ch[1]), ch[0])
			}
			t.Logf("%d events in the run's history, %d child workflows", len(hist.Events), len(children))
		})
	}
}

// childRuns are the workflow and run ids of the child workflows in h.
func childRuns(h *historypb.History) [][2]string {
	var out [][2]string
	for _, ev := range h.Events {
		if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			out = append(out, [2]string{a.GetWorkflowExecution().GetWorkflowId(), a.GetWorkflowExecution().GetRunId()})
		}
	}
	return out
}

// Cancelling a run whose items run in child workflows cancels the child
// in flight (its call is cancelled on the server), marks its items and
// the batches not started cancelled, and the run's finally steps still
// run.
func TestCancelBatches(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	r := newLimitedRig(t, c, w, temporal.Limits{BatchItems: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := `version: 1
name: cancel
flows: [a -> b]
steps:
  - id: work
    for_each: ${ [range(6)] }
    max_concurrency: 1
    call: {server: a, tool: slow}
    with: {ms: ${ if .item == 2 then 60000 else 1 end }}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }}
outputs:
  n: ${ .steps.work.counts }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "cancel-batches", TaskQueue: r.prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "cancel.flow.yaml", Source: []byte(src), TrustedServers: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // items 0 and 1, then the slow item 2 in the second batch
		if !w.services["a"].sawStart(time.Minute) {
			t.Fatal("the slow call never started")
		}
	}
	if err := c.CancelWorkflow(ctx, "cancel-batches", run.GetRunID()); err != nil {
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
	if n := w.services["a"].count("slow"); n != 3 {
		t.Errorf("%d slow calls, want 3: the batches after the cancelled one never start", n)
	}
	hist := history(ctx, t, c, "cancel-batches", run.GetRunID())
	children := childRuns(hist)
	if len(children) != 2 {
		t.Fatalf("%d child workflows, want 2", len(children))
	}
	desc, err := c.DescribeWorkflow(ctx, children[1][0], children[1][1])
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED && st != enums.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("the cancelled batch's workflow ended %s", st)
	}
	replayAs(t, r, hist, "cancel-batches")
	replayAs(t, r, history(ctx, t, c, children[1][0], children[1][1]), children[1][0])
}

// replayAs replays h as r.replay does, as the workflow of id id: a run's
// child workflows' ids derive from its own, which a replay must know.
func replayAs(t *testing.T, r *rig, h *historypb.History, id string) {
	t.Helper()
	rp, err := worker.NewWorkflowReplayerWithOptions(r.replayer)
	if err != nil {
		t.Fatal(err)
	}
	r.flows.Register(rp)
	if err := rp.ReplayWorkflowHistoryWithOptions(quietLogger(), h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: id}}); err != nil {
		t.Errorf("replay of %s's %d events: %v", id, len(h.Events), err)
	}
}

// A call blocked in a batch (its worker killed mid-call, the tool unsafe
// to send again) blocks the run: the run's status lists it in the batch's
// child workflow, and Resolve reaches it there.
func TestResolveInBatch(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newTestService("a")
	srv := svc.server()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	// 1,001 items make two batches of the default 1,000; only the last
	// item calls.
	src := `version: 1
name: charge
steps:
  - id: each
    for_each: ${ [range(1001)] }
    if: ${ .item == 1000 }
    call: {server: a, tool: charge_slow}
    with: {ms: 1500}
outputs:
  counts: ${ .steps.each.counts }
`
	const id = "resolve-in-batch"
	k := startKillable(t, ctx, c, id, src, hs.URL)
	if !svc.sawStart(time.Minute) {
		t.Fatal("the call never started")
	}
	k.kill(t)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	aw := worker.New(c, k.rig.flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": cs}}}).Register(aw)
	start(t, aw)

	st := waitStatus(t, ctx, c, id, workflows.RunBlocked)
	if len(st.Blocked) != 1 || st.Blocked[0].Path != "each[1000]" || st.Blocked[0].Workflow != id+"/each[1000:1001]" {
		t.Fatalf("blocked calls %+v, want each[1000] in the second batch's workflow", st.Blocked)
	}
	if err := temporal.Resolve(ctx, c, id, workflows.ResolveRerun, nil); err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := k.run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	counts, _ := out.Outputs["counts"].(map[string]any)
	if out.Status != workflows.RunSucceeded || counts["succeeded"] != 1.0 || counts["skipped"] != 1000.0 {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	if n := svc.acted(); n != 2 {
		t.Errorf("the server acted %d times, want twice (rerun)", n)
	}
	if n := len(childRuns(history(ctx, t, c, id, k.run.GetRunID()))); n != 2 {
		t.Errorf("%d child workflows, want 2", n)
	}
}

// Under a limit scaled down to 800 events, 300 items of one call do not
// fit in one history (refused in place) but run in child workflows sized
// to the limit by default, every history under it.
func TestListPastOneHistoryRunsInBatches(t *testing.T) {
	c := needServer(t)
	limits := temporal.Limits{Events: 800}
	in := map[string]any{"xs": numbers(300)}
	fi := temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(eachFlow), Inputs: in}
	if _, err := temporal.CheckFits(context.Background(), fi, temporal.Limits{Events: 800, BatchItems: -1}); err == nil {
		t.Fatal("300 items fit in 800 events in place")
	}
	est, err := temporal.CheckFits(context.Background(), fi, limits)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "a")
	r := newLimitedRig(t, c, w, limits)
	out, h := r.run(t, "past-one-history", eachFlow, in)
	if out.Status != workflows.RunSucceeded || w.services["a"].count("add") != 300 {
		t.Fatalf("run %s (%s), %d calls", out.Status, out.Error, w.services["a"].count("add"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	children := childRuns(h)
	if len(children) != 3 {
		t.Errorf("%d child workflows, want 3 (129 items each at most)", len(children))
	}
	if len(h.Events) >= 800 {
		t.Errorf("the run's history has %d events", len(h.Events))
	}
	for _, ch := range children {
		if n := len(history(ctx, t, c, ch[0], ch[1]).Events); n >= 800 {
			t.Errorf("child %s has %d events", ch[0], n)
		}
	}
	t.Logf("estimate %d events; the run's history %d events, %d child workflows", est.Events, len(h.Events), len(children))
}

// A for_each of a sub-flow runs in child workflows too, the sub-flow
// files travelling with each batch, also when the uses step is an item of
// a for_each; the run ends as the local run of the same files.
func TestSubFlowBatchesMatchLocal(t *testing.T) {
	c := needServer(t)
	files := map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [a -> b, b -> a]
steps:
  - id: sync
    uses: lib/inner.flow.yaml
    with: {n: 8, off: 100}
  - id: twice
    for_each: ${ [1, 2] }
    uses: lib/inner.flow.yaml
    with: {n: "${ 3 + .item }"}
outputs:
  sums: ${ .steps.sync.result.sums }
  twice: ${ [.steps.twice.items[].result.sums] }
`,
		"lib/inner.flow.yaml": `version: 1
name: inner
flows: [a -> b]
inputs:
  n: {type: number}
  off: {type: number, default: 1}
steps:
  - id: base
    call: {server: a, tool: echo}
    with: {v: 5}
  - id: each
    for_each: ${ [range(.inputs.n)] }
    max_concurrency: 2
    call: {server: b, tool: add}
    with: {a: "${ .item }", b: "${ .steps.base.result.v + .inputs.off }"}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`,
	}
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "main.flow.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, probs, err := temporal.ReadFlowInput(ctx, main, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("ReadFlowInput: %v %v", err, probs)
	}
	in.TrustedServers = []string{"a", "b"}
	fl, probs, err := workflows.LoadForRun(ctx, main, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("LoadForRun: %v %v", err, probs)
	}
	lw := newWorld(t, "a", "b")
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(lw.caller()), RunID: "subflow-batches",
		TrustAnnotations: func(string) bool { return true }})
	if res == nil {
		t.Fatal(err)
	}
	local := toOutput(res)

	tw := newWorld(t, "a", "b")
	r := newLimitedRig(t, c, tw, temporal.Limits{BatchItems: 3})
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "subflow-batches", TaskQueue: r.prefix + "flows"}, temporal.WorkflowRunFlow, in)
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
		t.Fatalf("batched and local runs differ:\nbatched %s\n  local %s", got, want)
	}
	if l, b := lw.services["b"].count("add"), tw.services["b"].count("add"); l != 17 || b != 17 {
		t.Errorf("add called %d times locally, %d batched; want 17", l, b)
	}
	hist := history(ctx, t, c, "subflow-batches", run.GetRunID())
	children := childRuns(hist)
	if len(children) != 7 {
		t.Errorf("%d child workflows, want 7 (8 items in 3 batches, 4 and 5 in 2 each)", len(children))
	}
	replayAs(t, r, hist, "subflow-batches")
	for _, ch := range children {
		replayAs(t, r, history(ctx, t, c, ch[0], ch[1]), ch[0])
	}
}

// A batch whose result would pass Temporal's payload limit (its items'
// views, read item by item, are large) fails its items saying so and what
// to do, instead of its workflow task failing over and over.
func TestBatchResultOverPayloadLimit(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	r := newLimitedRig(t, c, w, temporal.Limits{BatchItems: 2})
	src := `version: 1
name: big
steps:
  - id: each
    for_each: ${ [range(4)] }
    max_concurrency: 1
    call: {server: a, tool: big}
    with: {bytes: 700000}
outputs:
  n: ${ [.steps.each.items[] | .text | length] }
`
	out, _ := r.run(t, "batch-over-payload", src, nil)
	if out.Status != workflows.RunFailed || out.Steps["each"] != workflows.StatusFailed {
		t.Fatalf("run %s, steps %v; want each failed", out.Status, out.Steps)
	}
	for _, want := range []string{"the batch's result", "past the 2.0 MiB a Temporal payload may carry", "lower Limits.BatchItems"} {
		if !strings.Contains(out.Error, want) {
			t.Errorf("error %q does not say %q", out.Error, want)
		}
	}
}

// A batch whose input would pass the payload limit (its items read a
// large result of a step outside the for_each) is not sent: its items run
// in the run's own workflow, and the run ends as the local run does.
func TestBatchInputOverPayloadLimitRunsInPlace(t *testing.T) {
	c := needServer(t)
	src := `version: 1
name: big
steps:
  - id: src
    call: {server: a, tool: big}
    with: {bytes: 1200000}
  - id: each
    for_each: ${ [range(5)] }
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: "${ .steps.src.text | length }"}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`
	local := runLocal(t, newWorld(t, "a"), src, nil, "batch-input-in-place")
	w := newWorld(t, "a")
	r := newLimitedRig(t, c, w, temporal.Limits{BatchItems: 2})
	out, h := r.run(t, "batch-input-in-place", src, nil)
	if got, want := comparable(out), comparable(local); got != want || out.Status != workflows.RunSucceeded {
		t.Fatalf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
	}
	if n := len(childRuns(h)); n != 0 {
		t.Errorf("%d child workflows, want the items run in place", n)
	}
}
