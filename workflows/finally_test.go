package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cancelRig is a harness whose servers also log the notifications they
// receive and have a tool that blocks on its first call only.
type cancelRig struct {
	*harness
	mu       sync.Mutex
	received map[string][]string // server -> methods received
	once     map[string]int      // block_once calls per server
}

func newCancelRig(t *testing.T, names ...string) *cancelRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &cancelRig{received: map[string][]string{}, once: map[string]int{}}
	r.harness = &harness{t: t, services: map[string]*testService{}, caller: &SessionCaller{Sessions: map[string]*mcp.ClientSession{}}}
	for _, n := range names {
		ts := newTestService(n)
		srv := ts.server()
		srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				r.mu.Lock()
				r.received[n] = append(r.received[n], method)
				r.mu.Unlock()
				return next(ctx, method, req)
			}
		})
		// block_once answers at once, except the first time, when it
		// waits for its cancellation.
		srv.AddTool(&mcp.Tool{Name: "block_once", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				r.mu.Lock()
				r.once[n]++
				first := r.once[n] == 1
				r.mu.Unlock()
				if first {
					ts.started <- "block_once"
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return structured(map[string]any{"done": true}), nil
			})
		r.services[n] = ts
		r.caller.Sessions[n] = connectInMemory(ctx, t, srv)
	}
	r.journal = openTestJournal(t, filepath.Join(t.TempDir(), JournalFile))
	return r
}

// saw reports whether server received method.
func (r *cancelRig) saw(server, method string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.received[server] {
		if m == method {
			return true
		}
	}
	return false
}

// result is the journalled result of the last attempt of call path.
func (h *harness) result(runID, path string) map[string]any {
	h.t.Helper()
	ctx := context.Background()
	last, err := h.journal.LastAttempts(ctx, runID)
	if err != nil {
		h.t.Fatal(err)
	}
	a := last[path]
	if a == nil {
		h.t.Fatalf("no attempt of %s journalled", path)
	}
	full, err := h.journal.Attempt(ctx, runID, path, a.Attempt)
	if err != nil {
		h.t.Fatal(err)
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(full.Result, &res); err != nil {
		h.t.Fatalf("%s: %v", path, err)
	}
	m, _ := res.StructuredContent.(map[string]any)
	return m
}

func (h *harness) record(runID string) *RunRecord {
	h.t.Helper()
	rec, err := h.journal.Run(context.Background(), runID)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

const timeoutFlow = `version: 1
name: timeout
flows: [a -> b]
timeout: 200ms
steps:
  - id: work
    call: {server: a, tool: block_once}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }, work: ${ .steps.work.status }}
`

// The run's timeout cancels the call in flight (the server gets
// notifications/cancelled), the run ends timed_out, and finally still runs
// and reads .run.status as timed_out.
func TestRunTimeoutCancelsAndFinallyRuns(t *testing.T) {
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) {
			r := newCancelRig(t, "a", "b")
			r.on(rt)
			res, err := r.run(timeoutFlow, nil)
			var te *RunTimeoutError
			if !errors.As(err, &te) || te.Timeout != 200*time.Millisecond {
				t.Fatalf("err %v, want a RunTimeoutError", err)
			}
			if res.Status != RunTimedOut || res.Steps["work"] != StatusCancelled {
				t.Fatalf("status %s, steps %v", res.Status, res.Steps)
			}
			if !r.saw("a", "notifications/cancelled") {
				t.Error("server a never got notifications/cancelled for the call in flight")
			}
			if res.Finally == nil || res.Finally.Status != StatusSucceeded || res.Finally.Steps["report"] != StatusSucceeded {
				t.Fatalf("finally %+v", res.Finally)
			}
			got := r.result(res.RunID, "finally/report")
			if got["status"] != RunTimedOut || got["work"] != StatusCancelled {
				t.Errorf("finally saw %v", got)
			}
			rec := r.record(res.RunID)
			if rec.Status != RunTimedOut || rec.Finally != StatusSucceeded || rec.Timeout != 200*time.Millisecond || !strings.Contains(rec.Error, "timed out after 200ms") {
				t.Errorf("journal: %+v", rec)
			}

		})
	}
}

