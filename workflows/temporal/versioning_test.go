package temporal_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
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

// recording is one run kept in testdata/histories, as <name>.json and
// its child workflows' as <name>.child<k>.json.
type recording struct {
	name   string
	flow   string
	files  map[string]string
	inputs map[string]any
	// limits are the flow worker's.
	limits temporal.Limits
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
	{
		name: "for_each_batched",
		flow: `version: 1
name: each
flows: [a -> b]
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {off: 10}
  - id: each
    for_each: ${ [range(5)] }
    max_concurrency: 2
    call: {server: b, tool: add}
    with: {a: "${ .item }", b: "${ .steps.src.result.off }"}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`,
		limits: temporal.Limits{BatchItems: 2},
		status: workflows.RunSucceeded,
	},
	{
		name: "uses_batched",
		flow: `version: 1
name: main
steps:
  - id: sync
    uses: lib/each.flow.yaml
    with: {n: 5}
finally:
  - id: report
    for_each: ${ [range(3)] }
    call: {server: a, tool: echo}
    with: {i: "${ .item }", status: "${ .run.status }"}
outputs:
  sums: ${ .steps.sync.result.sums }
`,
		files: map[string]string{"lib/each.flow.yaml": `version: 1
name: each
inputs:
  n: {type: number}
steps:
  - id: each
    for_each: ${ [range(.inputs.n)] }
    call: {server: a, tool: add}
    with: {a: "${ .item }", b: 1}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
`},
		limits: temporal.Limits{BatchItems: 2},
		status: workflows.RunSucceeded,
	},
}

// historyIDs is the file, in historiesDir, naming each recorded history's
// workflow id, for the histories whose replay depends on it (a run's
// child workflows' ids derive from its own); the others replay as the
// replayer's default id.
const historyIDs = "ids.json"

// TestRecordedHistoriesReplay replays every history in testdata/histories
// with the current workflow code: a change to the workflow or the
// interpreter that changes the commands a run emits (activities, timers,
// child workflows, markers, their order) breaks runs in flight when
// workers are upgraded, and fails here unless it is guarded by
// workflow.GetVersion. The v0-* histories were recorded before the limits
// and batches (childflow.go) existed; -update records the others again
// (docs/scale.md, "Versioning").
func TestRecordedHistoriesReplay(t *testing.T) {
	if *updateHistories {
		recordHistories(t)
	}
	paths, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(historiesDir, historyIDs)); err == nil {
		if err := json.Unmarshal(b, &ids); err != nil {
			t.Fatalf("%s: %v", historyIDs, err)
		}
	}
	n := 0
	for _, p := range paths {
		name := filepath.Base(p)
		if name == historyIDs {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			if err := replayFile(p, ids[name], temporal.Limits{}); err != nil {
				t.Errorf("replay %s: %v", p, err)
			}
		})
	}
	if n < 2*len(recordings) {
		t.Fatalf("%d histories in %s, want at least %d: record them with -update", n, historiesDir, 2*len(recordings))
	}
}

// A run recorded before batches existed replays its for_each in place on
// a flow worker that would now run those items in child workflows: the
// GetVersion guard (mediator.for_each-batches) keeps its commands.
func TestHistoryBeforeBatchesReplaysInPlace(t *testing.T) {
	if err := replayFile(filepath.Join(historiesDir, "v0-for_each.json"), "", temporal.Limits{BatchItems: 2}); err != nil {
		t.Fatal(err)
	}
}

// replayFile replays the history in file p as workflow id (the
// replayer's default when empty) on a flow worker under limits.
func replayFile(p, id string, limits temporal.Limits) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return err
	}
	rp := worker.NewWorkflowReplayer()
	(&temporal.Flows{Queue: historyQueue, Limits: limits}).Register(rp)
	return rp.ReplayWorkflowHistoryWithOptions(quietLogger(), h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: id}})
}

// recordHistories runs every recording on the test server and writes its
// history, and its child workflows', as protojson (the format of
// `temporal workflow show --output json`).
func recordHistories(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	for name := range w.sessions {
		aw := worker.New(c, historyQueue(name), worker.Options{})
		(&temporal.Activities{Caller: w.caller(name)}).Register(aw)
		start(t, aw)
	}
	// ids.json keeps the ids of the histories kept from earlier
	// recordings (renamed v<N>-*) beside the ones written here.
	ids := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(historiesDir, historyIDs)); err == nil {
		if err := json.Unmarshal(b, &ids); err != nil {
			t.Fatalf("%s: %v", historyIDs, err)
		}
	}
	for _, rec := range recordings {
		queue := "histories.flows." + rec.name
		fw := worker.New(c, queue, worker.Options{})
		(&temporal.Flows{Queue: historyQueue, Limits: rec.limits}).Register(fw)
		start(t, fw)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		id := "history-" + rec.name
		in := temporal.FlowInput{Path: rec.name + ".flow.yaml", Source: []byte(rec.flow), TrustedServers: []string{"a", "b"}, Inputs: rec.inputs}
		if len(rec.files) > 0 {
			in.Files = map[string][]byte{}
			for p, src := range rec.files {
				in.Files[p] = []byte(src)
			}
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, temporal.WorkflowRunFlow, in)
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
		ids[rec.name+".json"] = id
		writeHistory(t, rec.name+".json", h)
		for k, ch := range childRuns(h) {
			file := fmt.Sprintf("%s.child%d.json", rec.name, k+1)
			ids[file] = ch[0]
			writeHistory(t, file, history(ctx, t, c, ch[0], ch[1]))
		}
		cancel()
	}
	b, err := json.MarshalIndent(ids, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(historiesDir, historyIDs), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeHistory(t *testing.T, file string, h *historypb.History) {
	t.Helper()
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(historiesDir, file), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events, %d bytes of history", file, len(h.Events), historyBytes(h))
}
