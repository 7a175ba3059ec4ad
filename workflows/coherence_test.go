package workflows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Issue 13's features together: sub-flows in finally, waits in
// sub-flows, tolerated failures of sub-flow runs, timeouts during waits.

// jobsHarness is newHarness(names...) with the job server of
// engine_poll_test.go connected as "jobs".
func jobsHarness(t *testing.T, names ...string) (*harness, *jobServer) {
	t.Helper()
	h := newHarness(t, names...)
	js := newJobServer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := js.server().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mediator-test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	h.caller.Sessions["jobs"] = cs
	return h, js
}

const notifyFlow = `version: 1
name: notify
inputs:
  status: {type: string}
  work: {type: string}
steps:
  - id: send
    call: {server: b, tool: echo}
    with: {status: "${ .inputs.status }", work: "${ .inputs.work }"}
outputs:
  sent: ${ .steps.send.result.status }
`

func finallyUsesMain(tool, flows string) string {
	return `version: 1
name: main
` + flows + `steps:
  - id: work
    call: {server: a, tool: ` + tool + `}
finally:
  - id: notify
    uses: lib/notify.flow.yaml
    with: {status: "${ .run.status }", work: "${ .steps.work.status }"}
`
}

// TestFinallyUsesSubFlow: a finally step may run a sub-flow; it gets the
// run's outcome through with:, its calls are journalled under
// finally/<id>.uses/, and the data-flow analysis holds what .run.status
// and the steps' data carry into it to the caller's flows:, statically
// and at run time.
func TestFinallyUsesSubFlow(t *testing.T) {
	for _, tc := range []struct{ tool, want string }{{"echo", RunSucceeded}, {"fail", RunFailed}} {
		t.Run(tc.tool, func(t *testing.T) {
			dir := writeFlowFiles(t, map[string]string{
				"main.flow.yaml":       finallyUsesMain(tc.tool, "flows: [a -> b]\n"),
				"lib/notify.flow.yaml": notifyFlow,
			})
			h := newHarness(t, "a", "b")
			f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
			res, _ := Run(t.Context(), f, h.opts(nil))
			if res == nil || res.Status != tc.want {
				t.Fatalf("run %+v", res)
			}
			if res.Finally == nil || res.Finally.Status != StatusSucceeded || res.Finally.Steps["notify"] != StatusSucceeded {
				t.Fatalf("finally %+v", res.Finally)
			}
			got := h.result(res.RunID, "finally/notify.uses/send")
			if got["status"] != tc.want {
				t.Errorf("the sub-flow in finally got %v", got)
			}
			last, err := h.journal.LastAttempts(t.Context(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if a := last["finally/notify.uses/send"]; a == nil || a.Step != "finally/notify.uses/send" {
				t.Errorf("journalled %+v", a)
			}
		})
	}

	// Undeclared: .run.status (decided by a's failures) and a's result
	// would reach b through the sub-flow.
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml":       finallyUsesMain("echo", ""),
		"lib/notify.flow.yaml": notifyFlow,
	})
	path := filepath.Join(dir, "main.flow.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ps := flow.Check(t.Context(), path, data, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true})
	errs := ps.Errors()
	if len(errs) == 0 || !strings.Contains(errs.Error(), `add "a -> b" to flows:`) || !strings.Contains(errs.Error(), "finally[0]") {
		t.Fatalf("validate: %v", errs)
	}
	h := newHarness(t, "a", "b")
	res, _ := Run(t.Context(), loadUnvalidated(t, path), h.opts(nil))
	if res == nil || res.Status != RunSucceeded || res.Finally == nil || res.Finally.Status != StatusFailed ||
		ErrorClass(res.Finally.Err) != ClassRefused {
		t.Fatalf("run %+v, finally %+v", res, res.Finally)
	}
	if n := h.services["b"].count("echo"); n != 0 {
		t.Errorf("b.echo called %d times on undeclared data", n)
	}
}

// TestPollInsideSubFlow: a sub-flow's call may wait for a condition; each
// run of it waits on its own, every poll journalled under the step's path.
func TestPollInsideSubFlow(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
steps:
  - id: each
    for_each: ${ ["j1", "j2"] }
    uses: lib/waiter.flow.yaml
    with: {job: "${ .item }"}
outputs:
  calls: ${ [.steps.each.items[].result.calls] }
`,
		"lib/waiter.flow.yaml": `version: 1
name: waiter
inputs:
  job: {type: string}
steps:
  - id: wait
    call: {server: jobs, tool: status}
    with: {job: "${ .inputs.job }", done_after: 3}
    until: ${ .result.status == "done" }
    poll: {every: 5ms, max: 1m}
outputs:
  calls: ${ .steps.wait.result.calls }
`,
	})
	h, js := jobsHarness(t, "a")
	f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
	res, err := Run(t.Context(), f, h.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs["calls"]); got != "[3,3]" {
		t.Errorf("calls %s", got)
	}
	for i, job := range []string{"j1", "j2"} {
		if n := js.statusCalls(job); n != 3 {
			t.Errorf("%s polled %d times", job, n)
		}
		atts := pathAttempts(t, h.journal, res.RunID, fmt.Sprintf("each[%d].uses/wait", i))
		if len(atts) != 3 || atts[2].Step != "each.uses/wait" || atts[2].State != AttemptSucceeded {
			t.Errorf("each[%d]: %d attempts journalled, last %+v", i, len(atts), atts[len(atts)-1])
		}
	}
}

// TestToleratedFailuresOfSubFlowRuns: tolerate_failures on a for_each uses
// step counts failed runs of the sub-flow; past the bound the remaining
// items are cancelled. Each run that started ran its finally steps.
func TestToleratedFailuresOfSubFlowRuns(t *testing.T) {
	for _, tc := range []struct {
		bound, status string
		counts        string
	}{
		{"3", StatusSucceeded, `{"cancelled":0,"failed":3,"skipped":0,"succeeded":3,"total":6}`},
		{"1", StatusFailed, `{"cancelled":2,"failed":2,"skipped":0,"succeeded":2,"total":6}`},
	} {
		t.Run(tc.bound, func(t *testing.T) {
			dir := writeFlowFiles(t, map[string]string{
				"main.flow.yaml": `version: 1
name: main
steps:
  - id: each
    for_each: ${ [range(6)] }
    max_concurrency: 1
    tolerate_failures: ` + tc.bound + `
    uses: lib/work.flow.yaml
    with: {fail: "${ .item % 2 == 1 }"}
    on_error: continue
outputs:
  status: ${ .steps.each.status }
  counts: ${ .steps.each.counts }
`,
				"lib/work.flow.yaml": workFlow,
			})
			h := newHarness(t, "a", "b")
			f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
			res, err := Run(t.Context(), f, h.opts(nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outputs["status"] != tc.status || engJSON(res.Outputs["counts"]) != tc.counts {
				t.Fatalf("outputs %s", engJSON(res.Outputs))
			}
			last, err := h.journal.LastAttempts(t.Context(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 6 {
				p := fmt.Sprintf("each[%d].uses/finally/cleanup", i)
				ran := tc.status == StatusSucceeded || i < 4
				if (last[p] != nil) != ran {
					t.Errorf("%s journalled: %v, want %v", p, last[p] != nil, ran)
				}
				if ran {
					want := map[bool]string{false: RunSucceeded, true: RunFailed}[i%2 == 1]
					if got := h.result(res.RunID, p); got["status"] != want {
						t.Errorf("%s saw %v", p, got)
					}
				}
			}
		})
	}
}

// TestTimeoutDuringPollWait: a timeout passing while a call waits between
// polls ends the wait at once: the run's ends the run timed_out, a
// sub-flow's fails its step with class timed_out; finally runs either way.
func TestTimeoutDuringPollWait(t *testing.T) {
	const waiter = `version: 1
name: waiter
flows: [jobs -> b]
TIMEOUT
steps:
  - id: wait
    call: {server: jobs, tool: status}
    with: {job: j}
    until: ${ .result.status == "done" }
    poll: {every: 50ms, max: 1h}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: "${ .run.status }", wait: "${ .steps.wait.status }", attempts: "${ .steps.wait.attempts }"}
`
	t.Run("run", func(t *testing.T) {
		dir := writeFlowFiles(t, map[string]string{"main.flow.yaml": strings.Replace(waiter, "TIMEOUT", "timeout: 300ms", 1)})
		h, js := jobsHarness(t, "b")
		f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
		res, _ := Run(t.Context(), f, h.opts(nil))
		if res == nil || res.Status != RunTimedOut || res.Steps["wait"] != StatusCancelled {
			t.Fatalf("run %+v", res)
		}
		got := h.result(res.RunID, "finally/report")
		if got["status"] != RunTimedOut || got["wait"] != StatusCancelled {
			t.Errorf("finally saw %v", got)
		}
		polled := js.statusCalls("j")
		if polled < 1 {
			t.Fatal("never polled")
		}
		for _, a := range pathAttempts(t, h.journal, res.RunID, "wait") {
			if a.ErrorClass == ClassPollTimeout {
				t.Errorf("attempt %d journalled %s: the run's timeout is not the wait's", a.Attempt, a.ErrorClass)
			}
		}
		time.Sleep(120 * time.Millisecond)
		if n := js.statusCalls("j"); n != polled {
			t.Errorf("the wait went on polling after the run timed out: %d calls, then %d", polled, n)
		}
	})
	t.Run("sub-flow", func(t *testing.T) {
		dir := writeFlowFiles(t, map[string]string{
			"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: lib/waiter.flow.yaml
    on_error: continue
outputs:
  status: ${ .steps.sync.status }
  class: ${ .steps.sync.error.class }
`,
			"lib/waiter.flow.yaml": strings.Replace(waiter, "TIMEOUT", "timeout: 300ms", 1),
		})
		h, _ := jobsHarness(t, "b")
		f := checkFlowFile(t, filepath.Join(dir, "main.flow.yaml"))
		res, err := Run(t.Context(), f, h.opts(nil))
		if err != nil || res.Status != RunSucceeded {
			t.Fatalf("run %+v: %v", res, err)
		}
		if res.Outputs["status"] != StatusFailed || res.Outputs["class"] != ClassTimedOut {
			t.Errorf("outputs %s", engJSON(res.Outputs))
		}
		if got := h.result(res.RunID, "sync.uses/finally/report"); got["status"] != RunTimedOut || got["wait"] != StatusCancelled {
			t.Errorf("the sub-flow's finally saw %v", got)
		}
	})
}

