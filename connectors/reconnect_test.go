package connectors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// While a dropped server cannot be restarted, the connector keeps trying
// with backoff, calls wait for it within their own deadline and then fail
// clearly, it recovers when the server can start again, and Close stops the
// loop (Close returns only once the connector's goroutines are gone).
func TestReconnectLoop(t *testing.T) {
	ctx := testCtx(t)
	refuse := filepath.Join(t.TempDir(), "refuse")
	cfg := stdioTestConfig(t, "flaky")
	cfg.Env[stdioRefuseFileEnv] = refuse
	c := mustNew(t, Options{Config: cfg, Reconnect: Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(refuse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "crash", nil, nil); err == nil || kindOf(t, err) != KindTransport {
		t.Fatalf("crash: %v", err)
	}

	// A failed reconnect attempt shows in the status while still connecting.
	for {
		ch := c.Changed()
		st := c.Status()
		if st.State == StateConnecting && st.Err != nil && strings.Contains(st.Err.Error(), "connect") && !strings.Contains(st.Err.Error(), "session ended") {
			break
		}
		if st.State != StateConnecting && st.State != StateReady {
			t.Fatalf("state %s (%v), want connecting", st.State, st.Err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no failed reconnect attempt seen; status %+v", c.Status())
		}
	}

	// A call now waits, bounded by its context, and says why it gave up.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := c.CallTool(short, "pid", nil, nil)
	cancel()
	if err == nil || kindOf(t, err) != KindTimeout || !strings.Contains(err.Error(), "still connecting") {
		t.Fatalf("call while reconnecting: %v", err)
	}
	t.Logf("call while reconnecting: %v", err)

	// The server can start again: the loop brings the session back.
	if err := os.Remove(refuse); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, StateReady); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "pid", nil, nil); err != nil {
		t.Fatalf("call after recovery: %v", err)
	}

	// Drop it again and close in the middle of the reconnect loop.
	if err := os.WriteFile(refuse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _ = c.CallTool(ctx, "crash", nil, nil)
	if _, err := c.WaitFor(ctx, StateConnecting); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := c.Status(); st.State != StateClosed {
		t.Errorf("state after Close: %s", st.State)
	}
}

func TestBackoffDelays(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}.withDefaults()
	for n, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		for range 20 {
			d := b.delay(n)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("delay(%d) = %s, want within [%s, %s]", n, d, ceiling/2, ceiling)
			}
		}
	}
	if d := (Backoff{}).withDefaults(); d.Initial <= 0 || d.Max < d.Initial || d.Multiplier < 1 {
		t.Errorf("defaults %+v", d)
	}
}

// An HTTP server that restarts forgets the session; the call that finds
// out fails, and the connector opens a new session with the same credential.
func TestReconnectAfterHTTPServerRestart(t *testing.T) {
	const key = "restart-key-canary-0a4c"
	ctx := testCtx(t)
	var log headerLog
	var current atomic.Pointer[http.Handler]
	restart := func() {
		h := guarded(&log, func(r *http.Request) bool { return r.Header.Get("X-API-Key") == key }, mcpHandler(TransportStreamableHTTP, testMCPServer()))
		current.Store(&h)
	}
	restart()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{
		Config:    Config{Name: "restarting", URL: srv.URL, Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}},
		Secrets:   secretMap{"k": key},
		Reconnect: Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond},
	})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "before"}, nil); err != nil {
		t.Fatal(err)
	}
	restart()
	_, err := c.CallTool(ctx, "echo", map[string]any{"message": "lost"}, nil)
	if err == nil || kindOf(t, err) != KindTransport {
		t.Fatalf("call into the forgotten session: %v", err)
	}
	t.Logf("call into the forgotten session: %v", err)
	res := callOnceReconnected(ctx, t, c, "echo", map[string]any{"message": "after"})
	if got := resultText(t, res); got != "echo: after" {
		t.Errorf("echo: %q", got)
	}
	for i, h := range log.all() {
		if h.Get("X-API-Key") != key {
			t.Errorf("request %d without the key", i)
		}
	}
}

// callOnceReconnected calls a tool until it succeeds: a call that reaches the
// dead session before the connector has noticed fails, and the next state
// change is awaited before trying again (no polling on a clock).
func callOnceReconnected(ctx context.Context, t *testing.T, c *Connector, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	for {
		changed := c.Changed()
		res, err := c.CallTool(ctx, tool, args, nil)
		if err == nil {
			return res
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no reconnect: last error %v, status %+v", err, c.Status())
		}
	}
}
