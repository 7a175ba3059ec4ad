package serve

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
)

// rig is a Server with its orchestrator, built as `mediator serve`
// builds them: the Server first, the orchestrator with its Host, then
// SetOrchestrator.
type rig struct {
	srv  *Server
	orch *orchestrator.Orchestrator
	dir  string
}

func newRig(t *testing.T, opts Options, oopts orchestrator.Options) *rig {
	t.Helper()
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	dir := t.TempDir()
	if oopts.PinDir == "" {
		oopts.PinDir = filepath.Join(dir, "pins")
	}
	if oopts.AuditPath == "" {
		oopts.AuditPath = filepath.Join(dir, "audit.jsonl")
	}
	oopts.Host = srv.Host()
	o, err := orchestrator.New(oopts)
	if err != nil {
		t.Fatalf("orchestrator.New: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	srv.SetOrchestrator(o)
	return &rig{srv: srv, orch: o, dir: dir}
}

// inProcess is a server config for a go-sdk server in this process.
func inProcess(name string, s *mcp.Server) orchestrator.ServerConfig {
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, Timeout: time.Minute}, NewTransport: orchestrator.InProcess(s)}
}

// syncBuffer records everything a host's connection carries.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// host is a go-sdk client playing an agent host, on the 2025-11-25
// protocol (the one whose sessions carry server-to-client requests),
// every message it sends or gets recorded in wire.
type host struct {
	cs   *mcp.ClientSession
	wire *syncBuffer
}

func (r *rig) connect(t *testing.T, copts *mcp.ClientOptions, setup ...func(*mcp.Client)) *host {
	t.Helper()
	return r.connectAt(t, "2025-11-25", copts, setup...)
}

// connectAt connects a host speaking protocol version ("" for go-sdk's
// newest).
func (r *rig) connectAt(t *testing.T, version string, copts *mcp.ClientOptions, setup ...func(*mcp.Client)) *host {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	if _, err := r.srv.MCPServer().Connect(ctx, st, nil); err != nil {
		t.Fatalf("serving: %v", err)
	}
	wire := &syncBuffer{}
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, copts)
	for _, f := range setup {
		f(c)
	}
	cs, err := c.Connect(ctx, &mcp.LoggingTransport{Transport: ct, Writer: wire}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("host connecting: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return &host{cs: cs, wire: wire}
}

func (h *host) toolNames(t *testing.T) []string {
	t.Helper()
	res, err := h.cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func (h *host) call(t *testing.T, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b bytes.Buffer
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// world is examples/weather and examples/calendar on loopback HTTP, each
// requiring its key, with both keys in a file-backend keyring opened with
// a passphrase, as a user would have stored them.
type world struct {
	weatherKey, calendarKey string
	store                   *credentials.Store
	servers                 []orchestrator.ServerConfig
}

func startWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{weatherKey: "wk-canary-5f1e0c9b7a", calendarKey: "ck-canary-93d2a6e41f"}
	ws, err := guard.Start("127.0.0.1:0", "/mcp", weather.NewHandler(w.weatherKey, guard.NewRequestLog(nil)))
	if err != nil {
		t.Fatalf("starting weather: %v", err)
	}
	t.Cleanup(func() { _ = ws.Shutdown(context.Background()) })
	cs, err := guard.Start("127.0.0.1:0", "/mcp", calendar.NewHandler(w.calendarKey, guard.NewRequestLog(nil)))
	if err != nil {
		t.Fatalf("starting calendar: %v", err)
	}
	t.Cleanup(func() { _ = cs.Shutdown(context.Background()) })
	w.store, err = credentials.Open(ctx, credentials.Options{
		Backend:    credentials.BackendFile,
		FileDir:    filepath.Join(t.TempDir(), "keyring"),
		Passphrase: func(string) (string, error) { return "a passphrase for the test", nil },
	})
	if err != nil {
		t.Fatalf("opening the keyring: %v", err)
	}
	if err := w.store.Set("weather", "api-key", credentials.NewSecret(w.weatherKey)); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Set("calendar", "token", credentials.NewSecret(w.calendarKey)); err != nil {
		t.Fatal(err)
	}
	w.servers = []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "weather", URL: ws.URL, Timeout: time.Minute,
			Auth: connectors.AuthConfig{Type: connectors.AuthAPIKey, Header: weather.KeyHeader, Secret: "api-key"}}},
		{Config: connectors.Config{Name: "calendar", URL: cs.URL, Timeout: time.Minute,
			Auth: connectors.AuthConfig{Type: connectors.AuthBearer, Secret: "token"}}},
	}
	return w
}

func (w *world) orchestratorOptions(flows ...orchestrator.Flow) orchestrator.Options {
	return orchestrator.Options{Servers: w.servers, Secrets: w.store, Redactor: w.store.Redactor(), Policy: orchestrator.Policy{Flows: flows}}
}
