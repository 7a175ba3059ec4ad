package workflows

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// workFlow succeeds, fails (fail: true), or succeeds with a failing
// cleanup (break_cleanup: true); its finally steps report what they saw.
const workFlow = `version: 1
name: work
flows: [a -> b]
inputs:
  fail: {type: boolean, default: false}
  break_cleanup: {type: boolean, default: false}
steps:
  - id: good
    if: ${ .inputs.fail | not }
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: bad
    if: ${ .inputs.fail }
    call: {server: a, tool: fail}
outputs:
  v: ${ .steps.good.result.v }
finally:
  - id: cleanup
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }, good: ${ .steps.good.status }}
  - id: broken_cleanup
    # After cleanup, whose call its failure would cancel otherwise.
    needs: [cleanup]
    if: ${ .inputs.break_cleanup }
    call: {server: b, tool: charge}
`

// TestUsesSubFlowFinally: a sub-flow's finally steps run after its steps
// on every run of it, whatever their outcome, read the sub-flow's own
// outcome in .run.status, and are journalled under the step's path; a
// failure in them fails the step.
func TestUsesSubFlowFinally(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
steps:
  - id: ok
    uses: lib/work.flow.yaml
  - id: broken
    uses: lib/work.flow.yaml
    with: {fail: true}
    on_error: continue
  - id: dirty
    uses: lib/work.flow.yaml
    with: {break_cleanup: true}
    on_error: continue
  - id: each
    for_each: ${ [false, true] }
    uses: lib/work.flow.yaml
    with: {fail: "${ .item }"}
    on_error: continue
outputs:
  ok: ${ .steps.ok.result.v }
  broken: ${ .steps.broken.status }
  broken_error: ${ .steps.broken.error.message }
  dirty: ${ .steps.dirty.status }
  dirty_result: ${ .steps.dirty.result }
  dirty_error: ${ .steps.dirty.error }
  each: ${ [.steps.each.items[].status] }
`,
		"lib/work.flow.yaml": workFlow,
	})
	h := newHarness(t, "a", "b")
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	var (
		mu     sync.Mutex
		events []string
	)
	opts := h.opts(nil)
	opts.Progress = func(ev Event) {
		if ev.Kind == EventStepFinished && ev.Step != nil && ev.Step.InFinally() && ev.Status == StatusSucceeded {
			mu.Lock()
			events = append(events, ev.Path+"="+ev.StepPath)
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["ok"] != 1.0 || res.Outputs["broken"] != StatusFailed || res.Outputs["dirty"] != StatusFailed ||
		engJSON(res.Outputs["each"]) != `["succeeded","failed"]` || res.Outputs["dirty_result"] != nil {
		t.Fatalf("outputs %s", engJSON(res.Outputs))
	}
	if msg := fmt.Sprint(res.Outputs["broken_error"]); !strings.Contains(msg, "step broken.uses/bad failed") {
		t.Errorf("broken's error %q", msg)
	}
	dirty, _ := res.Outputs["dirty_error"].(map[string]any)
	if msg := fmt.Sprint(dirty["message"]); !strings.Contains(msg, "finally failed: step dirty.uses/finally/broken_cleanup failed") || dirty["class"] != ClassToolError {
		t.Errorf("dirty's error %v", dirty)
	}
	for path, want := range map[string]string{
		"ok.uses/finally/cleanup":      RunSucceeded,
		"broken.uses/finally/cleanup":  RunFailed,
		"dirty.uses/finally/cleanup":   RunSucceeded,
		"each[0].uses/finally/cleanup": RunSucceeded,
		"each[1].uses/finally/cleanup": RunFailed,
	} {
		if got := h.result(res.RunID, path); got["status"] != want {
			t.Errorf("%s saw %v, want status %s", path, got, want)
		}
	}
	last, err := h.journal.LastAttempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if a := last["each[1].uses/finally/cleanup"]; a == nil || a.Step != "each.uses/finally/cleanup" {
		t.Errorf("journalled %+v, want static step each.uses/finally/cleanup", a)
	}
	if a := last["dirty.uses/finally/broken_cleanup"]; a == nil || a.State != AttemptFailed {
		t.Errorf("journalled %+v", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(events, " "), "each[1].uses/finally/cleanup=each.uses/finally/cleanup") {
		t.Errorf("events %v", events)
	}
	if res.Finally != nil {
		t.Errorf("the run has no finally steps of its own, yet reports %+v", res.Finally)
	}
}

const slowSubFlow = `version: 1
name: slowpoke
flows: [a -> b]
timeout: 200ms
steps:
  - id: wait
    call: {server: a, tool: block_once}
outputs:
  done: ${ .steps.wait.result.done }
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }, wait: ${ .steps.wait.status }}
`

// TestUsesSubFlowTimeout: a sub-flow's own timeout bounds each run of it:
// its call in flight is cancelled, its finally steps run and read
// timed_out, and the step fails with class timed_out, which the caller's
// on_error decides about; the run itself did not time out.
func TestUsesSubFlowTimeout(t *testing.T) {
	for _, onError := range []string{"continue", "fail"} {
		t.Run(onError, func(t *testing.T) {
			dir := writeFlowFiles(t, map[string]string{
				"main.flow.yaml": fmt.Sprintf(`version: 1
