//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows"
)

// crashFlow books once per run (an unsafe tool made safe to repeat by
// its idempotency key) and then waits on a read-only tool; the test's
// servers hold one of the two until it lets them go, so a kill lands
// with runs mid-run.
const crashFlow = `version: 1
name: crash
flows: ["booker -> slow"]
inputs:
  n: {type: string}
steps:
  - id: book
    call: {server: booker, tool: book}
    with: {n: ${ .inputs.n }}
    idempotency_key: ${ "\(.run.id)-book" }
  - id: wait
    call: {server: slow, tool: wait}
    with: {after: ${ .steps.book.text }}
`

// bookings is the booking server's own record: calls received by
// idempotency key, and calls that came without one.
type bookings struct {
	mu    sync.Mutex
	byKey map[string]int
	nokey int
}

func (b *bookings) snapshot() (map[string]int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[string]int, len(b.byKey))
	for k, v := range b.byKey {
		m[k] = v
	}
	return m, b.nokey
}

// daemonAPI calls the daemon's HTTP API with a bearer token.
func daemonAPI(t *testing.T, method, url, token, key, body string, out any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header
}

// The crash test: the real binary as a daemon, runs submitted
// over the API with Idempotency-Keys, kill -9 while some run and some
// wait in the queue, a second start. Every submitted run is still there
// and reaches a final state (succeeded: the interrupted ones resume, the
// queued ones start), and submitting again with a key returns the run it
// made before the crash. The booking server counts the keyed calls it
// receives: killed after the bookings were answered, each run's keyed
// call is made exactly once (the resume reuses the journalled result and
// sends only the read-only wait again); killed with the bookings in
// flight, the resume sends each interrupted booking once more with the
// same key, so the server can tell it is the same booking (and no call
// ever comes without its key).
func TestDaemonCrashResume(t *testing.T) {
	bin := buildMediator(t)
	t.Run("waiting", func(t *testing.T) { crashResume(t, bin, false) })
	t.Run("booking", func(t *testing.T) { crashResume(t, bin, true) })
}

