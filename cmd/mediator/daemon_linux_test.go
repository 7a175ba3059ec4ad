//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// daemonKey is the echo server's key; it must stay out of the logs.
const daemonKey = "canary-daemon-key-Wd4Rt7Yx"

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLog waits for a JSON log record whose msg is msg and returns it.
func waitLog(t *testing.T, stderr *syncBuffer, done <-chan error, msg string) map[string]any {
	t.Helper()
	for range 1200 {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon ended (%v) before logging %q:\n%s", err, msg, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the daemon never logged %q:\n%s", msg, stderr.String())
	return nil
}

// The real binary as a service runs it: the keyring's passphrase from a
// file (MEDIATOR_KEYRING_PASSPHRASE_FILE), /healthz and /mcp served, a
// second daemon for the state directory refused naming the first one's
// pid, a SIGHUP with a broken config refused and logged while the daemon
// keeps serving, SIGTERM ending it with 143; JSON logs without the key
// or the passphrase.
func TestDaemonBinary(t *testing.T) {
	bin := buildMediator(t)
	h := newMediatorHome(t, bin, nil)

	s := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	sh := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != daemonKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sh.ServeHTTP(w, r)
	}))
	defer srv.Close()

	cfg := filepath.Join(h.config, "config.yaml")
	body := fmt.Sprintf("credentials: {backend: file, file_dir: %s}\nstate_dir: %s\nservers:\n  echo:\n    url: %s\n    auth: {type: api-key, header: X-API-Key, secret: key}\nserve:\n  http: {auth: none}\ndaemon:\n  listen: 127.0.0.1:0\n",
		h.keyring, h.state, srv.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := h.run(daemonKey, "--config", cfg, "secret", "set", "echo", "key"); err != nil {
		t.Fatalf("secret set: %v\n%s", err, stderr)
	}
	pass := filepath.Join(h.dir, "passphrase")
	if err := os.WriteFile(pass, []byte(canaryPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *syncBuffer, <-chan error) {
		cmd := exec.Command(bin, "--config", cfg, "daemon", "--grace", "5s")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir, "MEDIATOR_KEYRING_PASSPHRASE_FILE=" + pass}
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, stderr, done
	}

	first, stderr, done := start()
	url, _ := waitLog(t, stderr, done, "mediator daemon serving")["url"].(string)
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("echo__echo: %v %+v", err, res)
	}
	cs.Close()

	_, stderr2, done2 := start()
	var ee *exec.ExitError
	if err := <-done2; !errors.As(err, &ee) || ee.ExitCode() != 2 ||
		!strings.Contains(stderr2.String(), fmt.Sprintf("another mediator daemon (pid %d) is running", first.Process.Pid)) {
		t.Errorf("second daemon: %v\n%s", err, stderr2.String())
	}

	if err := os.WriteFile(cfg, []byte(body+"  schedules: [{workflow: w, cron: \"0 6 * *\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := first.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, stderr, done, "config reload refused; the old config stays")
	// Each problem is a record of its own, written one after the other.
	for range 100 {
		if strings.Count(stderr.String(), "config reload refused") >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{`daemon.schedules[0].cron: \"0 6 * *\" is not a cron expression`, "daemon.schedules: schedules run workflow files of daemon.workflows_dir, which is not set"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the refused reload's problems lack %s:\n%s", want, stderr.String())
		}
	}
	if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz after a refused reload: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	waitLog(t, stderr, done, "mediator daemon stopping")
	for _, c := range []string{daemonKey, canaryPassphrase} {
		if strings.Contains(stderr.String(), c) {
			t.Errorf("the daemon logged %q:\n%s", c, stderr.String())
		}
	}
}
