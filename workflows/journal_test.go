package workflows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

func TestJournalRecordsAndRedacts(t *testing.T) {
	const canary = "canary-7f3a9c-secret"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(canary))
	path := filepath.Join(t.TempDir(), "state", JournalFile)
	j, err := OpenJournal(path, red)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.journal = j
	defer j.Close()
	res, err := h.run(`
version: 1
name: redact
inputs:
  token: {type: string}
steps:
  - id: leak
    for_each: ${ [1, 2] }
    call: {server: a, tool: echo}
    with: {echoed: ${ .inputs.token }, n: ${ .item }}
    idempotency_key: ${ "k-\(.inputs.token)-\(.item)" }
`, map[string]any{"token": canary})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	atts, err := j.Attempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 {
		t.Fatalf("%d attempts", len(atts))
	}
	paths := map[string]bool{}
	for _, a := range atts {
		paths[a.Path] = true
		if a.State != AttemptSucceeded || a.Attempt != 1 || a.Step != "leak" || a.Server != "a" || a.Tool != "echo" || len(a.ArgsDigest) != 64 {
			t.Errorf("attempt %+v", a)
		}
		if a.FinishedAt.Before(a.StartedAt) {
			t.Errorf("timings %v %v", a.StartedAt, a.FinishedAt)
		}
		blob := string(a.Result) + a.IdempotencyKey + a.Error
		if strings.Contains(blob, canary) {
			t.Fatalf("canary stored in the journal: %s", blob)
		}
		if !strings.Contains(string(a.Result), "[REDACTED]") {
			t.Errorf("result not redacted: %s", a.Result)
		}
	}
	if !paths["leak[0]"] || !paths["leak[1]"] {
		t.Fatalf("paths %v", paths)
	}
	run, err := j.Run(ctx, res.RunID[:10])
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != RunSucceeded || strings.Contains(engJSON(run.Inputs), canary) || run.FlowDigest == "" {
		t.Fatalf("run %+v", run)
	}
	runs, err := j.Runs(ctx, 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v %v", runs, err)
	}
	if _, err := j.Run(ctx, "nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
}