name: main
flows: [a -> b]
steps:
  - id: sync
    uses: lib/slow.flow.yaml
    on_error: %s
  - id: after
    call: {server: b, tool: echo}
    with: {status: "${ .steps.sync.status }", class: "${ .steps.sync.error.class }", message: "${ .steps.sync.error.message }"}
`, onError),
				"lib/slow.flow.yaml": slowSubFlow,
			})
			r := newCancelRig(t, "a", "b")
			f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := Run(ctx, f, r.opts(nil))
			if res == nil {
				t.Fatal(err)
			}
			if !r.saw("a", "notifications/cancelled") {
				t.Error("the sub-flow's call in flight got no notifications/cancelled")
			}
			if got := r.result(res.RunID, "sync.uses/finally/report"); got["status"] != RunTimedOut || got["wait"] != StatusCancelled {
				t.Errorf("the sub-flow's finally saw %v", got)
			}
			switch onError {
			case "continue":
				if err != nil || res.Status != RunSucceeded {
					t.Fatalf("run %s: %v", res.Status, err)
				}
				got := r.result(res.RunID, "after")
				if got["status"] != StatusFailed || got["class"] != ClassTimedOut || got["message"] != "sub-flow lib/slow.flow.yaml timed out after 200ms" {
					t.Errorf("after saw %v", got)
				}
			default:
				var te *RunTimeoutError
				if res.Status != RunFailed || !errors.As(err, &te) || te.SubFlow != "lib/slow.flow.yaml" || ErrorClass(err) != ClassTimedOut {
					t.Fatalf("run %s: %v (class %s)", res.Status, err, ErrorClass(err))
				}
				if !strings.Contains(err.Error(), "step sync failed: sub-flow lib/slow.flow.yaml timed out after 200ms") {
					t.Errorf("err %v", err)
				}
			}
		})
	}
}

// TestRunTimeoutInsideSubFlow: the run's timeout passing while a sub-flow
// runs cancels it; the sub-flow's finally steps run and read cancelled
// (its caller ended it), then the run's, which read timed_out.
func TestRunTimeoutInsideSubFlow(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [a -> b]
timeout: 200ms
steps:
  - id: sync
    uses: lib/wait.flow.yaml
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: "${ .run.status }", sync: "${ .steps.sync.status }"}
`,
		"lib/wait.flow.yaml": strings.Replace(slowSubFlow, "timeout: 200ms\n", "", 1),
	})
	r := newCancelRig(t, "a", "b")
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, f, r.opts(nil))
	var te *RunTimeoutError
	if res == nil || res.Status != RunTimedOut || !errors.As(err, &te) || te.SubFlow != "" {
		t.Fatalf("run %+v: %v", res, err)
	}
	if got := r.result(res.RunID, "sync.uses/finally/report"); got["status"] != RunCancelled || got["wait"] != StatusCancelled {
		t.Errorf("the sub-flow's finally saw %v", got)
	}
	if got := r.result(res.RunID, "finally/report"); got["status"] != RunTimedOut || got["sync"] != StatusCancelled {
		t.Errorf("the run's finally saw %v", got)
	}
	if res.Finally == nil || res.Finally.Status != StatusSucceeded {
		t.Errorf("finally %+v", res.Finally)
	}
}