// A timed-out run resumes only with more time, which the journal records;
// the resumed run reuses what succeeded, makes the cancelled call again,
// and its finally step, now reading succeeded, is a new call.
func TestResumeTimedOutNeedsExtend(t *testing.T) {
	r := newCancelRig(t, "a", "b")
	res, _ := r.run(timeoutFlow, nil)
	if res.Status != RunTimedOut {
		t.Fatalf("status %s", res.Status)
	}
	f := parseFlow(t, timeoutFlow)
	ctx := context.Background()
	_, err := Resume(ctx, f, res.RunID, r.opts(nil), ResumeOptions{})
	var ne *ResumeNeedsTimeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "--extend 10m") {
		t.Fatalf("resume without --extend: %v", err)
	}
	if rec := r.record(res.RunID); rec.Status != RunTimedOut || rec.Resumes != 0 {
		t.Fatalf("a refused resume changed the run: %+v", rec)
	}
	if n := r.services["b"].count("echo"); n != 1 {
		t.Fatalf("finally called %d times", n)
	}

	res2, err := Resume(ctx, f, res.RunID, r.opts(nil), ResumeOptions{Extend: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Status != RunSucceeded || res2.Finally == nil || res2.Finally.Status != StatusSucceeded {
		t.Fatalf("resumed: %s, finally %+v", res2.Status, res2.Finally)
	}
	if got := r.result(res.RunID, "finally/report"); got["status"] != RunSucceeded {
		t.Errorf("finally after resume saw %v", got)
	}
	rec := r.record(res.RunID)
	if rec.Status != RunSucceeded || rec.Timeout != time.Minute || rec.Extended != time.Minute || rec.Resumes != 1 {
		t.Errorf("journal: %+v", rec)
	}
}

// Finally runs after every outcome and sees it in .run.status.
func TestFinallyAfterEachOutcome(t *testing.T) {
	for _, rt := range runtimes {
		testFinallyAfterEachOutcome(t, rt)
	}
}

func testFinallyAfterEachOutcome(t *testing.T, rt string) {
	for _, tc := range []struct {
		name, tool, want string
		cancel           bool
	}{
		{name: "success", tool: "echo", want: RunSucceeded},
		{name: "failure", tool: "fail", want: RunFailed},
		{name: "cancel", tool: "slow", want: RunCancelled, cancel: true},
	} {
		t.Run(rt+"/"+tc.name, func(t *testing.T) {
			r := newCancelRig(t, "a", "b")
			r.on(rt)
			f := parseFlow(t, fmt.Sprintf(`version: 1
name: outcomes
flows: [a -> b]
steps:
  - id: work
    call: {server: a, tool: %s}
    with: {ms: 60000}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }}
  - id: after
    call: {server: b, tool: echo}
    with: {seen: ${ .steps.report.result.status }}
`, tc.tool))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tc.cancel {
				go func() {
					<-r.services["a"].started
					cancel()
				}()
			}
			res, err := r.runFlow(ctx, f, r.opts(nil))
			if res == nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("status %s (%v), want %s", res.Status, err, tc.want)
			}
			if (err == nil) != (tc.want == RunSucceeded) {
				t.Errorf("err %v for a run that %s", err, res.Status)
			}
			if res.Finally == nil || res.Finally.Status != StatusSucceeded || len(res.Finally.Steps) != 2 {
				t.Fatalf("finally %+v", res.Finally)
			}
			if got := r.result(res.RunID, "finally/after"); got["seen"] != tc.want {
				t.Errorf("finally saw %v", got)
			}
			if tc.cancel && !r.saw("a", "notifications/cancelled") {
				t.Error("the cancelled call got no notifications/cancelled")
			}
		})
	}
}

// A finally step's failure is reported beside the run's outcome and never
// replaces it: the run's status and error stay the steps'.
func TestFinallyFailureReportedBeside(t *testing.T) {
	for _, tc := range []struct {
		name, tool, want string
	}{
		{name: "after success", tool: "echo", want: RunSucceeded},
		{name: "after failure", tool: "fail", want: RunFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "a", "b")
			res, err := h.run(fmt.Sprintf(`version: 1
name: beside
steps:
  - id: work
    call: {server: a, tool: %s}
outputs:
  done: ${ .steps.work.status }
finally:
  - id: cleanup
    call: {server: b, tool: charge}
`, tc.tool), nil)
			if res.Status != tc.want {
				t.Fatalf("status %s, want %s", res.Status, tc.want)
			}
			switch tc.want {
			case RunSucceeded:
				if err != nil || res.Outputs["done"] != StatusSucceeded {
					t.Errorf("err %v, outputs %v", err, res.Outputs)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "card declined") {
					t.Errorf("the run's error is %v, want the step's own", err)
				}
			}
			if res.Finally == nil || res.Finally.Status != StatusFailed || !strings.Contains(fmt.Sprint(res.Finally.Err), "card declined") {
				t.Fatalf("finally %+v", res.Finally)
			}
			rec := h.record(res.RunID)
			if rec.Status != tc.want || rec.Finally != StatusFailed || !strings.Contains(rec.FinallyError, "finally/cleanup") {
				t.Errorf("journal: status %s, finally %s (%s)", rec.Status, rec.Finally, rec.FinallyError)
			}
		})
	}
}

