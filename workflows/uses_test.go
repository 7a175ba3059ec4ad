package workflows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// writeFlowFiles writes files (name -> text) under a new directory and
// returns it.
func writeFlowFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkFlowFile loads and validates path as `run` does, sub-flows read
// from disk, failing the test on any error.
func checkFlowFile(t *testing.T, path string) *flow.Flow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, ps := flow.Check(context.Background(), path, data, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true})
	if errs := ps.Errors(); len(errs) > 0 {
		t.Fatalf("validate:\n%v", errs)
	}
	return f
}

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

// TestUsesRunsSubFlow runs sub-flows against real go-sdk servers: with:
// as their inputs (defaults filled), their outputs as the step's result,
// once and per item, their calls journalled under the step's path.
func TestUsesRunsSubFlow(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
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
  status: ${ .steps.sync.status }
  sums: ${ [.steps.each.items[].result.sum] }
`,
		"lib/adder.flow.yaml": adderFlow,
	})
	h := newHarness(t)
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	var (
		mu    sync.Mutex
		paths []string
	)
	opts := h.opts(nil)
	opts.Progress = func(ev Event) {
		if ev.Kind == EventStepFinished && ev.Step != nil && ev.Step.Call != nil {
			mu.Lock()
			paths = append(paths, ev.Path+"="+ev.StepPath)
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs); got != `{"status":"succeeded","sum":15,"sums":[101,102]}` {
		t.Errorf("outputs %s", got)
	}
	last, err := h.journal.LastAttempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"src": "src", "sync.uses/add": "sync.uses/add", "each[0].uses/add": "each.uses/add", "each[1].uses/add": "each.uses/add"}
	for path, step := range want {
		a := last[path]
		if a == nil || a.Step != step || a.State != AttemptSucceeded || a.Server != "b" && path != "src" {
			t.Errorf("journal at %s: %+v, want step %s succeeded", path, a, step)
		}
	}
	if len(last) != len(want) {
		t.Errorf("journal has %d call paths, want %d", len(last), len(want))
	}
	slices.Sort(paths)
	if got := strings.Join(paths, " "); got != "each[0].uses/add=each.uses/add each[1].uses/add=each.uses/add src=src sync.uses/add=sync.uses/add" {
		t.Errorf("events for calls at %s", got)
	}
	if rec, _ := h.journal.Run(ctx, res.RunID); rec == nil || rec.FlowDigest != f.RunDigest() || rec.FlowDigest == f.Digest {
		t.Errorf("journalled digest does not cover the sub-flow: %+v", rec)
	}
}

// TestUsesChecksInputsAtRunTime: a value computed at run time is checked
// against the sub-flow's input schema, as `run` checks a flow's inputs,
// before any of the sub-flow's calls.
func TestUsesChecksInputsAtRunTime(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [a -> b]
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {v: "five"}
  - id: sync
    uses: adder.flow.yaml
    with: {x: "${ .steps.src.result.v }"}
`,
		"adder.flow.yaml": adderFlow,
	})
	h := newHarness(t)
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Run(ctx, f, h.opts(nil))
	if err == nil || !strings.Contains(err.Error(), "step sync failed") || !strings.Contains(err.Error(), `inputs of `+filepath.Join(dir, "adder.flow.yaml")+` are not valid`) {
		t.Fatalf("error %v", err)
	}
	if n := h.services["b"].count("add"); n != 0 {
		t.Errorf("b.add called %d times", n)
	}
}

