package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// jobServer is a real go-sdk server whose jobs finish after a number of
// status calls, for flows that wait on them.
type jobServer struct {
	mu sync.Mutex
	// calls counts status calls per job.
	calls map[string]int
	// done makes every job done from now on.
	done bool
}

func newJobServer() *jobServer { return &jobServer{calls: map[string]int{}} }

func (js *jobServer) statusCalls(job string) int {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.calls[job]
}

func (js *jobServer) setDone() {
	js.mu.Lock()
	js.done = true
	js.mu.Unlock()
}

// server has status (read-only): {job, done_after, rate_limited_on}
// answers {status: running|done, calls} and, on the calls listed in
// rate_limited_on, a rate-limit error; and poke, the same without
// annotations (a tool that may have effects).
func (js *jobServer) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "jobs", Version: "1"}, nil)
	status := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var a struct {
			Job           string `json:"job"`
			DoneAfter     int    `json:"done_after"`
			RateLimitedOn []int  `json:"rate_limited_on"`
		}
		_ = json.Unmarshal(req.Params.Arguments, &a)
		js.mu.Lock()
		js.calls[a.Job]++
		n, done := js.calls[a.Job], js.done
		js.mu.Unlock()
		for _, c := range a.RateLimitedOn {
			if c == n {
				return toolErr("rate limit exceeded, slow down"), nil
			}
		}
		st := "running"
		if done || (a.DoneAfter > 0 && n >= a.DoneAfter) {
			st = "done"
		}
		return structured(map[string]any{"job": a.Job, "status": st, "calls": n}), nil
	}
	s.AddTool(&mcp.Tool{Name: "status", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, status)
	s.AddTool(&mcp.Tool{Name: "poke", InputSchema: objectSchema}, status)
	return s
}

