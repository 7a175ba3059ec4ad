//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sys/unix"
)

var (
	daemonLoad     = flag.Bool("daemonload", false, "submit runs concurrently to a real `mediator daemon` on loopback and report submissions per second, run latency and the daemon's peak RSS (builds mediator unless -daemonload.bin)")
	daemonLoadRuns = flag.Int("daemonload.runs", 500, "runs submitted at once")
	daemonLoadMax  = flag.Int("daemonload.max", 0, "daemon.max_concurrent_runs (0: the daemon's default)")
	daemonLoadBin  = flag.String("daemonload.bin", "", "a directory holding mediator already built")
)

// loadFlow calls each of the two servers once, the second with the
// first one's answer.
const loadFlow = `version: 1
name: load
flows: ["alpha -> beta"]
inputs:
  n: {type: string}
steps:
  - id: first
    call: {server: alpha, tool: echo}
    with: {text: ${ .inputs.n }}
  - id: second
    call: {server: beta, tool: echo}
    with: {text: ${ .steps.first.text }}
`

// loadRun is what the benchmark reads of GET /v1/runs.
type loadRun struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Error       string    `json:"error"`
	SubmittedAt time.Time `json:"submitted_at"`
	FinishedAt  time.Time `json:"finished_at"`
}

// TestDaemonLoad submits -daemonload.runs runs at once over the HTTP API
// of a real `mediator daemon` process on loopback, each run calling two
// go-sdk servers of this process over loopback streamable HTTP, and
// reports submissions per second (answers over the wall time from the
// first request to the last answer), run latency p50/p99 (finished_at
// minus submitted_at, the daemon's own timestamps) and the daemon's peak
// RSS (VmHWM of its /proc status). It asserts that every run succeeded
// and nothing about time.
func TestDaemonLoad(t *testing.T) {
	if !*daemonLoad {
		t.Skip("pass -daemonload to measure")
	}
	bins := *daemonLoadBin
	if bins == "" {
		bins = filepath.Join(t.TempDir(), "bin")
		build(t, bins, "./cmd/mediator")
	}
	mediator := filepath.Join(bins, "mediator")

	echo := func(name string) string {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
			func(_ context.Context, _ *mcp.CallToolRequest, in struct {
				Text string `json:"text"`
			}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
			})
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	alpha, beta := echo("alpha"), echo("beta")

	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=bench-passphrase",
	}
	tok := exec.Command(mediator, "daemon", "token", "create", "bench", "--workflows", "*")
	tok.Env = env
	var tokErr bytes.Buffer
	tok.Stderr = &tokErr
	out, err := tok.Output()
	if err != nil {
		t.Fatalf("mediator daemon token create: %v\n%s", err, tokErr.String())
	}
	token := strings.TrimSpace(string(out))
	_, entry, ok := strings.Cut(tokErr.String(), "daemon:\n")
	if !ok {
		t.Fatalf("token create printed no daemon block:\n%s", tokErr.String())
	}

	flows := filepath.Join(home, "flows")
	if err := os.MkdirAll(flows, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flows, "load.flow.yaml"), []byte(loadFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	maxLine := ""
	if *daemonLoadMax > 0 {
		maxLine = fmt.Sprintf("  max_concurrent_runs: %d\n", *daemonLoadMax)
	}
	cfgPath := filepath.Join(home, "config.yaml")
	config := fmt.Sprintf("credentials: {backend: file, file_dir: %s}\nstate_dir: %s\nservers:\n  alpha: {url: %s}\n  beta: {url: %s}\ndaemon:\n  listen: 127.0.0.1:0\n  workflows_dir: %s\n%s%s",
		filepath.Join(home, "keyring"), filepath.Join(home, "state"), alpha, beta, flows, maxLine, entry)
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	d := exec.Command(mediator, "--config", cfgPath, "daemon")
	d.Env = env
	logs, err := d.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = d.Process.Signal(unix.SIGTERM)
		_ = d.Wait()
	}()
	urls := make(chan string, 1)
	var daemonLog bytes.Buffer
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			logMu.Lock()
			daemonLog.Write(sc.Bytes())
			daemonLog.WriteByte('\n')
			logMu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "mediator daemon serving" {
				urls <- rec.URL
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case <-time.After(time.Minute):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("the daemon never listened:\n%s", daemonLog.String())
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *daemonLoadRuns, MaxConnsPerHost: 0}}
	do := func(method, url, body string, out any) (int, error) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp.StatusCode, err
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
			}
		}
		return resp.StatusCode, nil
	}

	n := *daemonLoadRuns
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			var sub struct{ ID string }
			code, err := do("POST", base+"/v1/runs", fmt.Sprintf(`{"workflow": "load", "inputs": {"n": "run %d"}}`, i), &sub)
			if err == nil && (code != http.StatusCreated || sub.ID == "") {
				err = fmt.Errorf("POST /v1/runs: %d %+v", code, sub)
			}
			ids[i], errs[i] = sub.ID, err
		}()
	}
	submitStart := time.Now()
	close(gate)
	wg.Wait()
	submitWall := time.Since(submitStart)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Poll the list (newest first, a page at a time) until every run ended.
	final := map[string]loadRun{}
	for deadline := time.Now().Add(10 * time.Minute); len(final) < n; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs finished within 10 minutes", len(final), n)
		}
		cursor := ""
		for {
			var page struct {
				Runs       []loadRun `json:"runs"`
				NextCursor string    `json:"next_cursor"`
			}
			if _, err := do("GET", base+"/v1/runs?limit=100&cursor="+cursor, "", &page); err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Runs {
				switch r.Status {
				case "queued", "running", "interrupted":
				default:
					final[r.ID] = r
				}
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
	}
	allDone := time.Since(submitStart)

	var lat []float64
	for _, id := range ids {
		r, ok := final[id]
		if !ok {
			t.Fatalf("run %s is not listed", id)
		}
		if r.Status != "succeeded" {
			t.Errorf("run %s: %s %s", id, r.Status, r.Error)
		}
		lat = append(lat, float64(r.FinishedAt.Sub(r.SubmittedAt).Microseconds())/1e3)
	}
	slices.Sort(lat)
	// Nearest rank.
	pct := func(p float64) float64 { return lat[max(0, int(math.Ceil(p*float64(len(lat))))-1)] }

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	mem := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "VmHWM" || k == "VmRSS") {
			mem[k] = strings.TrimSpace(v)
		}
	}
	maxRuns := "default (4)"
	if *daemonLoadMax > 0 {
		maxRuns = fmt.Sprint(*daemonLoadMax)
	}
	succeeded := 0
	for _, r := range final {
		if r.Status == "succeeded" {
			succeeded++
		}
	}
	t.Logf("daemon load: %d runs submitted at once, %d/%d succeeded | submissions %.0f/s (all answered in %.0f ms) | run latency submit->finished p50 %.1f ms, p99 %.1f ms, max %.1f ms | all finished %.2f s after the first submission (%.0f runs/s) | daemon VmHWM %s, VmRSS %s | max_concurrent_runs %s",
		n, succeeded, n, float64(n)/submitWall.Seconds(), float64(submitWall.Microseconds())/1e3,
		pct(0.50), pct(0.99), lat[len(lat)-1], allDone.Seconds(), float64(n)/allDone.Seconds(),
		mem["VmHWM"], mem["VmRSS"], maxRuns)
}