// loadUnvalidated parses path and loads its sub-flows (validated on their
// own) without validating the caller, for what the run-time policy must
// refuse by itself.
func loadUnvalidated(t *testing.T, path string) *flow.Flow {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestUsesUndeclaredFlowRefused: a flow that exists only through a
// sub-flow (its result, or the arguments it passes on) is refused by
// validate, by the engine and by the orchestrator at the call; declared
// by the caller, it is made.
func TestUsesUndeclaredFlowRefused(t *testing.T) {
	cases := []struct {
		name, main, sub string
	}{{
		name: "through the sub-flow's result",
		main: `version: 1
name: main
%s
steps:
  - id: sync
    uses: sub.flow.yaml
  - id: tell
    call: {server: b, tool: echo}
    with: {body: "${ .steps.sync.result.got }"}
`,
		sub: `version: 1
name: sub
steps:
  - id: get
    call: {server: a, tool: echo}
    with: {secret: "` + leakSecret + `"}
outputs:
  got: ${ .steps.get.result.secret }
`,
	}, {
		name: "through the sub-flow's arguments",
		main: `version: 1
name: main
%s
steps:
  - id: get
    call: {server: a, tool: echo}
    with: {secret: "` + leakSecret + `"}
  - id: sync
    uses: sub.flow.yaml
    with: {v: "${ .steps.get.result.secret }"}
`,
		sub: `version: 1
name: sub
inputs:
  v: {type: string}
steps:
  - id: send
    call: {server: b, tool: echo}
    with: {body: "${ .inputs.v }"}
`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, declare := range []bool{false, true} {
				flows := ""
				if declare {
					flows = "flows: [a -> b]"
				}
				dir := writeFlowFiles(t, map[string]string{"main.flow.yaml": strings.Replace(c.main, "%s", flows, 1), "sub.flow.yaml": c.sub})
				path := filepath.Join(dir, "main.flow.yaml")
				data, _ := os.ReadFile(path)
				_, ps := flow.Check(context.Background(), path, data, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true})
				errs := ps.Errors()
				if declare != (len(errs) == 0) || !declare && !strings.Contains(errs.Error(), `add "a -> b" to flows:`) {
					t.Errorf("declare=%v: validate says %v", declare, errs)
				}

				// The engine's own check (a runtime that does not decide).
				h := newHarness(t, "a", "b")
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := Run(ctx, loadUnvalidated(t, path), h.opts(nil))
				cancel()
				var pe *policyError
				if declare != (err == nil) || !declare && (!errors.As(err, &pe) || pe.From != "a" || pe.To != "b") {
					t.Errorf("declare=%v: engine: %v", declare, err)
				}
				if n := h.services["b"].count("echo"); declare != (n == 1) {
					t.Errorf("declare=%v: b.echo called %d times", declare, n)
				}

				// The orchestrator's check at the call.
				run := runOrchestrated(t, loadUnvalidated(t, path), orchestrator.Policy{})
				if declare {
					if len(run.refusals) > 0 || run.bCalls != 1 {
						t.Errorf("declared: refusals %v, b calls %d", run.refusals, run.bCalls)
					}
					continue
				}
				if run.bCalls != 0 || len(run.refusals) == 0 {
					t.Fatalf("undeclared: b calls %d, refusals %v (run %+v)", run.bCalls, run.refusals, run.res)
				}
				if msg := run.refusals[0].Error(); !strings.Contains(msg, `add "a -> b" to flows:`) || !strings.Contains(msg, "main.flow.yaml:") {
					t.Errorf("refusal %q", msg)
				}
			}
		})
	}
}

