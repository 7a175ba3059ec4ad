package connectors

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerLog records the headers of every request a test server receives,
// so tests can prove which credentials reached which server.
type headerLog struct {
	mu      sync.Mutex
	headers []http.Header
}

func (l *headerLog) record(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.headers = append(l.headers, h.Clone())
}

func (l *headerLog) all() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.headers)
}

// contains reports whether any received header value contains s.
func (l *headerLog) contains(s string) bool {
	for _, h := range l.all() {
		for _, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, s) {
					return true
				}
			}
		}
	}
	return false
}

// testMCPServer is a go-sdk server with an "echo" tool.
func testMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "http-test", Version: "1"}, nil)
	type echoIn struct {
		Message string `json:"message"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return textResult("echo: " + in.Message), nil, nil
	})
	return s
}

// guarded wraps an MCP handler: it records every request's headers and
// answers 401 unless check accepts the request.
func guarded(log *headerLog, check func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header)
		if check != nil && !check(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func mcpHandler(transport string, s *mcp.Server) http.Handler {
	get := func(*http.Request) *mcp.Server { return s }
	if transport == TransportSSE {
		return mcp.NewSSEHandler(get, nil)
	}
	return mcp.NewStreamableHTTPHandler(get, nil)
}

// Both HTTP transports, with api-key (default and custom header) and
// bearer auth, against real go-sdk servers that demand the credential.
func TestHTTPAuthTypes(t *testing.T) {
	const key = "key-canary-3c1f08aa"
	cases := []struct {
		name   string
		auth   AuthConfig
		header string
		want   string
	}{
		{"api-key default header", AuthConfig{Type: AuthAPIKey, Secret: "k"}, "X-API-Key", key},
		{"api-key custom header", AuthConfig{Type: AuthAPIKey, Header: "x-tenant-key", Secret: "k"}, "X-Tenant-Key", key},
		{"bearer", AuthConfig{Type: AuthBearer, Secret: "k"}, "Authorization", "Bearer " + key},
	}
	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				var log headerLog
				srv := httptest.NewServer(guarded(&log, func(r *http.Request) bool { return r.Header.Get(tc.header) == tc.want }, mcpHandler(transport, testMCPServer())))
				t.Cleanup(srv.Close)

				c := mustNew(t, Options{
					Config:  Config{Name: "svc", URL: srv.URL, Transport: transport, Auth: tc.auth, Timeout: 10 * time.Second},
					Secrets: secretMap{"k": key},
				})
				if err := c.Connect(ctx); err != nil {
					t.Fatalf("Connect: %v", err)
				}
				if c.Transport() != transport || c.Endpoint() != srv.URL {
					t.Errorf("Transport() %q Endpoint() %q", c.Transport(), c.Endpoint())
				}
				tools, err := c.ListTools(ctx)
				if err != nil || len(tools) != 1 || tools[0].Name != "echo" {
					t.Fatalf("ListTools: %v %v", tools, err)
				}
				res, err := c.CallTool(ctx, "echo", map[string]any{"message": "hi"}, nil)
				if err != nil {
					t.Fatalf("CallTool: %v", err)
				}
				if got := resultText(t, res); got != "echo: hi" {
					t.Errorf("echo: %q", got)
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if n := len(log.all()); n < 2 {
					t.Errorf("server saw %d requests", n)
				}
				for i, h := range log.all() {
					if h.Get(tc.header) != tc.want {
						t.Errorf("request %d arrived without the credential in %s", i, tc.header)
					}
				}
			})
		}
	}
}

// A wrong key leaves the connector auth-required with an error that says
// what to do, and never shows the key.
func TestHTTPWrongKeyIsAuthRequired(t *testing.T) {
	const wrong = "wrong-key-canary-aa71d0"
	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		t.Run(transport, func(t *testing.T) {
			ctx := testCtx(t)
			var log headerLog
			srv := httptest.NewServer(guarded(&log, func(r *http.Request) bool { return r.Header.Get("X-API-Key") == "right" }, mcpHandler(transport, testMCPServer())))
			t.Cleanup(srv.Close)
			c := mustNew(t, Options{
				Config:  Config{Name: "weather", URL: srv.URL, Transport: transport, Auth: AuthConfig{Type: AuthAPIKey, Secret: "api-key"}},
				Secrets: secretMap{"api-key": wrong},
			})
			err := c.Connect(ctx)
			if err == nil {
				t.Fatal("Connect succeeded with a wrong key")
			}
			t.Logf("error: %v", err)
			if k := kindOf(t, err); k != KindAuth {
				t.Fatalf("kind %s, want auth: %v", k, err)
			}
			for _, want := range []string{"401", "mediator secret set weather api-key"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), wrong) {
				t.Errorf("error holds the key: %v", err)
			}
			st := c.Status()
			if st.State != StateAuthRequired || st.Err == nil || strings.Contains(st.Err.Error(), wrong) {
				t.Errorf("status %+v", st)
			}
			// A call now fails at once with the reason, as an auth error.
			_, err = c.CallTool(ctx, "echo", nil, nil)
			if err == nil || kindOf(t, err) != KindAuth || !strings.Contains(err.Error(), "401") {
				t.Errorf("call while auth-required: %v", err)
			}
		})
	}
}

// A secret missing from the keyring is an auth problem with the command
// that fixes it, found before anything is sent.
func TestHTTPMissingSecret(t *testing.T) {
	var log headerLog
	srv := httptest.NewServer(guarded(&log, nil, mcpHandler(TransportStreamableHTTP, testMCPServer())))
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{
		Config:  Config{Name: "calendar", URL: srv.URL, Auth: AuthConfig{Type: AuthBearer, Secret: "token"}},
		Secrets: secretMap{},
	})
	err := c.Connect(testCtx(t))
	if err == nil || kindOf(t, err) != KindAuth || !strings.Contains(err.Error(), "mediator secret set calendar token") {
		t.Fatalf("Connect: %v", err)
	}
	if c.Status().State != StateAuthRequired {
		t.Errorf("state %s", c.Status().State)
	}
	if n := len(log.all()); n != 0 {
		t.Errorf("server saw %d requests", n)
	}

	// The keyring's own error already says how to store the secret; the
	// connector does not say it again.
	c = mustNew(t, Options{
		Config:  Config{Name: "calendar", URL: srv.URL, Auth: AuthConfig{Type: AuthBearer, Secret: "token"}},
		Secrets: fileKeyring(t).ForServer("calendar"),
	})
	err = c.Connect(testCtx(t))
	if err == nil || kindOf(t, err) != KindAuth || strings.Count(err.Error(), "mediator secret set calendar token") != 1 {
		t.Fatalf("Connect with a keyring: %v; want the command to store the secret, once", err)
	}
}

// A server that accepts the connection and never answers makes Connect
// fail with a timeout after the server's timeout; nothing hangs.
func TestHTTPServerThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: release the handlers, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		t.Run(transport, func(t *testing.T) {
			c := mustNew(t, Options{Config: Config{Name: "silent", URL: srv.URL, Transport: transport, Timeout: 200 * time.Millisecond}})
			err := c.Connect(testCtx(t))
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			t.Logf("error: %v", err)
			if k := kindOf(t, err); k != KindTimeout {
				t.Fatalf("kind %s, want timeout: %v", k, err)
			}
			if st := c.Status(); st.State != StateFailed {
				t.Errorf("state %s", st.State)
			}
		})
	}
}

// Two servers with different keys: each receives only its own, ever.
func TestHTTPTwoServersEachSeeOnlyTheirKey(t *testing.T) {
	ctx := testCtx(t)
	keys := map[string]string{"a": "key-of-a-canary-61f2", "b": "key-of-b-canary-9e07"}
	logs := map[string]*headerLog{"a": {}, "b": {}}
	conns := map[string]*Connector{}
	for name, key := range keys {
		srv := httptest.NewServer(guarded(logs[name], func(r *http.Request) bool { return r.Header.Get("X-API-Key") == key }, mcpHandler(TransportStreamableHTTP, testMCPServer())))
		t.Cleanup(srv.Close)
		conns[name] = mustNew(t, Options{
			Config:  Config{Name: name, URL: srv.URL, Auth: AuthConfig{Type: AuthAPIKey, Secret: "api-key"}},
			Secrets: secretMap{"api-key": key},
		})
	}
	for name, c := range conns {
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.CallTool(ctx, "echo", map[string]any{"message": name}, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if !logs["a"].contains(keys["a"]) || !logs["b"].contains(keys["b"]) {
		t.Fatal("a server did not receive its own key")
	}
	if logs["a"].contains(keys["b"]) || logs["b"].contains(keys["a"]) {
		t.Error("a server received the other's key")
	}
}

// A server that echoes the credential back in a JSON-RPC error does not get
// it into mediator's error text.
func TestHTTPEchoedSecretIsScrubbed(t *testing.T) {
	const key = "echoed-canary-key-2b9d41"
	s := testMCPServer()
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				got := req.GetExtra().Header.Get("X-API-Key")
				return nil, &jsonrpc.Error{Code: -32000, Message: "refusing key " + got}
			}
			return next(ctx, method, req)
		}
	})
	var log headerLog
	srv := httptest.NewServer(guarded(&log, nil, mcpHandler(TransportStreamableHTTP, s)))
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{
		Config:  Config{Name: "echoer", URL: srv.URL, Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}},
		Secrets: secretMap{"k": key},
	})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.CallTool(ctx, "echo", nil, nil)
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	if k := kindOf(t, err); k != KindProtocol {
		t.Errorf("kind %s, want protocol", k)
	}
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), key) {
			t.Fatalf("error chain holds the key: %v", e)
		}
	}
	if !strings.Contains(err.Error(), "refusing key [REDACTED]") {
		t.Errorf("error lost its message: %v", err)
	}
}

// Close during a connect to a server that never answers aborts the attempt
// and returns once it is gone.
func TestCloseAbortsConnect(t *testing.T) {
	ctx := testCtx(t)
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body, so the server notices when the client hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := mustNew(t, Options{Config: Config{Name: "silent", URL: srv.URL, Timeout: time.Hour}})
	errc := make(chan error, 1)
	go func() { errc <- c.Connect(ctx) }()
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the server never saw the connect")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if err == nil || kindOf(t, err) != KindNotConnected || !strings.Contains(err.Error(), "closed while connecting") {
			t.Errorf("Connect: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Connect did not return after Close")
	}
}