// Without a timeout, .run.status reads running in the steps.
func TestRunStatusRunningInSteps(t *testing.T) {
	h := newHarness(t, "a")
	res, err := h.run(`version: 1
name: status
steps:
  - id: s
    call: {server: a, tool: echo}
    with: {status: ${ .run.status }}
outputs:
  status: ${ .steps.s.result.status }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["status"] != RunRunning || res.Finally != nil {
		t.Errorf("outputs %v, finally %+v", res.Outputs, res.Finally)
	}
}

// TestSIGKILLInFinallyThenResume kills the runner process while its
// finally steps run, then resumes: the run had succeeded, its finally
// steps' completed calls are not sent again and the rest are made.
func TestSIGKILLInFinallyThenResume(t *testing.T) {
	const items = 40
	srvState, srvURL := newBookingServer(t)

	flowPath, journalPath := writeRunnerFlow(t, "cleanup.flow.yaml", fmt.Sprintf(`
version: 1
name: kill-finally
steps:
  - id: main
    call: {server: cal, tool: book}
    idempotency_key: ${ "main" }
finally:
  - id: cleanup
    for_each: ${ [range(%d)] }
    max_concurrency: 4
    call: {server: cal, tool: book}
    with: {n: ${ .item }}
    idempotency_key: ${ "cleanup-\(.item)" }
`, items))
	const runID = "kill-finally-run"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killRunnerWhen(ctx, t, srvURL, flowPath, journalPath, runID, func() bool { return srvState.bookings() >= 1+items/3 })

	j := openTestJournal(t, journalPath)
	rec, err := j.Run(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != RunSucceeded || rec.Finally != FinallyRunning {
		t.Fatalf("killed in finally, the journal says status %s, finally %q", rec.Status, rec.Finally)
	}
	before := lastAttempts(ctx, t, j, runID)
	doneBefore := map[string]bool{}
	for path, a := range before {
		if a.State == AttemptSucceeded {
			doneBefore[path] = true
		}
	}
	if !doneBefore["main"] || len(doneBefore) < 2 {
		t.Fatalf("journal before resume: %v", doneBefore)
	}
	requestsBefore := srvState.requestCounts()

	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := httpRunOptions(ctx, t, srvURL, j)
	res, err := Resume(ctx, f, runID, opts, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunSucceeded || res.Finally == nil || res.Finally.Status != StatusSucceeded {
		t.Fatalf("resumed: %s, finally %+v", res.Status, res.Finally)
	}
	srvState.mu.Lock()
	defer srvState.mu.Unlock()
	if srvState.requests["main"] != 1 {
		t.Errorf("main sent %d times", srvState.requests["main"])
	}
	if srvState.total != items+1 {
		t.Errorf("%d bookings, want %d", srvState.total, items+1)
	}
	checkCleanupResent(t, srvState, "finally/cleanup[%d]", "cleanup-%d", items, doneBefore, requestsBefore)
	if rec, _ := j.Run(ctx, runID); rec.Finally != StatusSucceeded || rec.Status != RunSucceeded {
		t.Errorf("journal after resume: %+v", rec)
	}
	// The run is done now, finally included: nothing left to resume.
	if _, err := Resume(ctx, f, runID, opts, ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "already succeeded") {
		t.Errorf("resume of a finished run: %v", err)
	}
}

// A dry run plans the finally steps too, after every step, with
// .run.status as the dry run ended.
func TestDryRunPlansFinallyLast(t *testing.T) {
	h := newHarness(t, "a", "b")
	f := parseFlow(t, `version: 1
name: dry
flows: [a -> b]
timeout: 1h
steps:
  - id: first
    call: {server: a, tool: echo}
  - id: second
    call: {server: a, tool: echo}
    with: {v: ${ .steps.first.result }}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: ${ .run.status }}
`)
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, f, RunOptions{Runtime: dr, TrustAnnotations: trustAll})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range dr.Plan() {
		paths = append(paths, c.Path)
	}
	if got := strings.Join(paths, ","); got != "first,second,finally/report" {
		t.Fatalf("plan %s", got)
	}
	if last := dr.Plan()[2]; last.Args["status"] != RunSucceeded || res.Finally == nil {
		t.Errorf("finally planned with %v", last.Args)
	}
	if n := h.services["b"].count("echo"); n != 0 {
		t.Errorf("a dry run called b.echo %d times", n)
	}
}