// TestUsesSIGKILLThenResume kills the runner process with SIGKILL while a
// sub-flow's for_each is booking over a real HTTP MCP server, then
// resumes: the calls journalled inside the sub-flow are not sent again,
// and a changed sub-flow file refuses the resume as a changed flow does.
func TestUsesSIGKILLThenResume(t *testing.T) {
	const items = 40
	srvState, srvURL := newBookingServer(t)
	sub := `version: 1
name: book-many
inputs:
  n: {type: integer}
steps:
  - id: book
    for_each: ${ [range(.inputs.n)] }
    max_concurrency: 4
    call: {server: cal, tool: book}
    with: {n: "${ .item }"}
    idempotency_key: ${ "booking-\(.item)" }
outputs:
  ids: ${ [.steps.book.items[].result.event_id] }
`
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": fmt.Sprintf(`version: 1
name: book-via-sub
steps:
  - id: sync
    uses: lib/book.flow.yaml
    with: {n: %d}
outputs:
  ids: ${ .steps.sync.result.ids }
`, items),
		"lib/book.flow.yaml": sub,
	})
	flowPath := filepath.Join(dir, "main.flow.yaml")
	journalPath := filepath.Join(dir, JournalFile)
	const runID = "uses-kill-run"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killRunnerWhen(ctx, t, srvURL, flowPath, journalPath, runID, func() bool { return srvState.bookings() >= items/3 })

	j := openTestJournal(t, journalPath)
	before := lastAttempts(ctx, t, j, runID)
	doneBefore := map[string]bool{}
	for path, a := range before {
		if !strings.HasPrefix(path, "sync.uses/book[") || a.Step != "sync.uses/book" {
			t.Errorf("journalled call %s of step %s, want sync.uses/book[N]", path, a.Step)
		}
		if a.State == AttemptSucceeded {
			doneBefore[path] = true
		}
	}
	if len(doneBefore) == 0 {
		t.Fatal("journal has no finished call from before the kill")
	}
	requestsBefore := srvState.requestCounts()

	opts := httpRunOptions(ctx, t, srvURL, j)

	// A changed sub-flow refuses the resume, and nothing is sent.
	subPath := filepath.Join(dir, "lib", "book.flow.yaml")
	if err := os.WriteFile(subPath, []byte(sub+"# changed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(ctx, loadUnvalidated(t, flowPath), runID, opts, ResumeOptions{}); err == nil ||
		!strings.Contains(err.Error(), "a changed flow cannot be resumed") || !strings.Contains(err.Error(), subPath) {
		t.Fatalf("resume of a changed sub-flow: %v", err)
	}
	if err := os.WriteFile(subPath, []byte(sub), 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := Resume(ctx, loadUnvalidated(t, flowPath), runID, opts, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srvState.mu.Lock()
	defer srvState.mu.Unlock()
	ids := checkBookedOnce(t, srvState, items, res.Outputs)
	for i := range items {
		path, key := fmt.Sprintf("sync.uses/book[%d]", i), fmt.Sprintf("booking-%d", i)
		if ids[i] != srvState.booked[key] {
			t.Errorf("%s: output id %v, server booked %s", path, ids[i], srvState.booked[key])
		}
		if doneBefore[path] && (srvState.requests[key] != 1 || requestsBefore[key] != 1) {
			t.Errorf("%s succeeded before the kill but was sent %d times", path, srvState.requests[key])
		}
	}
	t.Logf("killed after %d journalled successes inside the sub-flow; the resume sent none of them again", len(doneBefore))
}

// TestUsesDryRun: a dry run plans the sub-flow's calls under the step's
// path, in the order a run makes them, with the inputs passed in.
func TestUsesDryRun(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
steps:
  - id: each
    for_each: ${ [1, 2] }
    uses: adder.flow.yaml
    with: {x: "${ .item }"}
  - id: after
    call: {server: b, tool: echo}
    with: {sums: "${ [.steps.each.items[].result.sum] }"}
`,
		"adder.flow.yaml": adderFlow,
	})
	h := newHarness(t)
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Run(ctx, f, RunOptions{Runtime: dr, TrustAnnotations: trustAll}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range dr.Plan() {
		got = append(got, c.Path+" "+engJSON(c.Args))
	}
	want := `each[0].uses/add {"a":1,"b":10}|each[1].uses/add {"a":2,"b":10}|after {"sums":[0,0]}`
	if strings.Join(got, "|") != want {
		t.Errorf("plan\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if n := h.services["b"].count("add"); n != 0 {
		t.Errorf("a dry run called b.add %d times", n)
	}
}

// TestUsesResumeSettlesCallInSubFlow: a call inside a sub-flow whose
// outcome is unknown blocks the resume under its path, and --mark-done
// settles it by that path or by its static step path.
func TestUsesResumeSettlesCallInSubFlow(t *testing.T) {
	for _, name := range []string{"each[1].uses/book", "each.uses/book"} {
		t.Run(name, func(t *testing.T) {
			dir := writeFlowFiles(t, map[string]string{
				"main.flow.yaml": `version: 1
name: main
steps:
  - id: each
    for_each: ${ [0, 1] }
    max_concurrency: 1
    uses: book.flow.yaml
    with: {n: "${ .item }"}
outputs:
  booked: ${ [.steps.each.items[].result.status] }
`,
				"book.flow.yaml": `version: 1
name: book
inputs:
  n: {type: integer}
steps:
  - id: ok
    call: {server: a, tool: echo}
    with: {n: "${ .inputs.n }"}
  - id: book
    if: ${ .inputs.n == 1 }
    needs: [ok]
    call: {server: a, tool: slow_create}
  - id: after
    call: {server: a, tool: echo}
    with: {status: "${ .steps.book.status }"}
outputs:
  status: ${ .steps.after.result.status }
`,
			})
			h := newHarness(t)
			f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
			svc := h.services["a"]
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-svc.started; cancel() }()
			res, _ := Run(ctx, f, h.opts(nil))
			if res.Status != RunCancelled {
				t.Fatalf("first run %v", res.Status)
			}
			echoes := svc.count("echo")
			rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer rcancel()
			_, err := Resume(rctx, f, res.RunID, h.opts(nil), ResumeOptions{})
			var be *ResumeBlockedError
			if !errors.As(err, &be) || len(be.Calls) != 1 || be.Calls[0].Path != "each[1].uses/book" {
				t.Fatalf("resume without a decision: %v", err)
			}
			res2, err := Resume(rctx, f, res.RunID, h.opts(nil), ResumeOptions{MarkDone: []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			if got := engJSON(res2.Outputs); got != `{"booked":["skipped","succeeded"]}` || svc.count("slow_create") != 1 {
				t.Fatalf("outputs %s, slow_create calls %d", got, svc.count("slow_create"))
			}
			// Item 0 and item 1's first echo were journalled: only item 1's
			// last echo is made now.
			if n := svc.count("echo") - echoes; n != 1 {
				t.Errorf("resume made %d echo calls, want 1", n)
			}
			last, _ := h.journal.LastAttempts(rctx, res.RunID)
			if a := last["each[1].uses/book"]; a == nil || a.State != AttemptMarkedDone || a.Step != "each.uses/book" {
				t.Fatalf("journal %+v", a)
			}
		})
	}
}
