package orchestrator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The servers the tests talk to are real go-sdk servers, reached in-process
// over mcp.NewInMemoryTransports or over loopback streamable HTTP.

type forecastIn struct {
	City string `json:"city" jsonschema:"the city"`
	Days int    `json:"days,omitempty" jsonschema:"how many days"`
	Unit string `json:"unit,omitempty" jsonschema:"celsius or fahrenheit"`
}

type eventIn struct {
	Title string `json:"title"`
	Where struct {
		Room string `json:"room"`
	} `json:"where"`
	Guests []struct {
		Email string `json:"email"`
	} `json:"guests,omitempty"`
}

type echoIn struct {
	Text string `json:"text"`
}

// testServer is one server implementation plus a count of tool calls that
// reached it, which proves that refused calls send nothing.
type testServer struct {
	*mcp.Server
	calls atomic.Int64
}

type serverOpts struct {
	name           string
	forecastDesc   string // description of get_forecast; changing it is a rug pull
	extraTool      string // name of an additional echo-like tool
	collidingTwins bool   // adds "get.x" and "get_x", which share an LLM name
}

func newTestServer(o serverOpts) *testServer {
	ts := &testServer{Server: mcp.NewServer(&mcp.Implementation{Name: o.name, Version: "test"}, nil)}
	desc := o.forecastDesc
	if desc == "" {
		desc = "Get the weather forecast for a city."
	}
	mcp.AddTool(ts.Server, &mcp.Tool{Name: "get_forecast", Description: desc, InputSchema: forecastSchema()},
		func(ctx context.Context, req *mcp.CallToolRequest, in forecastIn) (*mcp.CallToolResult, any, error) {
			ts.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("forecast for %s: sunny", in.City)}}}, nil, nil
		})
	mcp.AddTool(ts.Server, &mcp.Tool{Name: "create_event", Description: "Create a calendar event."},
		func(ctx context.Context, req *mcp.CallToolRequest, in eventIn) (*mcp.CallToolResult, any, error) {
			ts.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "created " + in.Title}}}, nil, nil
		})
	mcp.AddTool(ts.Server, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			ts.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	mcp.AddTool(ts.Server, &mcp.Tool{Name: "fail", Description: "Always fails as a tool error."},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			ts.calls.Add(1)
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "it failed: " + in.Text}}}, nil, nil
		})
	mcp.AddTool(ts.Server, &mcp.Tool{Name: "delete_everything", Description: "Dangerous."},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			ts.calls.Add(1)
			return &mcp.CallToolResult{}, nil, nil
		})
	if o.extraTool != "" {
		mcp.AddTool(ts.Server, &mcp.Tool{Name: o.extraTool, Description: "Added later."},
			func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				ts.calls.Add(1)
				return &mcp.CallToolResult{}, nil, nil
			})
	}
	if o.collidingTwins {
		for _, n := range []string{"get.x", "get_x"} {
			mcp.AddTool(ts.Server, &mcp.Tool{Name: n}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				ts.calls.Add(1)
				return &mcp.CallToolResult{}, nil, nil
			})
		}
	}
	return ts
}

// forecastSchema spells the schema out so it carries an enum the inferred
// one would not.
func forecastSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"city": map[string]any{"type": "string"},
			"days": map[string]any{"type": "integer", "minimum": 1, "maximum": 14},
			"unit": map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
		},
		"required":             []any{"city"},
		"additionalProperties": false,
	}
}

func inProcessServer(name string, srv *mcp.Server) orchestrator.ServerConfig {
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, Timeout: 5 * time.Second}, NewTransport: orchestrator.InProcess(srv)}
}

// httpServer serves srv over loopback streamable HTTP.
func httpServer(t testing.TB, name string, srv *mcp.Server) orchestrator.ServerConfig {
	t.Helper()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, URL: hs.URL, Timeout: 5 * time.Second}}
}

// hangingServer accepts HTTP connections and never answers, until the
// request is abandoned or the test ends.
func hangingServer(t testing.TB, name string, timeout time.Duration) orchestrator.ServerConfig {
	t.Helper()
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		hs.Close()
	})
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, URL: hs.URL, Timeout: timeout}}
}

func newOrchestrator(t testing.TB, opts orchestrator.Options) *orchestrator.Orchestrator {
	t.Helper()
	o, err := orchestrator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return o
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func textOf(r *orchestrator.Result) string {
	if r == nil || len(r.Content) == 0 {
		return ""
	}
	if tc, ok := r.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}
