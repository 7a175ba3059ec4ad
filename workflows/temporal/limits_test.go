package temporal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

const eachFlow = `version: 1
name: each
inputs:
  xs: {type: array}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: 1}
`

func numbers(n int) []any {
	xs := make([]any, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// TestCheckFits: a for_each over a list the inputs give is counted item
// by item at its retry's max attempts; past the limit the error names the
// step, its items, the estimate, the limit and how many items fit, and a
// list known only during the run is left to the run's own check.
func TestCheckFits(t *testing.T) {
	ctx := context.Background()
	inPlace := temporal.Limits{BatchItems: -1}
	in := temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(eachFlow), Inputs: map[string]any{"xs": numbers(100)}}
	est, err := temporal.CheckFits(ctx, in, inPlace)
	if err != nil {
		t.Fatalf("100 items: %v", err)
	}
	if len(est.Steps) != 1 || est.Steps[0].Items != 100 || est.Events < 100*6 || len(est.Unknown) != 0 {
		t.Fatalf("estimate %+v, want 100 items at 6 events or more each", est)
	}
	if w := est.Warnings(temporal.Limits{}); len(w) != 0 {
		t.Errorf("warnings %v for a small run", w)
	}

	in.Inputs = map[string]any{"xs": numbers(8_000)}
	est, err = temporal.CheckFits(ctx, in, inPlace)
	if err != nil {
		t.Fatalf("8,000 items of one attempt: %v", err)
	}
	if w := est.Warnings(inPlace); len(w) == 0 {
		t.Errorf("no warning at %d events", est.Events)
	}

	in.Inputs = map[string]any{"xs": numbers(10_000)}
	retried := strings.Replace(eachFlow, "    call:", "    retry: {max_attempts: 3, on: [tool_error]}\n    call:", 1)
	in.Source = []byte(retried)
	_, err = temporal.CheckFits(ctx, in, inPlace)
	if err == nil {
		t.Fatal("10,000 items at 3 attempts each fit")
	}
	if !errors.Is(err, temporal.ErrWouldNotFit) {
		t.Errorf("error %v does not wrap ErrWouldNotFit", err)
	}
	for _, want := range []string{"the run would not fit in Temporal's history and would be ended halfway", "step each", "10000 items", "51200", "at most 1827 items per run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// In child workflows of 1,000 items (28,000 events each at most),
	// the run's own history holds ten of them.
	est, err = temporal.CheckFits(ctx, in, temporal.Limits{})
	if err != nil || est.Steps[0].Batch != 1000 || est.Events > 200 {
		t.Fatalf("estimate %+v, %v; want batches of 1,000 items", est, err)
	}
	_, err = temporal.CheckFits(ctx, in, temporal.Limits{Events: 500, BatchItems: 10})
	for _, want := range []string{"step each", "in child workflows of 10 each", "at most 420 items per run"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}

	_, err = temporal.CheckFits(ctx, in, temporal.Limits{Events: 1 << 30, Bytes: 1 << 20, BatchItems: -1})
	if err == nil || !strings.Contains(err.Error(), "MiB of history") {
		t.Errorf("error %v, want the bytes limit named", err)
	}

	// Batches' items travel in their children's inputs: a list of 3 MB
	// runs in batches of 512 KiB of items (261 of these), and it is in
	// the run's input and again in the batches': not in 5 MiB.
	big := make([]any, 1500)
	for i := range big {
		big[i] = strings.Repeat("x", 2000)
	}
	est, err = temporal.CheckFits(ctx, temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(eachFlow), Inputs: map[string]any{"xs": big}},
		temporal.Limits{Bytes: 5 << 20, BatchItems: 1000})
	if err == nil || !strings.Contains(err.Error(), "MiB of history, past Temporal's limit of 5.0 MiB") || est.Steps[0].Batch != 261 {
		t.Errorf("estimate %+v, error %v; want the batches' bytes over the limit", est, err)
	}

	late := temporal.FlowInput{Path: "late.flow.yaml", Source: []byte(lateFlow)}
	est, err = temporal.CheckFits(ctx, late, temporal.Limits{Events: 100})
	if err != nil || len(est.Unknown) != 1 || est.Unknown[0] != "each" {
		t.Fatalf("estimate %+v, %v; want the for_each's items unknown and no refusal", est, err)
	}
}

// lateFlow's for_each list is a step's result: known only during the run.
const lateFlow = `version: 1
name: late
flows: [a -> b]
inputs:
  n: {type: number, default: 5}
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {xs: "${ [range(.inputs.n)] }"}
  - id: each
    for_each: ${ .steps.src.result.xs }
    call: {server: b, tool: add}
    with: {a: "${ .item }", b: 1}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }}
`

// newLimitedRig is newRig with the flow worker's Flows under limits.
func newLimitedRig(t *testing.T, c client.Client, w *world, limits temporal.Limits) *rig {
	t.Helper()
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	r := &rig{c: c, prefix: prefix, flows: &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, Limits: limits}}
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

// A run whose estimate passes the limits fails as not started, naming the
// step, before any call.
func TestRunRefusedAtSubmission(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	r := newLimitedRig(t, c, w, temporal.Limits{Events: 300, BatchItems: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(eachFlow), Inputs: map[string]any{"xs": numbers(100)}, TrustedServers: []string{"a", "b"}}
	if _, err := temporal.CheckFits(ctx, in, temporal.Limits{Events: 300, BatchItems: -1}); err == nil {
		t.Fatal("CheckFits let 100 items through a limit of 300 events")
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "refused-at-submission", TaskQueue: r.prefix + "flows"}, temporal.WorkflowRunFlow, in)
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if !temporal.IsNotStarted(err) || !strings.Contains(err.Error(), "step each") || !strings.Contains(err.Error(), "limit of 300") {
		t.Fatalf("workflow ended with %v, want not started, naming step each and the limit", err)
	}
	if n := w.services["a"].count("add"); n != 0 {
		t.Errorf("%d calls made by a refused run", n)
	}
}

// A for_each whose items are known only during the run is checked before
// its first call against the history so far: the step fails with an error
// naming its items and the limit, no item runs, the finally steps (whose
// room was kept) still run, and the run replays.
func TestForEachRefusedDuringRun(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	r := newLimitedRig(t, c, w, temporal.Limits{Events: 400, BatchItems: -1})
	fits, hist := r.run(t, "fits-during-run", lateFlow, map[string]any{"n": 5})
	if fits.Status != workflows.RunSucceeded {
		t.Fatalf("5 items: run %s (%s)", fits.Status, fits.Error)
	}
	r.replay(t, hist)

	out, hist := r.run(t, "refused-during-run", lateFlow, map[string]any{"n": 100})
	if out.Status != workflows.RunFailed || out.Steps["each"] != workflows.StatusFailed || out.Steps["src"] != workflows.StatusSucceeded {
		t.Fatalf("run %s, steps %v (%s); want step each failed", out.Status, out.Steps, out.Error)
	}
	for _, want := range []string{"step each failed", "its 100 items would not fit", "at 400 events", "At most"} {
		if !strings.Contains(out.Error, want) {
			t.Errorf("error %q does not say %q", out.Error, want)
		}
	}
	t.Logf("refused: %s", out.Error)
	if out.Finally == nil || out.Finally.Status != workflows.StatusSucceeded {
		t.Errorf("finally %+v, want the report made", out.Finally)
	}
	if n := w.services["b"].count("add"); n != 5 {
		t.Errorf("%d add calls, want the 5 of the first run and none of the refused one", n)
	}
	if len(hist.Events) > 400 {
		t.Errorf("%d events, past the limit", len(hist.Events))
	}
	r.replay(t, hist)

	// In child workflows of two items, 100 items make 50 of them: past
	// the limit too.
	rb := newLimitedRig(t, c, w, temporal.Limits{Events: 400, BatchItems: 2})
	out, _ = rb.run(t, "refused-in-batches", lateFlow, map[string]any{"n": 100})
	if out.Steps["each"] != workflows.StatusFailed || !strings.Contains(out.Error, "in child workflows of 2 items") {
		t.Fatalf("steps %v, error %q; want step each refused, naming its batches", out.Steps, out.Error)
	}
	if n := w.services["b"].count("add"); n != 5 {
		t.Errorf("%d add calls, want none from the refused runs", n)
	}
}

// TestEstimateBoundsHistory runs for_each steps of known sizes, checks
// that the estimate bounds the history each made, and logs the measured
// events and bytes per item (docs/scale.md, "Limits").
func TestEstimateBoundsHistory(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	inPlace := temporal.Limits{BatchItems: -1}
	batched := temporal.Limits{BatchItems: 100}
	rigs := map[temporal.Limits]*rig{inPlace: newLimitedRig(t, c, w, inPlace), batched: newLimitedRig(t, c, w, batched)}
	for _, tc := range []struct {
		name   string
		src    string
		items  int
		limits temporal.Limits
	}{
		{"one call per item, 8 at a time", eachFlow, 100, inPlace},
		{"one call per item, one at a time", strings.Replace(eachFlow, "    call:", "    max_concurrency: 1\n    call:", 1), 50, inPlace},
		{"one call, retried twice", strings.Replace(eachFlow, "tool: add}\n    with: {a: \"${ .item }\", b: 1}", "tool: flaky}\n    with: {key: \"${ .item }\", fail_times: 2}\n    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}", 1), 10, inPlace},
		{"one call per item, in child workflows of 100", eachFlow, 200, batched},
	} {
		t.Run(slug(tc.name), func(t *testing.T) {
			in := map[string]any{"xs": numbers(tc.items)}
			est, err := temporal.CheckFits(context.Background(), temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(tc.src), Inputs: in}, tc.limits)
			if err != nil {
				t.Fatal(err)
			}
			r := rigs[tc.limits]
			out, h := r.run(t, "measure-"+slug(tc.name), tc.src, in)
			if out.Status != workflows.RunSucceeded {
				t.Fatalf("run %s (%s)", out.Status, out.Error)
			}
			bytes := historyBytes(h)
			t.Logf("%d items: %d events (%.2f per item), %d bytes (%d per item, %d per event); estimate %d events, %d bytes",
				tc.items, len(h.Events), float64(len(h.Events))/float64(tc.items), bytes, bytes/tc.items, bytes/len(h.Events), est.Events, est.Bytes)
			if len(h.Events) > est.Events {
				t.Errorf("%d events, over the estimate of %d", len(h.Events), est.Events)
			}
			if int64(bytes) > est.Bytes {
				t.Errorf("%d bytes, over the estimate of %d", bytes, est.Bytes)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, ch := range childRuns(h) {
				ch := history(ctx, t, c, ch[0], ch[1])
				t.Logf("a child workflow: %d events, %d bytes", len(ch.Events), historyBytes(ch))
			}
		})
	}
}

// historyBytes is h's size as Temporal counts it: its events' encoded
// protobuf.
func historyBytes(h *historypb.History) int {
	n := 0
	for _, ev := range h.Events {
		n += proto.Size(ev)
	}
	return n
}

// A run whose outputs would pass the payload limit ends failed, its steps'
// statuses kept, saying its outputs cannot be returned, instead of its
// workflow failing to complete over and over.
func TestOutputsOverPayloadLimit(t *testing.T) {
	c := needServer(t)
	r := newLimitedRig(t, c, newWorld(t, "a"), temporal.Limits{})
	src := `version: 1
name: big
steps:
  - id: src
    call: {server: a, tool: big}
    with: {bytes: 1300000}
outputs:
  a: ${ .steps.src.text }
  b: ${ .steps.src.text }
`
	out, _ := r.run(t, "outputs-over-payload", src, nil)
	if out.Status != workflows.RunFailed || out.Steps["src"] != workflows.StatusSucceeded || out.Outputs != nil {
		t.Fatalf("run %s, steps %v; want failed with src succeeded and no outputs", out.Status, out.Steps)
	}
	for _, want := range []string{"the run's result (its outputs) is 2.5 MiB of JSON, past the 2.0 MiB", "the run's steps ended succeeded"} {
		if !strings.Contains(out.Error, want) {
			t.Errorf("error %q does not say %q", out.Error, want)
		}
	}
}