// pollHarness is a harness with the job server connected as "jobs".
func pollHarness(t *testing.T) (*harness, *jobServer) {
	t.Helper()
	h := newHarness(t, "a")
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

func waitFlow(tool, with, poll, extra string) string {
	return `version: 1
name: wait
steps:
  - id: job
    call: {server: jobs, tool: ` + tool + `}
    with: ` + with + `
    until: ${ .result.status == "done" }
    poll: ` + poll + `
` + extra + `outputs:
  status: ${ .steps.job.result.status }
  calls: ${ .steps.job.result.calls }
  attempts: ${ .steps.job.attempts }
`
}

// pathAttempts are the journalled attempts of one call path, in order.
func pathAttempts(t *testing.T, j *Journal, runID, path string) []*AttemptRecord {
	t.Helper()
	all, err := j.Attempts(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*AttemptRecord
	for _, a := range all {
		if a.Path == path {
			out = append(out, a)
		}
	}
	return out
}

func TestPollUntilReached(t *testing.T) {
	h, js := pollHarness(t)
	var mu sync.Mutex
	var polls []Event
	opts := h.opts(nil)
	opts.Progress = func(ev Event) {
		if ev.Kind == EventPolling {
			mu.Lock()
			polls = append(polls, ev)
			mu.Unlock()
		}
	}
	f := parseFlow(t, waitFlow("status", "{job: j1, done_after: 3}", "{every: 5ms, max: 1m}", ""))
	res, err := Run(t.Context(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs); got != `{"attempts":3,"calls":3,"status":"done"}` {
		t.Errorf("outputs %s: the step's view is the last attempt's", got)
	}
	if n := js.statusCalls("j1"); n != 3 {
		t.Errorf("server saw %d calls, want 3", n)
	}
	atts := pathAttempts(t, h.journal, res.RunID, "job")
	if len(atts) != 3 {
		t.Fatalf("%d attempts journalled, want one per poll (3)", len(atts))
	}
	for i, a := range atts {
		if a.Attempt != i+1 || a.State != AttemptSucceeded || len(a.Result) == 0 {
			t.Errorf("attempt %d: #%d %s with result %s", i, a.Attempt, a.State, a.Result)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(polls) != 2 || polls[0].Attempt != 1 || polls[1].Attempt != 2 || polls[0].Path != "job" {
		t.Errorf("polling events %+v, want attempts 1 and 2", polls)
	}
	if !strings.Contains(PollingText(polls[0]), "attempt 1 not done, next in") {
		t.Errorf("polling text %q", PollingText(polls[0]))
	}
}

// When poll.max passes, the step fails with class poll_timeout, naming
// what the condition read of the last result; every attempt made is
// journalled and the last one says why the wait ended.
func TestPollMaxPasses(t *testing.T) {
	h, js := pollHarness(t)
	f := parseFlow(t, waitFlow("status", "{job: slow}", "{every: 10ms, max: 40ms}", "    on_error: continue\n")+
		"  class: ${ .steps.job.error.class }\n  message: ${ .steps.job.error.message }\n")
	res, err := Run(t.Context(), f, h.opts(nil))
	if err != nil {
		t.Fatalf("on_error continue: %v", err)
	}
	if res.Outputs["class"] != ClassPollTimeout {
		t.Fatalf("class %v, want %s (outputs %s)", res.Outputs["class"], ClassPollTimeout, engJSON(res.Outputs))
	}
	msg, _ := res.Outputs["message"].(string)
	if !strings.Contains(msg, `${ .result.status == "done" } still false after`) || !strings.Contains(msg, `.result.status = "running"`) {
		t.Errorf("message %q", msg)
	}
	calls := js.statusCalls("slow")
	if calls < 2 {
		t.Errorf("server saw %d calls; a 40ms wait every 10ms polls more than once", calls)
	}
	atts := pathAttempts(t, h.journal, res.RunID, "job")
	if len(atts) != calls {
		t.Fatalf("%d attempts journalled for %d calls", len(atts), calls)
	}
	last := atts[len(atts)-1]
	if last.State != AttemptFailed || last.ErrorClass != ClassPollTimeout || len(last.Result) == 0 {
		t.Errorf("last attempt %s %s, result %s", last.State, last.ErrorClass, last.Result)
	}
}

// until on a tool that is neither read-only nor idempotent is refused at
// run time (whatever validation said), before any call; so is one whose
// server's annotations are not trusted.
func TestPollRefusedOnUnsafeTool(t *testing.T) {
	for _, tc := range []struct {
		name, tool string
		trust      bool
	}{
		{"tool with effects", "poke", true},
		{"untrusted annotations", "status", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, js := pollHarness(t)
			opts := h.opts(nil)
			if !tc.trust {
				opts.TrustAnnotations = nil
			}
			f := parseFlow(t, waitFlow(tc.tool, "{job: x}", "{every: 1ms, max: 1s}", ""))
			_, err := Run(t.Context(), f, opts)
			if err == nil || !strings.Contains(err.Error(), "until repeats the call of jobs."+tc.tool+", but the tool is not known to be read-only or idempotent") {
				t.Fatalf("run error %v", err)
			}
			if !strings.Contains(err.Error(), "test.flow.yaml:7:12") {
				t.Errorf("error does not point at the until: %v", err)
			}
			if n := js.statusCalls("x"); n != 0 {
				t.Errorf("server saw %d calls", n)
			}
		})
	}
}

// A poll whose call fails with a class the retry policy retries is
// retried under it; each poll gets the whole policy.
func TestPollRetriesFailedAttempts(t *testing.T) {
	h, js := pollHarness(t)
	f := parseFlow(t, waitFlow("status", "{job: r, done_after: 5, rate_limited_on: [2, 4]}", "{every: 2ms, max: 1m}",
		"    retry: {max_attempts: 2, initial_interval: 1ms, jitter: none}\n"))
	res, err := Run(t.Context(), f, h.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs); got != `{"attempts":5,"calls":5,"status":"done"}` {
		t.Errorf("outputs %s", got)
	}
	var states []string
	for _, a := range pathAttempts(t, h.journal, res.RunID, "job") {
		states = append(states, a.State+"/"+a.ErrorClass)
	}
	if got := strings.Join(states, " "); got != "succeeded/ failed/rate_limited succeeded/ failed/rate_limited succeeded/" {
		t.Errorf("attempts %s", got)
	}
	if js.statusCalls("r") != 5 {
		t.Errorf("server saw %d calls", js.statusCalls("r"))
	}

	// Without retries the rate-limited poll fails the step.
	h, _ = pollHarness(t)
	_, err = Run(t.Context(), parseFlow(t, waitFlow("status", "{job: r, rate_limited_on: [2]}", "{every: 2ms, max: 1m}", "")), h.opts(nil))
	if err == nil || !strings.Contains(err.Error(), "rate limit exceeded") {
		t.Fatalf("run error %v", err)
	}
}

// Each item of a for_each waits for its own condition.
func TestPollPerItem(t *testing.T) {
	h, js := pollHarness(t)
	f := parseFlow(t, `version: 1
name: wait-each
steps:
  - id: job
    for_each: ${ [2, 4] }
    call: {server: jobs, tool: status}
    with: {job: ${ "j\(.item)" }, done_after: ${ .item }}
    until: ${ .result.status == "done" and .result.calls == .item }
    poll: {every: 2ms, max: 1m}
outputs:
  attempts: ${ [.steps.job.items[].attempts] }
`)
	res, err := Run(t.Context(), f, h.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs["attempts"]); got != `[2,4]` {
		t.Errorf("attempts per item %s", got)
	}
	if js.statusCalls("j2") != 2 || js.statusCalls("j4") != 4 {
		t.Errorf("calls %d, %d", js.statusCalls("j2"), js.statusCalls("j4"))
	}
}

// A resume of a run whose wait timed out begins a new wait (the journal
// marks where the old one ended) and reuses what succeeded before it.
func TestPollResumeAfterTimeout(t *testing.T) {
	h, js := pollHarness(t)
	src := `version: 1
name: wait-resume
flows: [a -> jobs]
steps:
  - id: first
    call: {server: a, tool: create}
    with: {title: job}
    idempotency_key: job-1
  - id: job
    call: {server: jobs, tool: status}
    with: {job: ${ .steps.first.result.id }}
    until: ${ .result.status == "done" }
    poll: {every: 5ms, max: 20ms}
outputs:
  status: ${ .steps.job.result.status }
  attempts: ${ .steps.job.attempts }
`
	f := parseFlow(t, src)
	res, err := Run(t.Context(), f, h.opts(nil))
	if err == nil || !strings.Contains(err.Error(), "still false after") {
		t.Fatalf("run error %v", err)
	}
	before := js.statusCalls("ev-1")
	js.setDone()
	res, err = Resume(t.Context(), f, res.RunID, h.opts(nil), ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs); got != fmt.Sprintf(`{"attempts":%d,"status":"done"}`, before+1) {
		t.Errorf("outputs %s: the resumed wait's attempts continue the journal's (%d before)", got, before)
	}
	if n := js.statusCalls("ev-1"); n != before+1 {
		t.Errorf("resume made %d status calls, want 1", n-before)
	}
	if n := h.services["a"].count("create"); n != 1 {
		t.Errorf("create sent %d times: a success before the wait was repeated", n)
	}
}

// A dry run shows the first call of a wait and waits for nothing.
func TestPollDryRun(t *testing.T) {
	h, js := pollHarness(t)
	f := parseFlow(t, waitFlow("status", "{job: d}", "{every: 1h, max: 2h}", ""))
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	if _, err := Run(t.Context(), f, RunOptions{Runtime: dr, TrustAnnotations: trustAll}); err != nil {
		t.Fatal(err)
	}
	plan := dr.Plan()
	if len(plan) != 1 || plan[0].Until != `${ .result.status == "done" }, every 1h for at most 2h` {
		t.Fatalf("plan %+v", plan)
	}
	if js.statusCalls("d") != 0 {
		t.Errorf("a simulated dry run called the server")
	}
}

// A run stopped mid-wait (here cancelled while it waits for its next
// poll) resumes the wait: the journalled polls are kept, the next attempt
// follows them, and the condition is met on the server's later answer.
func TestPollResumeContinuesTheWait(t *testing.T) {
	h, js := pollHarness(t)
	f := parseFlow(t, waitFlow("status", "{job: c, done_after: 5}", "{every: 5ms, max: 1m}", ""))
	ctx, cancel := context.WithCancel(t.Context())
	opts := h.opts(nil)
	opts.Progress = func(ev Event) {
		if ev.Kind == EventPolling && ev.Attempt == 2 {
			cancel()
		}
	}
	res, err := Run(ctx, f, opts)
	if err == nil || res.Status != RunCancelled {
		t.Fatalf("run: %v", err)
	}
	if n := js.statusCalls("c"); n != 2 {
		t.Fatalf("server saw %d calls before the cancel", n)
	}
	res, err = Resume(t.Context(), f, res.RunID, h.opts(nil), ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := engJSON(res.Outputs); got != `{"attempts":5,"calls":5,"status":"done"}` {
		t.Errorf("outputs %s", got)
	}
	atts := pathAttempts(t, h.journal, res.RunID, "job")
	if len(atts) != 5 {
		t.Fatalf("%d attempts journalled", len(atts))
	}
	for i, a := range atts {
		if a.Attempt != i+1 || a.State != AttemptSucceeded {
			t.Errorf("attempt %d: #%d %s", i+1, a.Attempt, a.State)
		}
	}
}