// crashResume runs the crash test, killing the daemon with runs held in
// the booking (inBooking) or in the wait after it.
func crashResume(t *testing.T, bin string, inBooking bool) {
	h := newMediatorHome(t, bin, nil)
	// entered gets a call held by the server until its release closes;
	// the step not held has its release closed from the start.
	entered := make(chan string, 64)
	bookRelease, waitRelease := make(chan struct{}), make(chan struct{})
	if inBooking {
		close(waitRelease)
	} else {
		close(bookRelease)
	}
	hold := func(ctx context.Context, release chan struct{}, what string) error {
		select {
		case <-release:
			return nil
		default:
		}
		entered <- what
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	book := &bookings{byKey: map[string]int{}}
	bs := mcp.NewServer(&mcp.Implementation{Name: "booker", Version: "1"}, nil)
	mcp.AddTool(bs, &mcp.Tool{Name: "book"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			N string `json:"n"`
		}) (*mcp.CallToolResult, any, error) {
			book.mu.Lock()
			if key, _ := req.Params.Meta[workflows.MetaIdempotencyKey].(string); key != "" {
				book.byKey[key]++
			} else {
				book.nokey++
			}
			book.mu.Unlock()
			if err := hold(ctx, bookRelease, in.N); err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "booked " + in.N}}}, nil, nil
		})
	ss := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(ss, &mcp.Tool{Name: "wait", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, _ *mcp.CallToolRequest, in struct {
			After string `json:"after"`
		}) (*mcp.CallToolResult, any, error) {
			if err := hold(ctx, waitRelease, in.After); err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done " + in.After}}}, nil, nil
		})
	serveMCP := func(s *mcp.Server) string {
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	bookURL, slowURL := serveMCP(bs), serveMCP(ss)

	token, tokStderr, err := h.run("", "daemon", "token", "create", "ci", "--workflows", "*")
	if err != nil {
		t.Fatalf("daemon token create: %v\n%s", err, tokStderr)
	}
	token = strings.TrimSpace(token)
	// The entry token create prints, under the daemon block's other keys.
	_, entry, ok := strings.Cut(tokStderr, "daemon:\n")
	if !ok || !strings.Contains(entry, "api_tokens:") {
		t.Fatalf("token create printed no api_tokens entry:\n%s", tokStderr)
	}

	flows := filepath.Join(h.dir, "flows")
	if err := os.MkdirAll(flows, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flows, "crash.flow.yaml"), []byte(crashFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	const maxRunning = 3
	cfg := filepath.Join(h.config, "config.yaml")
	body := fmt.Sprintf("credentials: {backend: file, file_dir: %s}\nstate_dir: %s\nservers:\n  booker: {url: %s}\n  slow: {url: %s}\nserve:\n  http: {auth: none}\ndaemon:\n  listen: 127.0.0.1:0\n  workflows_dir: %s\n  max_concurrent_runs: %d\n%s",
		h.keyring, h.state, bookURL, slowURL, flows, maxRunning, entry)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func() (*exec.Cmd, *syncBuffer, <-chan error, string) {
		cmd := exec.Command(bin, "--config", cfg, "daemon", "--grace", "5s")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir, "MEDIATOR_KEYRING_PASSPHRASE=" + canaryPassphrase}
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		url, _ := waitLog(t, stderr, done, "mediator daemon serving")["url"].(string)
		if url == "" {
			t.Fatalf("the daemon logged no url:\n%s", stderr.String())
		}
		return cmd, stderr, done, url
	}

	first, stderr, done, base := start()
	const runs = 7
	ids := make([]string, runs)
	for i := range runs {
		var sub struct{ ID, Status string }
		code, _ := daemonAPI(t, "POST", base+"/v1/runs", token, fmt.Sprintf("crash-%d", i), fmt.Sprintf(`{"workflow": "crash", "inputs": {"n": "%d"}}`, i), &sub)
		if code != http.StatusCreated || sub.ID == "" {
			t.Fatalf("POST /v1/runs %d: %d %+v\n%s", i, code, sub, stderr.String())
		}
		ids[i] = sub.ID
	}
	// The first maxRunning runs are held in the booking or the wait; the
	// others are queued behind them.
	for range maxRunning {
		select {
		case <-entered:
		case err := <-done:
			t.Fatalf("the daemon ended: %v\n%s", err, stderr.String())
		case <-time.After(time.Minute):
			t.Fatalf("the runs never reached the held step:\n%s", stderr.String())
		}
	}
	statuses := map[string]int{}
	for _, id := range ids {
		var info struct{ Status string }
		daemonAPI(t, "GET", base+"/v1/runs/"+id, token, "", "", &info)
		statuses[info.Status]++
	}
	if statuses["running"] != maxRunning || statuses["queued"] != runs-maxRunning {
		t.Fatalf("before the kill: %v, want %d running and %d queued", statuses, maxRunning, runs-maxRunning)
	}

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	if inBooking {
		close(bookRelease)
	} else {
		close(waitRelease)
	}
	booked, _ := book.snapshot()
	if len(booked) != maxRunning {
		t.Fatalf("bookings before the restart: %v, want %d", booked, maxRunning)
	}

	_, stderr, done, base = start()
	resumed := map[string]bool{}
	for _, id := range ids {
		info := waitRunFinal(t, base, token, id, done, stderr)
		if info.Status != "succeeded" {
			t.Errorf("run %s after the restart: %s %s\n%s", id, info.Status, info.Error, stderr.String())
		}
		if info.Resumes > 0 {
			resumed[id] = true
		}
	}
	if len(resumed) != maxRunning {
		t.Errorf("%d runs resumed after the kill, want the %d that were running", len(resumed), maxRunning)
	}

	booked, nokey := book.snapshot()
	if nokey != 0 {
		t.Errorf("%d bookings came without an idempotency key", nokey)
	}
	for _, id := range ids {
		want := 1
		if inBooking && resumed[id] {
			// Sent before the kill, and again by the resume, same key.
			want = 2
		}
		if n := booked[id+"-book"]; n != want {
			t.Errorf("the server got run %s's keyed booking %d times, want %d (by key: %v)", id, n, want, booked)
		}
	}
	if len(booked) != runs {
		t.Errorf("bookings by key: %v, want one for each of the %d runs", booked, runs)
	}

	// Submitting again with a key after the crash returns the run it made.
	for i, id := range ids {
		var sub struct{ ID, Status string }
		code, hdr := daemonAPI(t, "POST", base+"/v1/runs", token, fmt.Sprintf("crash-%d", i), fmt.Sprintf(`{"workflow": "crash", "inputs": {"n": "%d"}}`, i), &sub)
		if code != http.StatusOK || sub.ID != id || hdr.Get("Idempotent-Replayed") != "true" {
			t.Errorf("resubmission %d: %d %+v (replayed %q), want 200 and run %s", i, code, sub, hdr.Get("Idempotent-Replayed"), id)
		}
	}
	var list struct {
		Runs []struct{ ID string }
	}
	daemonAPI(t, "GET", base+"/v1/runs?limit=100", token, "", "", &list)
	if len(list.Runs) != runs {
		t.Errorf("GET /v1/runs lists %d runs, want the %d submitted", len(list.Runs), runs)
	}
	booked, _ = book.snapshot()
	if len(booked) != runs {
		t.Errorf("a resubmission booked again: %v", booked)
	}
	for _, c := range []string{token, canaryPassphrase} {
		if strings.Contains(stderr.String(), c) {
			t.Errorf("the daemon logged a secret:\n%s", stderr.String())
		}
	}
}

type crashRunInfo struct {
	Status  string
	Error   string
	Resumes int
}

// waitRunFinal polls GET /v1/runs/{id} until the run is in a final state.
func waitRunFinal(t *testing.T, base, token, id string, done <-chan error, stderr *syncBuffer) crashRunInfo {
	t.Helper()
	var info crashRunInfo
	for range 1200 {
		info = crashRunInfo{}
		if code, _ := daemonAPI(t, "GET", base+"/v1/runs/"+id, token, "", "", &info); code != http.StatusOK {
			t.Fatalf("GET /v1/runs/%s: %d: the run was lost", id, code)
		}
		switch info.Status {
		case "succeeded", "failed", "cancelled", "timed_out", "blocked":
			return info
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon ended: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("run %s stayed %s:\n%s", id, info.Status, stderr.String())
	return info
}
