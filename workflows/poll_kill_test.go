package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// jobHTTPServer submits jobs (book, keyed, with effects) and answers
// their status (read-only): running until the test says done.
type jobHTTPServer struct {
	mu     sync.Mutex
	booked map[string]int // book requests per key
	status int            // status calls
	done   bool
}

func (js *jobHTTPServer) handler() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "cal", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "book", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		key, _ := req.Params.Meta[MetaIdempotencyKey].(string)
		js.mu.Lock()
		js.booked[key]++
		js.mu.Unlock()
		return structured(map[string]any{"job_id": "job-" + key}), nil
	})
	s.AddTool(&mcp.Tool{Name: "status", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var a map[string]any
			_ = json.Unmarshal(req.Params.Arguments, &a)
			js.mu.Lock()
			js.status++
			st := "running"
			if js.done {
				st = "done"
			}
			js.mu.Unlock()
			// Slow enough that a kill may land mid-call.
			time.Sleep(5 * time.Millisecond)
			return structured(map[string]any{"job": a["job"], "status": st}), nil
		})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
}

func (js *jobHTTPServer) counts() (booked map[string]int, status int) {
	js.mu.Lock()
	defer js.mu.Unlock()
	booked = map[string]int{}
	for k, n := range js.booked {
		booked[k] = n
	}
	return booked, js.status
}

// TestSIGKILLDuringPollThenResume kills the runner process with SIGKILL
// while a step waits for a job, then resumes the run twice: the first
// resume continues the wait, whose time counts from its first journalled
// attempt (so, once poll.max has passed since then, it checks once and
// ends with poll_timeout), its attempts numbered after the journal's; the
// second begins a new wait, which the job's end now satisfies. The job is
// submitted once in all.
func TestSIGKILLDuringPollThenResume(t *testing.T) {
	js := &jobHTTPServer{booked: map[string]int{}}
	srv := httptest.NewServer(js.handler())
	defer srv.Close()

	const max = 2 * time.Second
	flowPath, journalPath := writeRunnerFlow(t, "wait.flow.yaml", fmt.Sprintf(`
version: 1
name: wait-killed
steps:
  - id: submit
    call: {server: cal, tool: book}
    with: {n: 1}
    idempotency_key: k1
  - id: wait
    call: {server: cal, tool: status}
    with: {job: ${ .steps.submit.result.job_id }}
    until: ${ .result.status == "done" }
    poll: {every: 20ms, max: %s}
outputs:
  status: ${ .steps.wait.result.status }
  attempts: ${ .steps.wait.attempts }
`, max))
	const runID = "poll-kill-run"

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	killRunnerWhen(ctx, t, srv.URL, flowPath, journalPath, runID, func() bool { _, n := js.counts(); return n >= 4 })

	j := openTestJournal(t, journalPath)
	before := pathAttempts(t, j, runID, "wait")
	if len(before) == 0 {
		t.Fatal("no poll journalled before the kill")
	}
	first, lastBefore := before[0].StartedAt, before[len(before)-1].Attempt
	if sub := pathAttempts(t, j, runID, "submit"); len(sub) != 1 || sub[0].State != AttemptSucceeded {
		t.Fatalf("submit journalled as %+v", sub)
	}

	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := httpRunOptions(ctx, t, srv.URL, j)

	// Let poll.max pass since the wait's first attempt: a resume that
	// counted from its own start would poll on for another max.
	time.Sleep(time.Until(first.Add(max + 50*time.Millisecond)))
	_, statusBefore := js.counts()
	_, err = Resume(ctx, f, runID, opts, ResumeOptions{})
	if err == nil || !strings.Contains(err.Error(), "still false after") {
		t.Fatalf("first resume: %v", err)
	}
	if _, n := js.counts(); n != statusBefore+1 {
		t.Errorf("first resume made %d status calls; the wait's time was up, so one check", n-statusBefore)
	}
	after := pathAttempts(t, j, runID, "wait")
	last := after[len(after)-1]
	if last.Attempt != lastBefore+1 || last.ErrorClass != ClassPollTimeout || !last.StartedAt.After(first.Add(max)) {
		t.Errorf("the resumed wait's attempt: #%d %s started %s after the first (journal had %d)", last.Attempt, last.ErrorClass, last.StartedAt.Sub(first), lastBefore)
	}
	for i, a := range after {
		if a.Attempt != i+1 {
			t.Errorf("attempt %d numbered %d: the resume overwrote or skipped journalled polls", i+1, a.Attempt)
		}
	}

	// The job ends; a resume now begins a new wait.
	js.mu.Lock()
	js.done = true
	js.mu.Unlock()
	res, err := Resume(ctx, f, runID, opts, ResumeOptions{})
	if err != nil {
		t.Fatalf("second resume: %v", err)
	}
	if got := engJSON(res.Outputs); got != fmt.Sprintf(`{"attempts":%d,"status":"done"}`, lastBefore+2) {
		t.Errorf("outputs %s", got)
	}
	if booked, _ := js.counts(); booked["k1"] != 1 || len(booked) != 1 {
		t.Errorf("book requests %v: the submit that succeeded before the kill was sent again", booked)
	}
	t.Logf("killed after %d journalled poll(s); resumes checked once past max, then once more in a new wait", len(before))
}