// TestJournalConcurrentWriters: fire-and-forget and waited writes from many
// goroutines all land, and Close commits what was queued.
func TestJournalConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := j.CreateRun(&RunRecord{ID: "r1", FlowName: "f", FlowPath: "f.flow.yaml", FlowDigest: "d", Status: RunRunning, StartedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				a := &AttemptRecord{RunID: "r1", Path: "s[" + string(rune('a'+g)) + "]", Attempt: i + 1, Step: "s", Server: "x", Tool: "t", State: AttemptStarted, StartedAt: now}
				if err := j.RecordAttempt(a, i%2 == 0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	atts, err := j2.Attempts(context.Background(), "r1")
	if err != nil || len(atts) != 400 {
		t.Fatalf("%d attempts, %v", len(atts), err)
	}
	last, err := j2.LastAttempts(context.Background(), "r1")
	if err != nil || len(last) != 8 || last["s[a]"].Attempt != 50 {
		t.Fatalf("last %v %v", last, err)
	}
	if err := j.RecordAttempt(&AttemptRecord{RunID: "r1"}, false); err == nil {
		t.Fatal("write after close accepted")
	}
}

func TestResumeAfterFailure(t *testing.T) {
	h := newHarness(t)
	src := `
version: 1
name: resume
inputs:
  fail: {type: integer, default: 1}
steps:
  - id: each
    for_each: ${ ["a", "b", "bad", "c"] }
    max_concurrency: 1
    call: {server: a, tool: flaky}
    with: {key: ${ .item }, fail_times: ${ if .item == "bad" then .inputs.fail else 0 end }}
  - id: after
    call: {server: a, tool: echo}
    with: {n: ${ [.steps.each.items[].result.calls] }}
outputs:
  calls: ${ .steps.after.result.n }
`
	f := parseFlow(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, f, h.opts(nil))
	if err == nil || res.Status != RunFailed {
		t.Fatalf("first run: %v %v", res.Status, err)
	}
	svc := h.services["a"]
	if svc.flaky["a"] != 1 || svc.flaky["b"] != 1 || svc.flaky["bad"] != 1 || svc.flaky["c"] != 0 {
		t.Fatalf("first run calls %v", svc.flaky)
	}

	// A changed file is refused.
	changed := parseFlow(t, src+"\n# edited\n")
	if _, err := Resume(ctx, changed, res.RunID, h.opts(nil), ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("resume of a changed flow: %v", err)
	}
	// An override naming nothing is refused.
	if _, err := Resume(ctx, f, res.RunID, h.opts(nil), ResumeOptions{Rerun: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), "call steps are: after, each") {
		t.Fatalf("bad override: %v", err)
	}

	res2, err := Resume(ctx, f, res.RunID, h.opts(nil), ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res2.RunID != res.RunID || res2.Status != RunSucceeded {
		t.Fatalf("resume result %+v", res2)
	}
	// a and b were reused from the journal; bad was called again and now
	// succeeds; c ran for the first time.
	if svc.flaky["a"] != 1 || svc.flaky["b"] != 1 || svc.flaky["bad"] != 2 || svc.flaky["c"] != 1 {
		t.Fatalf("calls after resume %v", svc.flaky)
	}
	if got := engJSON(res2.Outputs["calls"]); got != `[1,1,2,1]` {
		t.Fatalf("outputs %s", got)
	}
	run, _ := h.journal.Run(ctx, res.RunID)
	if run.Status != RunSucceeded || run.Resumes != 1 {
		t.Fatalf("run %+v", run)
	}
	atts, _ := h.journal.Attempts(ctx, res.RunID)
	var badAttempts []int
	for _, a := range atts {
		if a.Path == "each[2]" {
			badAttempts = append(badAttempts, a.Attempt)
		}
	}
	if engJSON(badAttempts) != "[1,2]" {
		t.Fatalf("attempts of each[2]: %v", badAttempts)
	}
	if _, err := Resume(ctx, f, res.RunID, h.opts(nil), ResumeOptions{}); err == nil || !strings.Contains(err.Error(), "already succeeded") {
		t.Fatalf("resume of a finished run: %v", err)
	}
}

// TestResumeInFlightUnsafe: a call cut short without an idempotency key on
// a tool that is neither read-only nor idempotent blocks the resume until
// the operator settles it.
func TestResumeInFlightUnsafe(t *testing.T) {
	for _, mode := range []string{"mark-done", "rerun"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			f := parseFlow(t, `
version: 1
name: unsafe
steps:
  - id: book
    call: {server: a, tool: slow_create}
  - id: after
    call: {server: a, tool: echo}
    with: {booked: ${ .steps.book.status }}
outputs:
  booked: ${ .steps.after.result.booked }
`)
			svc := h.services["a"]
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-svc.started; cancel() }()
			res, err := Run(ctx, f, h.opts(nil))
			if res.Status != RunCancelled {
				t.Fatalf("first run %v %v", res.Status, err)
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer rcancel()
			_, err = Resume(rctx, f, res.RunID, h.opts(nil), ResumeOptions{})
			var be *ResumeBlockedError
			if !errors.As(err, &be) || len(be.Calls) != 1 || be.Calls[0].Path != "book" {
				t.Fatalf("resume without a decision: %v", err)
			}
			for _, w := range []string{"book (a.slow_create, attempt 1 cancelled)", "--mark-done book", "--rerun book"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
			if run, _ := h.journal.Run(rctx, res.RunID); run.Status != RunBlocked {
				t.Fatalf("run status %s", run.Status)
			}
			if n := svc.count("slow_create"); n != 1 {
				t.Fatalf("blocked resume called the tool: %d", n)
			}
			if mode == "mark-done" {
				res2, err := Resume(rctx, f, res.RunID, h.opts(nil), ResumeOptions{MarkDone: []string{"book"}})
				if err != nil {
					t.Fatal(err)
				}
				if res2.Outputs["booked"] != "succeeded" || svc.count("slow_create") != 1 {
					t.Fatalf("outputs %v, calls %d", res2.Outputs, svc.count("slow_create"))
				}
				last, _ := h.journal.LastAttempts(rctx, res.RunID)
				if last["book"].State != AttemptMarkedDone || last["book"].Attempt != 2 {
					t.Fatalf("journal %+v", last["book"])
				}
				return
			}
			// rerun: the call is made again (and hangs again here, so bound it).
			ctx2, cancel2 := context.WithCancel(rctx)
			go func() { <-svc.started; cancel2() }()
			res2, _ := Resume(ctx2, f, res.RunID, h.opts(nil), ResumeOptions{Rerun: []string{"book"}})
			if res2.Status != RunCancelled || svc.count("slow_create") != 2 {
				t.Fatalf("rerun: %v, calls %d", res2.Status, svc.count("slow_create"))
			}
		})
	}
}

// TestClaimRun: a run marked running by a live process is held, by another
// process or this one; one whose process died (kill -9) is claimed; a
// succeeded run never is; a refused claim fails none of the writes that
// share its commit.
func TestClaimRun(t *testing.T) {
	ctx := context.Background()
	j, err := OpenJournal(filepath.Join(t.TempDir(), JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, r := range []*RunRecord{
		{ID: "live", Status: RunRunning, PID: live.Process.Pid},
		{ID: "mine", Status: RunRunning, PID: os.Getpid()},
		{ID: "killed", Status: RunRunning, PID: dead.Process.Pid},
		{ID: "failed", Status: RunFailed, PID: live.Process.Pid},
		{ID: "done", Status: RunSucceeded},
	} {
		r.FlowName, r.FlowPath, r.FlowDigest, r.StartedAt, r.UpdatedAt = "f", "f.flow.yaml", "d", now, now
		if err := j.CreateRun(r); err != nil {
			t.Fatal(err)
		}
	}
	var held *RunHeldError
	for id, pid := range map[string]int{"live": live.Process.Pid, "mine": os.Getpid()} {
		_, err := j.ClaimRun(ctx, id, os.Getpid(), now)
		if !errors.As(err, &held) || held.PID != pid || !strings.Contains(err.Error(), fmt.Sprint(pid)) {
			t.Errorf("claim of %s: %v", id, err)
		}
	}
	for _, id := range []string{"killed", "failed"} {
		prev, err := j.ClaimRun(ctx, id, os.Getpid(), now)
		if err != nil {
			t.Fatalf("claim of %s: %v", id, err)
		}
		if prev.ID != id || prev.Status == "" {
			t.Errorf("claim of %s returned %+v", id, prev)
		}
		r, _ := j.Run(ctx, id)
		if r.Status != RunRunning || r.PID != os.Getpid() {
			t.Errorf("%s after the claim: %s in %d", id, r.Status, r.PID)
		}
		if _, err := j.ClaimRun(ctx, id, os.Getpid(), now); !errors.As(err, &held) {
			t.Errorf("second claim of %s: %v", id, err)
		}
	}
	if _, err := j.ClaimRun(ctx, "done", os.Getpid(), now); err == nil || !strings.Contains(err.Error(), "already succeeded") {
		t.Errorf("claim of a succeeded run: %v", err)
	}
	if _, err := j.ClaimRun(ctx, "nosuch", os.Getpid(), now); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("claim of an unknown run: %v", err)
	}
	// Refusals racing other writes: every write still commits.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			j.ClaimRun(ctx, "live", os.Getpid(), now)
		}()
		go func() {
			defer wg.Done()
			if err := j.RecordAttempt(&AttemptRecord{RunID: "failed", Path: fmt.Sprintf("s[%d]", i), Attempt: 1, Step: "s", Server: "x", Tool: "t", State: AttemptStarted, StartedAt: now}, true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if atts, err := j.Attempts(ctx, "failed"); err != nil || len(atts) != 50 {
		t.Fatalf("%d attempts, %v", len(atts), err)
	}
}
