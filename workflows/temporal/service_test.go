package temporal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows"
)

// testService is a real go-sdk MCP server with the tools the scenarios
// call; it counts calls per tool.
type testService struct {
	name string

	mu    sync.Mutex
	calls map[string]int
	flaky map[string]int
	// cancelled gets a value for every slow call that saw its context
	// end (MCP cancellation reached the server).
	cancelled chan struct{}
	// started gets a value as every slow call begins.
	started chan struct{}
	// effects counts what create_slow and charge_slow did (events
	// created, charges made); events maps an idempotency key to its event.
	effects int
	events  map[string]string
}

func newTestService(name string) *testService {
	return &testService{name: name, calls: map[string]int{}, flaky: map[string]int{}, cancelled: make(chan struct{}, 64), started: make(chan struct{}, 64), events: map[string]string{}}
}

// sawStart waits for a slow call to have begun.
func (ts *testService) sawStart(timeout time.Duration) bool {
	select {
	case <-ts.started:
		return true
	case <-time.After(timeout):
		return false
	}
}

// sawCancel waits for a slow call to have seen its cancellation.
func (ts *testService) sawCancel(timeout time.Duration) bool {
	select {
	case <-ts.cancelled:
		return true
	case <-time.After(timeout):
		return false
	}
}

// acted is how many effects create_slow and charge_slow had.
func (ts *testService) acted() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.effects
}

func (ts *testService) count(tool string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.calls[tool]
}

func structured(v any) *mcp.CallToolResult {
	b, _ := json.Marshal(v)
	return &mcp.CallToolResult{StructuredContent: v, Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
}

func toolErr(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

var objectSchema = map[string]any{"type": "object"}

func (ts *testService) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ts.name, Version: "1"}, nil)
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true}
	args := func(req *mcp.CallToolRequest) map[string]any {
		m := map[string]any{}
		_ = json.Unmarshal(req.Params.Arguments, &m)
		ts.mu.Lock()
		ts.calls[req.Params.Name]++
		ts.mu.Unlock()
		return m
	}
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: objectSchema, Annotations: readOnly},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return structured(args(req)), nil
		})
	s.AddTool(&mcp.Tool{Name: "text", InputSchema: objectSchema, Annotations: readOnly},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(args(req)["text"])}}}, nil
		})
	s.AddTool(&mcp.Tool{Name: "add", Annotations: readOnly,
		InputSchema: map[string]any{"type": "object", "required": []any{"a", "b"}, "properties": map[string]any{
			"a": map[string]any{"type": "number"}, "b": map[string]any{"type": "number"}}},
		OutputSchema: map[string]any{"type": "object", "properties": map[string]any{"sum": map[string]any{"type": "number"}}}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			x, _ := a["a"].(float64)
			y, _ := a["b"].(float64)
			return structured(map[string]any{"sum": x + y}), nil
		})
	s.AddTool(&mcp.Tool{Name: "big", InputSchema: objectSchema, Annotations: readOnly},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n, _ := args(req)["bytes"].(float64)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", int(n))}}}, nil
		})
	s.AddTool(&mcp.Tool{Name: "fail", InputSchema: objectSchema, Annotations: readOnly},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			return toolErr("boom"), nil
		})
	s.AddTool(&mcp.Tool{Name: "flaky", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{IdempotentHint: true}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			key := fmt.Sprint(a["key"])
			failTimes, _ := a["fail_times"].(float64)
			ts.mu.Lock()
			ts.flaky[key]++
			n := ts.flaky[key]
			ts.mu.Unlock()
			if n <= int(failTimes) {
				return toolErr("flaky %s failed on call %d", key, n), nil
			}
			return structured(map[string]any{"key": key, "calls": n}), nil
		})
	s.AddTool(&mcp.Tool{Name: "slow", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ms, _ := args(req)["ms"].(float64)
			ts.started <- struct{}{}
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return structured(map[string]any{"slept": ms}), nil
			case <-ctx.Done():
				ts.cancelled <- struct{}{}
				return nil, ctx.Err()
			}
		})
	// create_slow has effects and no annotations; it honours an
	// idempotency key (a repeated key answers the first call's event),
	// then takes ms to answer. charge_slow acts on every call.
	wait := func(ctx context.Context, ms float64) error {
		ts.started <- struct{}{}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.AddTool(&mcp.Tool{Name: "create_slow", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ms, _ := args(req)["ms"].(float64)
			key, _ := req.Params.Meta[workflows.MetaIdempotencyKey].(string)
			ts.mu.Lock()
			if id, ok := ts.events[key]; ok && key != "" {
				ts.mu.Unlock()
				return structured(map[string]any{"id": id, "replayed": true}), nil
			}
			ts.effects++
			id := fmt.Sprintf("ev-%d", ts.effects)
			ts.events[key] = id
			ts.mu.Unlock()
			if err := wait(ctx, ms); err != nil {
				return nil, err
			}
			return structured(map[string]any{"id": id, "replayed": false}), nil
		})
	s.AddTool(&mcp.Tool{Name: "charge_slow", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ms, _ := args(req)["ms"].(float64)
			ts.mu.Lock()
			ts.effects++
			ts.mu.Unlock()
			if err := wait(ctx, ms); err != nil {
				return nil, err
			}
			return structured(map[string]any{"charged": true}), nil
		})
	s.AddResource(&mcp.Resource{URI: "test://" + ts.name + "/note", Name: "note", MIMEType: "application/json"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: `{"from":"` + ts.name + `"}`}}}, nil
		})
	return s
}

// world is a set of test services, each behind an in-memory go-sdk
// session.
type world struct {
	services map[string]*testService
	sessions map[string]*mcp.ClientSession
}

func newWorld(t testing.TB, names ...string) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &world{services: map[string]*testService{}, sessions: map[string]*mcp.ClientSession{}}
	for _, n := range names {
		ts := newTestService(n)
		st, ct := mcp.NewInMemoryTransports()
		ss, err := ts.server().Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close(); _ = ss.Wait() })
		w.services[n], w.sessions[n] = ts, cs
	}
	return w
}

// caller calls the servers named, or every one of w's when none is.
func (w *world) caller(names ...string) *workflows.SessionCaller {
	c := &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{}}
	if len(names) == 0 {
		for n := range w.sessions {
			names = append(names, n)
		}
	}
	for _, n := range names {
		c.Sessions[n] = w.sessions[n]
	}
	return c
}