// TestUsesDryRunPlansSubFlowFinally: a dry run plans a sub-flow's finally
// steps after its steps, under the step's path.
func TestUsesDryRunPlansSubFlowFinally(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [b -> a, a -> b]
steps:
  - id: sync
    uses: lib/work.flow.yaml
  - id: after
    needs: [sync]
    call: {server: a, tool: echo}
finally:
  - id: last
    call: {server: b, tool: echo}
`,
		"lib/work.flow.yaml": workFlow,
	})
	h := newHarness(t, "a", "b")
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	if _, err := Run(t.Context(), f, RunOptions{Runtime: dr, TrustAnnotations: trustAll}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range dr.Plan() {
		got = append(got, c.Path)
	}
	if s := strings.Join(got, ","); s != "sync.uses/good,sync.uses/finally/cleanup,after,finally/last" {
		t.Errorf("plan %s", s)
	}
}

// TestUsesSIGKILLInSubFlowFinallyThenResume kills the runner while a
// sub-flow's finally steps run, then resumes: their completed calls are
// not sent again and the rest are made.
func TestUsesSIGKILLInSubFlowFinallyThenResume(t *testing.T) {
	const items = 40
	srvState, srvURL := newBookingServer(t)
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: lib/clean.flow.yaml
outputs:
  id: ${ .steps.sync.result.id }
`,
		"lib/clean.flow.yaml": fmt.Sprintf(`version: 1
name: book-then-clean
steps:
  - id: main
    call: {server: cal, tool: book}
    idempotency_key: ${ "main" }
outputs:
  id: ${ .steps.main.result.event_id }
finally:
  - id: cleanup
    for_each: ${ [range(%d)] }
    max_concurrency: 4
    call: {server: cal, tool: book}
    with: {n: ${ .item }}
    idempotency_key: ${ "cleanup-\(.item)" }
`, items),
	})
	flowPath := filepath.Join(dir, "main.flow.yaml")
	journalPath := filepath.Join(dir, JournalFile)
	const runID = "kill-sub-finally-run"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killRunnerWhen(ctx, t, srvURL, flowPath, journalPath, runID, func() bool { return srvState.bookings() >= 1+items/3 })

	j := openTestJournal(t, journalPath)
	before := lastAttempts(ctx, t, j, runID)
	doneBefore := map[string]bool{}
	for path, a := range before {
		if a.State == AttemptSucceeded {
			doneBefore[path] = true
		}
		if strings.HasPrefix(path, "sync.uses/finally/cleanup[") && a.Step != "sync.uses/finally/cleanup" {
			t.Errorf("%s journalled as step %s", path, a.Step)
		}
	}
	if !doneBefore["sync.uses/main"] || len(doneBefore) < 2 {
		t.Fatalf("journal before resume: %v", doneBefore)
	}
	requestsBefore := srvState.requestCounts()

	res, err := Resume(ctx, loadUnvalidated(t, flowPath), runID, httpRunOptions(ctx, t, srvURL, j), ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunSucceeded || res.Outputs["id"] == nil {
		t.Fatalf("resumed: %s, outputs %v", res.Status, res.Outputs)
	}
	srvState.mu.Lock()
	defer srvState.mu.Unlock()
	if srvState.requests["main"] != 1 || srvState.total != items+1 {
		t.Errorf("main sent %d times, %d bookings; want 1 and %d", srvState.requests["main"], srvState.total, items+1)
	}
	checkCleanupResent(t, srvState, "sync.uses/finally/cleanup[%d]", "cleanup-%d", items, doneBefore, requestsBefore)
}

// TestFinallyOutlivesCancellation: a cancellation that comes while the
// finally steps run (Ctrl-C after the steps ended) does not cut them
// short: they have flow.FinallyTimeout from then on, as after a
// cancellation of the steps.
func TestFinallyOutlivesCancellation(t *testing.T) {
	h := newHarness(t, "a", "b")
	f := parseFlow(t, `version: 1
name: outlive
steps:
  - id: work
    call: {server: a, tool: echo}
finally:
  - id: tidy
    call: {server: b, tool: slow}
    with: {ms: 300, tag: tidy}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.services["b"].started
		cancel()
	}()
	res, err := Run(ctx, f, h.opts(nil))
	if err != nil || res.Status != RunSucceeded {
		t.Fatalf("run %+v: %v", res, err)
	}
	if res.Finally == nil || res.Finally.Status != StatusSucceeded {
		t.Fatalf("finally %+v: cut short by the cancellation", res.Finally)
	}
	if got := h.result(res.RunID, "finally/tidy"); got["slept"] != 300.0 {
		t.Errorf("tidy returned %v", got)
	}
}
