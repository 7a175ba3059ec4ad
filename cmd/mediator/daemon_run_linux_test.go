//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// `mediator run` beside a running `mediator daemon` makes its calls
// through the daemon: it runs without the keyring's passphrase (the
// daemon holds the keyring open), printing the outputs a run alone
// prints; its undeclared cross-server flow is refused with exit 2.
func TestRunThroughDaemonBinary(t *testing.T) {
	bin := buildMediator(t)
	h := newMediatorHome(t, bin, nil)
	s := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, map[string]any, error) {
			return nil, map[string]any{"echo": in.Text}, nil
		})
	sh := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != daemonKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sh.ServeHTTP(w, r)
	}))
	// Closed after the daemon is killed (cleanups run last first): the
	// daemon's session would keep Close waiting.
	t.Cleanup(srv.Close)
	cfg := filepath.Join(h.config, "config.yaml")
	body := fmt.Sprintf("credentials: {backend: file, file_dir: %s}\nstate_dir: %s\nservers:\n"+
		"  one:\n    url: %s\n    auth: {type: api-key, header: X-API-Key, secret: key}\n"+
		"  two:\n    url: %s\n    auth: {type: api-key, header: X-API-Key, secret: key}\n"+
		"daemon:\n  listen: 127.0.0.1:0\n", h.keyring, h.state, srv.URL, srv.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"one", "two"} {
		if _, stderr, err := h.run(daemonKey, "--config", cfg, "secret", "set", server, "key"); err != nil {
			t.Fatalf("secret set: %v\n%s", err, stderr)
		}
	}
	steps := "steps:\n  - id: a\n    call: {server: one, tool: echo}\n    with: {text: tides}\n" +
		"  - id: b\n    call: {server: two, tool: echo}\n    with: {text: \"${ .steps.a.result.echo }\"}\n" +
		"outputs:\n  said: ${ .steps.b.result.echo }\n"
	chain, leak := filepath.Join(h.dir, "chain.flow.yaml"), filepath.Join(h.dir, "leak.flow.yaml")
	for path, text := range map[string]string{chain: "version: 1\nname: chain\nflows: [\"one -> two\"]\n" + steps, leak: "version: 1\nname: leak\n" + steps} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	alone, stderr, err := h.run("", "--config", cfg, "--no-daemon", "run", chain)
	if err != nil || !strings.Contains(alone, `"said": "tides"`) {
		t.Fatalf("run alone: %v\n%s\n%s", err, alone, stderr)
	}

	pass := filepath.Join(h.dir, "passphrase")
	if err := os.WriteFile(pass, []byte(canaryPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(bin, "--config", cfg, "daemon")
	daemon.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir, "MEDIATOR_KEYRING_PASSPHRASE_FILE=" + pass}
	dlog := &syncBuffer{}
	daemon.Stderr = dlog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	t.Cleanup(func() { _ = daemon.Process.Kill() })
	waitLog(t, dlog, done, "mediator daemon serving")

	// No passphrase: alone, the run could not open the keyring.
	run := func(args ...string) (string, string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		_ = cmd.Run()
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	warm, stderr, code := run("run", chain)
	if code != 0 || warm != alone {
		t.Errorf("run through the daemon: exit %d, stdout %q (alone %q)\n%s", code, warm, alone, stderr)
	}
	_, stderr, code = run("run", leak)
	if code != 2 || !strings.Contains(stderr, `add "one -> two" to flows:`) {
		t.Errorf("the undeclared flow through the daemon: exit %d\n%s", code, stderr)
	}
	if _, _, code = run("--no-daemon", "run", chain); code == 0 {
		t.Errorf("--no-daemon without the passphrase ran: the daemon was used")
	}
	for _, c := range []string{daemonKey, canaryPassphrase} {
		if strings.Contains(dlog.String(), c) {
			t.Errorf("the daemon logged %q", c)
		}
	}
}
