package workflows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// writesFlow writes six records one after another while probe runs
// beside them; a first run is cancelled with probe and write 1 in flight.
const writesFlow = `version: 1
name: writes
steps:
  - id: probe
    call: {server: cal, tool: probe}
  - id: w
    for_each: ${ [range(6)] }
    max_concurrency: 1
    call: {server: cal, tool: write}
    with: {n: ${ .item }}
outputs:
  n: ${ .steps.w.counts.total }
`

// writeServer is a real go-sdk MCP server over loopback HTTP that counts
// every write it receives, by record. write has effects and no
// annotations; probe is idempotent, so a resume may send it again after
// looking it up (tools/list).
type writeServer struct {
	mu     sync.Mutex
	writes map[int]int
	probes int
	// hang makes probe and write 1 wait until the caller gives up, so a
	// run cancelled then leaves both in flight.
	hang    bool
	started chan string
	// hold, when set, makes writes past record 1 wait until it is closed.
	hold chan struct{}
	// barrier, when set, holds each tools/list request until it is
	// closed, announcing it on lists.
	lists   chan struct{}
	barrier chan struct{}
	// done ends whatever still waits when the test ends.
	done chan struct{}
}

func newWriteServer(t *testing.T) (*writeServer, string) {
	ws := &writeServer{writes: map[int]int{}, started: make(chan string, 16), lists: make(chan struct{}, 16), done: make(chan struct{})}
	s := mcp.NewServer(&mcp.Implementation{Name: "cal", Version: "1"}, nil)
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				ws.mu.Lock()
				barrier := ws.barrier
				ws.mu.Unlock()
				if barrier != nil {
					ws.lists <- struct{}{}
					select {
					case <-barrier:
					case <-ws.done:
					}
				}
			}
			return next(ctx, method, req)
		}
	})
	type in struct {
		N int `json:"n"`
	}
	type out struct {
		N int `json:"n"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "write"}, func(ctx context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, out, error) {
		ws.mu.Lock()
		ws.writes[a.N]++
		hang, hold := ws.hang && a.N == 1, ws.hold
		ws.mu.Unlock()
		switch {
		case hang:
			ws.started <- "write"
			select {
			case <-ctx.Done():
			case <-ws.done:
			}
			return nil, out{}, errors.New("gave up")
		case hold != nil && a.N > 1:
			select {
			case <-hold:
			case <-ws.done:
			}
		}
		return nil, out(a), nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "probe", Annotations: &mcp.ToolAnnotations{IdempotentHint: true}}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, out, error) {
		ws.mu.Lock()
		ws.probes++
		hang := ws.hang
		ws.mu.Unlock()
		if hang {
			ws.started <- "probe"
			select {
			case <-ctx.Done():
			case <-ws.done:
			}
			return nil, out{}, errors.New("gave up")
		}
		return nil, out{}, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(ws.done) }) // runs before srv.Close
	return ws, srv.URL
}

func (ws *writeServer) count(n int) int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.writes[n]
}

// interruptedWrites runs writesFlow against ws and cancels it once probe
// and write 1 are in flight: the journal then holds write 0 succeeded,
// write 1 and probe cancelled (outcome unknown), writes 2 to 5 not begun.
func interruptedWrites(t *testing.T, ws *writeServer, url, dir string) (flowPath, journalPath, runID string) {
	t.Helper()
	flowPath = filepath.Join(dir, "writes.flow.yaml")
	if err := os.WriteFile(flowPath, []byte(writesFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	journalPath = filepath.Join(dir, JournalFile)
	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, closeFn, err := httpCaller(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	ws.mu.Lock()
	ws.hang = true
	ws.mu.Unlock()
	runCtx, interrupt := context.WithCancel(ctx)
	go func() {
		for range 2 {
			<-ws.started
		}
		interrupt()
	}()
	res, _ := Run(runCtx, f, RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, TrustAnnotations: trustAll})
	if res == nil || res.Status != RunCancelled {
		t.Fatalf("first run: %+v", res)
	}
	last, err := j.LastAttempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if last["w[0]"].State != AttemptSucceeded || last["w[1]"].State != AttemptCancelled || last["probe"].State != AttemptCancelled || last["w[2]"] != nil {
		t.Fatalf("journal after the first run: w[0] %+v, w[1] %+v, probe %+v", last["w[0]"], last["w[1]"], last["probe"])
	}
	ws.mu.Lock()
	ws.hang = false
	ws.mu.Unlock()
	return flowPath, journalPath, res.RunID
}

// TestResumeRerunOnlyInterrupted: `--rerun w` names every item of w, but
// applies only to those the journal shows interrupted: w[0] succeeded and
// is not sent again, w[1] is, the rest are made once.
func TestResumeRerunOnlyInterrupted(t *testing.T) {
	ws, url := newWriteServer(t)
	flowPath, journalPath, runID := interruptedWrites(t, ws, url, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	caller, closeFn, err := httpCaller(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	res, err := Resume(ctx, f, runID, RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, TrustAnnotations: trustAll}, ResumeOptions{Rerun: []string{"w"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunSucceeded {
		t.Fatalf("resume: %+v", res)
	}
	for n, want := range []int{1, 2, 1, 1, 1, 1} {
		if got := ws.count(n); got != want {
			t.Errorf("write %d received %d times, want %d", n, got, want)
		}
	}
	atts, err := j.Attempts(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range atts {
		if a.Path == "w[0]" && a.Attempt != 1 {
			t.Errorf("w[0] has attempt %d (%s)", a.Attempt, a.State)
		}
	}
}

// TestConcurrentResumesInProcess: two resumes of one run in one process
// (as a daemon resuming runs would be), each with its own journal handle:
// exactly one goes ahead, the other is refused before calling anything,
// and every write reaches the server once.
func TestConcurrentResumesInProcess(t *testing.T) {
	ws, url := newWriteServer(t)
	flowPath, journalPath, runID := interruptedWrites(t, ws, url, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	ws.mu.Lock()
	ws.hold = hold
	ws.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	// Two resumes that both went ahead would both write record 2: the
	// server sees that, and lets them go so the test ends.
	go func() {
		for ctx.Err() == nil && ws.count(2) < 2 {
			time.Sleep(time.Millisecond)
		}
		release()
	}()

	type outcome struct {
		res *RunResult
		err error
	}
	outs := make(chan outcome, 2)
	for range 2 {
		go func() {
			j, err := OpenJournal(journalPath, nil)
			if err != nil {
				outs <- outcome{err: err}
				return
			}
			defer j.Close()
			caller, closeFn, err := httpCaller(ctx, url)
			if err != nil {
				outs <- outcome{err: err}
				return
			}
			defer closeFn()
			res, err := Resume(ctx, f, runID, RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, TrustAnnotations: trustAll}, ResumeOptions{MarkDone: []string{"w[1]"}})
			// The first to finish (the refused one, if the guard holds)
			// lets the other go on.
			release()
			outs <- outcome{res, err}
		}()
	}
	var held *RunHeldError
	ran := 0
	for range 2 {
		o := <-outs
		switch {
		case errors.As(o.err, &held):
			if o.res != nil {
				t.Errorf("refused resume returned a result %+v", o.res)
			}
		case o.err != nil:
			t.Fatalf("resume: %v", o.err)
		default:
			ran++
		}
	}
	if ran != 1 || held == nil || held.PID != os.Getpid() || !strings.Contains(held.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("%d resumes ran; refusal: %v", ran, held)
	}
	for n, want := range []int{1, 1, 1, 1, 1, 1} {
		if got := ws.count(n); got != want {
			t.Errorf("write %d received %d times, want %d", n, got, want)
		}
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run, err := j.Run(ctx, runID)
	if err != nil || run.Status != RunSucceeded || run.Resumes != 1 {
		t.Fatalf("run after the resumes: %+v %v", run, err)
	}
}

// TestConcurrentResumeProcesses: two resume processes of one run started
// together against a real journal and server: exactly one goes ahead, the
// other exits 2 naming the first's pid, and every write reaches the server
// once. Both must get as far as looking up the in-flight probe before
// either may go on (a barrier on tools/list), which is where a check of
// the run's status and a separate update to running would both pass.
func TestConcurrentResumeProcesses(t *testing.T) {
	ws, url := newWriteServer(t)
	flowPath, journalPath, runID := interruptedWrites(t, ws, url, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hold, barrier := make(chan struct{}), make(chan struct{})
	ws.mu.Lock()
	ws.hold, ws.barrier = hold, barrier
	ws.mu.Unlock()
	var holdOnce, barrierOnce sync.Once
	release := func() { holdOnce.Do(func() { close(hold) }) }
	open := func() { barrierOnce.Do(func() { close(barrier) }) }
	go func() {
		for range 2 {
			select {
			case <-ws.lists:
			case <-ctx.Done():
				return
			}
		}
		open()
	}()
	go func() {
		for ctx.Err() == nil && ws.count(2) < 2 {
			time.Sleep(time.Millisecond)
		}
		release()
	}()

	type proc struct {
		cmd    *exec.Cmd
		stderr bytes.Buffer
	}
	procs := make([]*proc, 2)
	exited := make(chan int, 2)
	for i := range procs {
		p := &proc{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), envRunner+"=resume", envURL+"="+url, envFlow+"="+flowPath, envJournal+"="+journalPath,
			envRunID+"="+runID, envMarkDone+"=w[1]")
		p.cmd.Stderr = &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
		go func() {
			_ = p.cmd.Wait()
			exited <- i
		}()
	}
	first := <-exited
	// The first to exit (the refused one, if the guard holds) lets the
	// other go on.
	open()
	release()
	<-exited
	codes := []int{procs[0].cmd.ProcessState.ExitCode(), procs[1].cmd.ProcessState.ExitCode()}
	winner, loser := 1-first, first
	if codes[winner] != 0 || codes[loser] != 2 {
		t.Fatalf("exit codes %v (want one 0, one 2)\nstderr 0:\n%s\nstderr 1:\n%s", codes, procs[0].stderr.String(), procs[1].stderr.String())
	}
	if want := fmt.Sprintf("is running in process %d, which is still alive", procs[winner].cmd.Process.Pid); !strings.Contains(procs[loser].stderr.String(), want) {
		t.Errorf("refused resume does not name the holder (%s):\n%s", want, procs[loser].stderr.String())
	}
	for n, want := range []int{1, 1, 1, 1, 1, 1} {
		if got := ws.count(n); got != want {
			t.Errorf("write %d received %d times, want %d", n, got, want)
		}
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run, err := j.Run(ctx, runID)
	if err != nil || run.Status != RunSucceeded || run.Resumes != 1 {
		t.Fatalf("run after the resumes: %+v %v", run, err)
	}
}

// resumeRunnerMain resumes the run named in the environment, settling the
// calls envMarkDone names, and exits 2 when another process holds it.
func resumeRunnerMain() int {
	ctx := context.Background()
	f, err := Load(os.Getenv(envFlow))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	caller, closeFn, err := httpCaller(ctx, os.Getenv(envURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer closeFn()
	j, err := OpenJournal(os.Getenv(envJournal), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer j.Close()
	var ro ResumeOptions
	if v := os.Getenv(envMarkDone); v != "" {
		ro.MarkDone = strings.Split(v, ",")
	}
	_, err = Resume(ctx, f, os.Getenv(envRunID), RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, TrustAnnotations: trustAll}, ro)
	var held *RunHeldError
	switch {
	case errors.As(err, &held):
		fmt.Fprintln(os.Stderr, err)
		return 2
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