// TestPollInsideSubFlowNeedsSafeTool: the polling rule holds inside a
// sub-flow as at the top: validate --connect refuses until on a tool that
// may have effects, at its position in the sub-flow's file, and the
// engine refuses it before any call, failing the uses step.
func TestPollInsideSubFlowNeedsSafeTool(t *testing.T) {
	dir := writeFlowFiles(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: lib/poker.flow.yaml
`,
		"lib/poker.flow.yaml": `version: 1
name: poker
steps:
  - id: wait
    call: {server: jobs, tool: poke}
    with: {job: p}
    until: ${ .result.status == "done" }
    poll: {every: 5ms, max: 1m}
`,
	})
	h, js := jobsHarness(t, "a")
	path := filepath.Join(dir, "main.flow.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ps := flow.Check(t.Context(), path, data, flow.ValidateOptions{ReadFile: os.ReadFile, Catalog: h.caller, TrustAnnotations: trustAll})
	if errs := ps.Errors().Error(); !strings.Contains(errs, "poker.flow.yaml:7:") || !strings.Contains(errs, "jobs.poke") {
		t.Errorf("validate --connect: %s", errs)
	}
	res, err := Run(t.Context(), loadUnvalidated(t, path), h.opts(nil))
	if res == nil || res.Status != RunFailed || err == nil || !strings.Contains(err.Error(), "until repeats the call of jobs.poke") {
		t.Fatalf("run %+v: %v", res, err)
	}
	if n := js.statusCalls("p"); n != 0 {
		t.Errorf("server saw %d calls", n)
	}
}
