package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// batchRuntime runs large for_each steps in batches through RunItems, in
// this process, each batch and its result passing through JSON as a
// child workflow's input and result do; it leaves the batch from item 3
// to the engine (ErrRunInPlace), so runs mix both.
type batchRuntime struct {
	*LocalRuntime
	fl      *flow.Flow
	inputs  map[string]any
	size    int
	batches atomic.Int64
}

func (r *batchRuntime) ItemsBatchSize(_ context.Context, _ *flow.Step, _ string, _ []any) int {
	return r.size
}

func (r *batchRuntime) RunItems(ctx context.Context, b ItemsBatch) (*ItemsResult, error) {
	r.batches.Add(1)
	if b.From == 3 {
		return nil, fmt.Errorf("%w: a test's choice", ErrRunInPlace)
	}
	var in ItemsBatch
	if err := jsonRoundTrip(b, &in); err != nil {
		return nil, err
	}
	res, err := RunItems(ctx, r.fl, in, RunOptions{Runtime: r.LocalRuntime, Inputs: r.inputs, TrustAnnotations: trustAll})
	if err != nil {
		return nil, err
	}
	var out ItemsResult
	return &out, jsonRoundTrip(res, &out)
}

func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// TestBatchesMatchInPlace: a for_each run in batches (RunItems) ends as
// the same run in place: statuses, outputs read item by item, counts,
// fail-fast and tolerate_failures across batches, error messages and
// classes, the on_error handlers its items trigger, the calls made.
func TestBatchesMatchInPlace(t *testing.T) {
	cases := []struct {
		name   string
		src    string
		inputs map[string]any
	}{
		{name: "outer results, inputs and items read", src: `version: 1
name: t
inputs:
  off: {type: number, default: 100}
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {v: 7}
  - id: each
    for_each: ${ [range(10)] }
    max_concurrency: 3
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: "${ .steps.src.result.v + .inputs.off + .index }"}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
  counts: ${ .steps.each.counts }
  idx: ${ [.steps.each.items[].index] }
`},
		{name: "tolerated failures", src: toleranceFlow("    tolerate_failures: 2\n", ""), inputs: map[string]any{"bad": map[string]any{"3": true, "7": true}}},
		{name: "failures over the bound stop the rest", src: toleranceFlow("    tolerate_failures: 1\n", ""), inputs: map[string]any{"bad": map[string]any{"1": true, "5": true, "8": true}}},
		{name: "fail fast", src: toleranceFlow("", ""), inputs: map[string]any{"bad": map[string]any{"4": true}}},
		{name: "on_error continue", src: toleranceFlow("", "    on_error: continue\n"), inputs: map[string]any{"bad": map[string]any{"4": true, "8": true}}},
		{name: "a nested step's handler outside", src: `version: 1
name: t
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
    call: {server: a, tool: echo}
    with: {x: 1}
outputs:
  items: ${ [.steps.each.items[] | .status] }
  recover: ${ .steps.recover.status }
`},
		{name: "inside another for_each's items", src: `version: 1
name: t
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
        call: {server: a, tool: add}
        with: {a: "${ .item }", b: "${ .steps.pre.result.v }"}
outputs:
  all: ${ [.steps.outer.items[] | .result.inner] }
`},
		{name: "a finally step, reading the run's outcome", src: `version: 1
name: t
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
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fl := parseFlow(t, tc.src)
			run := func(batched bool) (string, *harness, int64) {
				h := newHarness(t)
				opts := h.opts(tc.inputs)
				opts.Journal = nil
				opts.RunID = "run-1"
				br := &batchRuntime{LocalRuntime: NewLocalRuntime(h.caller), fl: fl, inputs: tc.inputs, size: 3}
				if batched {
					opts.Runtime = br
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res, err := Run(ctx, fl, opts)
				if res == nil {
					t.Fatal(err)
				}
				msg, class := "", ""
				if res.Err != nil {
					msg, class = res.Err.Error(), ErrorClass(res.Err)
				}
				b, _ := json.Marshal(map[string]any{"status": res.Status, "steps": res.Steps, "outputs": res.Outputs, "error": msg, "class": class, "finally": res.Finally})
				return string(b), h, br.batches.Load()
			}
			want, lh, _ := run(false)
			got, bh, batches := run(true)
			if got != want {
				t.Errorf("batched and in place differ:\nbatched  %s\nin place %s", got, want)
			}
			if batches < 2 {
				t.Errorf("%d batches, want the items run in batches", batches)
			}
			for _, tool := range []string{"add", "flaky", "echo"} {
				if l, b := lh.services["a"].count(tool), bh.services["a"].count(tool); l != b {
					t.Errorf("%s called %d times in place, %d in batches", tool, l, b)
				}
			}
			t.Logf("%d batches: %s", batches, got)
		})
	}
}

// TestBatchesInSubFlowMatchInPlace: a for_each of a sub-flow runs in
// batches too (the batch remakes the sub-flow's engine through the same
// uses steps, with the sub-flow run's inputs), also when the uses step is
// itself an item of a for_each; the run ends as in place.
func TestBatchesInSubFlowMatchInPlace(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
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
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: "${ .steps.base.result.v + .inputs.off }"}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`,
	})
	fl := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	run := func(batched bool) (string, int, int64) {
		h := newHarness(t)
		opts := h.opts(nil)
		opts.Journal = nil
		opts.RunID = "run-1"
		br := &batchRuntime{LocalRuntime: NewLocalRuntime(h.caller), fl: fl, size: 3}
		if batched {
			opts.Runtime = br
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := Run(ctx, fl, opts)
		if res == nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"status": res.Status, "steps": res.Steps, "outputs": res.Outputs, "error": fmt.Sprint(res.Err)})
		return string(b), h.services["a"].count("add"), br.batches.Load()
	}
	want, wantCalls, _ := run(false)
	got, gotCalls, batches := run(true)
	if got != want || gotCalls != wantCalls {
		t.Errorf("batched and in place differ:\nbatched  %s (%d calls)\nin place %s (%d calls)", got, gotCalls, want, wantCalls)
	}
	// sync's 8 items in 3 batches, twice's 4 and 5 in 2 each.
	if batches != 7 {
		t.Errorf("%d batches, want 7", batches)
	}
	t.Logf("%d batches: %s", batches, got)
}
