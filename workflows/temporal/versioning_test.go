package temporal_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// updateHistories re-records testdata/histories from the current code:
// `go test ./workflows/temporal -run TestRecordedHistoriesReplay -update`.
var updateHistories = flag.Bool("update", false, "re-record workflows/temporal/testdata/histories with the current code (needs the test server)")

// historiesDir holds histories of runs recorded with earlier versions of
// the workflow code; each must keep replaying with the current code.
const historiesDir = "testdata/histories"

// historyQueue is the queue of server s's activities in the recorded
// histories: a replay compares each command's task queue with the one
// recorded, so it is fixed here rather than per test.
func historyQueue(s string) string { return "histories." + temporal.QueueFor(s) }

// recording is one run kept in testdata/histories.
type recording struct {
	name   string
	flow   string
	files  map[string]string
	inputs map[string]any
	// cancelAfterStart cancels the workflow once server a has started a
	// slow call.
	cancelAfterStart bool
	status           string
}

var recordings = []recording{
	{
		name: "simple",
		flow: `version: 1
name: simple
flows: [a -> b]
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {v: 2}
  - id: sum
    call: {server: b, tool: add}
    with: {a: "${ .steps.src.result.v }", b: 3}
outputs:
  sum: ${ .steps.sum.result.sum }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "for_each",
		flow: `version: 1
name: each
inputs:
  xs: {type: array, default: [1, 2, 3, 4, 5]}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    max_concurrency: 2
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: 1}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "retry",
		flow: `version: 1
name: retry
steps:
  - id: flaky
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 2}
    retry: {max_attempts: 3, initial_interval: 50ms, on: [tool_error]}
outputs:
  calls: ${ .steps.flaky.result.calls }
`,
		status: workflows.RunSucceeded,
	},
	{
		name: "uses",
		flow: `version: 1
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
		files:  map[string]string{"lib/adder.flow.yaml": adderFlow},
		status: workflows.RunSucceeded,
	},
	{
		name: "cancelled_with_finally",
		flow: `version: 1
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
`,
		cancelAfterStart: true,
		status:           workflows.RunCancelled,
	},
}

// TestRecordedHistoriesReplay replays every history in testdata/histories
// with the current workflow code: a change to the workflow or the
// interpreter that changes the commands a run emits (activities, timers,
// child workflows, their order) breaks runs in flight when workers are
// upgraded, and fails here unless it is guarded by workflow.GetVersion.
// With -update it first records them again (docs/scale.md, "Versioning").
func TestRecordedHistoriesReplay(t *testing.T) {
	if *updateHistories {
		recordHistories(t)
	}
	paths, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < len(recordings) {
		t.Fatalf("%d histories in %s, want at least %d: record them with -update", len(paths), historiesDir, len(recordings))
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(t *testing.T) {
			rp := worker.NewWorkflowReplayer()
			(&temporal.Flows{Queue: historyQueue}).Register(rp)
			if err := rp.ReplayWorkflowHistoryFromJSONFile(quietLogger(), p); err != nil {
				t.Errorf("replay %s: %v", p, err)
			}
		})
	}
}

// recordHistories runs every recording on the test server and writes its
// history as protojson, the format ReplayWorkflowHistoryFromJSONFile and
// `temporal workflow show --output json` use.
func recordHistories(t *testing.T) {
	c := needServer(t)
	if err := os.MkdirAll(historiesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "a", "b")
	flows := &temporal.Flows{Queue: historyQueue}
	fw := worker.New(c, "histories.flows", worker.Options{})
	flows.Register(fw)
	start(t, fw)
	for name := range w.sessions {
		aw := worker.New(c, historyQueue(name), worker.Options{})
		(&temporal.Activities{Caller: w.caller(name)}).Register(aw)
		start(t, aw)
	}
	for _, rec := range recordings {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		id := "history-" + rec.name + "-" + time.Now().UTC().Format("20060102T150405")
		in := temporal.FlowInput{Path: rec.name + ".flow.yaml", Source: []byte(rec.flow), TrustedServers: []string{"a", "b"}, Inputs: rec.inputs}
		if len(rec.files) > 0 {
			in.Files = map[string][]byte{}
			for p, src := range rec.files {
				in.Files[p] = []byte(src)
			}
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "histories.flows"}, temporal.WorkflowRunFlow, in)
		if err != nil {
			t.Fatal(err)
		}
		if rec.cancelAfterStart {
			if !w.services["a"].sawStart(time.Minute) {
				t.Fatalf("%s: the slow call never started", rec.name)
			}
			if err := c.CancelWorkflow(ctx, id, run.GetRunID()); err != nil {
				t.Fatal(err)
			}
		}
		var out temporal.FlowOutput
		if err := run.Get(ctx, &out); err != nil {
			t.Fatalf("%s: %v", rec.name, err)
		}
		if out.Status != rec.status {
			t.Fatalf("%s: run %s (%s), want %s", rec.name, out.Status, out.Error, rec.status)
		}
		h := history(ctx, t, c, id, run.GetRunID())
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(historiesDir, rec.name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s: %d events, %d bytes", rec.name, len(h.Events), len(b))
		cancel()
	}
}
