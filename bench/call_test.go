package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

type forecastIn struct {
	City string `json:"city"`
	Days int    `json:"days,omitempty"`
}

// newServer is the server both sides of every comparison call: one tool
// with a small typed input, the common shape of a real MCP tool.
func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "bench"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city."},
		func(ctx context.Context, req *mcp.CallToolRequest, in forecastIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny in " + in.City}}}, nil, nil
		})
	return s
}

func args() map[string]any { return map[string]any{"city": "Lisbon", "days": 3} }

// caller makes one call of the compared kind.
type caller func(ctx context.Context) error

func inMemory(s *mcp.Server) func(context.Context) (mcp.Transport, error) {
	return func(context.Context) (mcp.Transport, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := s.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return ct, nil
	}
}

func httpEndpoint(tb testing.TB) string {
	s := newServer()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	tb.Cleanup(hs.Close)
	return hs.URL
}

// direct is a plain go-sdk client session, set up the way the connector
// sets up its own (same client capabilities), so both negotiate alike. It
// lists the tools before calling, as a client must to learn them and as the
// orchestrator does: go-sdk keeps the list and, over HTTP, reads each
// called tool's schema for x-mcp-header parameters on every call, a cost
// of any go-sdk client that knows its tools rather than of mediation.
func direct(tb testing.TB, t mcp.Transport) caller {
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).
		Connect(context.Background(), t, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		tb.Fatal(err)
	}
	return func(ctx context.Context) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: args()})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %v", res.Content)
		}
		return err
	}
}

// mediated is one orchestrator with auditing to a temp file, keyed with an
// audit key in a file keyring as mediator's is, and pins on disk,
// connected, listed and pinned by a first call outside any timing: the
// comparison is per call, and the direct side connects untimed too. Its
// audit records are written behind the calls; settle waits for them, so a
// timed batch can be charged for its records' writes.
func mediated(tb testing.TB, cfg orchestrator.ServerConfig) (call, settle caller) {
	dir := tb.TempDir()
	keys, err := credentials.Open(context.Background(), credentials.Options{
		Backend: credentials.BackendFile, FileDir: filepath.Join(dir, "keyring"),
		Passphrase: func(string) (string, error) { return "bench-passphrase", nil },
	})
	if err != nil {
		tb.Fatal(err)
	}
	o, err := orchestrator.New(orchestrator.Options{
		Servers:   []orchestrator.ServerConfig{cfg},
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		AuditKeys: keys,
		PinDir:    filepath.Join(dir, "pins"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	call = func(ctx context.Context) error {
		res, err := o.Call(ctx, "weather", "get_forecast", args())
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %v", res.Content)
		}
		return err
	}
	if err := call(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return call, o.SyncAudit
}

func directInProcess(tb testing.TB) caller {
	t, err := inMemory(newServer())(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return direct(tb, t)
}

func mediatedInProcess(tb testing.TB) (call, settle caller) {
	return mediated(tb, orchestrator.ServerConfig{
		Config:       connectors.Config{Name: "weather", Timeout: time.Minute},
		NewTransport: inMemory(newServer()),
	})
}

func directHTTP(tb testing.TB) caller {
	return direct(tb, &mcp.StreamableClientTransport{Endpoint: httpEndpoint(tb), HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}})
}

func mediatedHTTP(tb testing.TB) (call, settle caller) {
	return mediated(tb, orchestrator.ServerConfig{Config: connectors.Config{Name: "weather", URL: httpEndpoint(tb), Timeout: time.Minute}})
}

func run(b *testing.B, c caller) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// The mediated benchmarks leave the records of their last calls unwritten
// when the clock stops: at most flushDelay's worth, out of a second's
// calls.
func BenchmarkDirectInProcess(b *testing.B) { run(b, directInProcess(b)) }
func BenchmarkMediatedInProcess(b *testing.B) {
	call, _ := mediatedInProcess(b)
	run(b, call)
}
func BenchmarkDirectHTTP(b *testing.B) { run(b, directHTTP(b)) }
func BenchmarkMediatedHTTP(b *testing.B) {
	call, _ := mediatedHTTP(b)
	run(b, call)
}
