package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// testService is a real go-sdk MCP server whose tools exercise every path
// of the engine. It counts what it saw so tests can assert on calls made.
type testService struct {
	name string

	mu sync.Mutex
	// calls counts calls per tool.
	calls map[string]int
	// keys counts create calls per idempotency key; effects counts the
	// events actually created (a repeated key replays the first result).
	keys    map[string]int
	effects map[string]string
	// flaky counts calls per "key" argument of flaky.
	flaky map[string]int
	// metas records the _meta of every call.
	metas []mcp.Meta
	// cancelled counts slow calls that saw their context end.
	cancelled int
	// started is signalled by every slow call as it begins.
	started chan string
}

func newTestService(name string) *testService {
	return &testService{
		name: name, calls: map[string]int{}, keys: map[string]int{}, effects: map[string]string{},
		flaky: map[string]int{}, started: make(chan string, 1024),
	}
}

func (ts *testService) count(tool string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.calls[tool]
}

var objectSchema = map[string]any{"type": "object"}

func structured(v any) *mcp.CallToolResult {
	b, _ := json.Marshal(v)
	return &mcp.CallToolResult{StructuredContent: v, Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
}

func toolErr(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func (ts *testService) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ts.name, Version: "1"}, nil)
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true}
	idem := &mcp.ToolAnnotations{IdempotentHint: true}
	args := func(req *mcp.CallToolRequest) map[string]any {
		m := map[string]any{}
		_ = json.Unmarshal(req.Params.Arguments, &m)
		ts.mu.Lock()
		ts.calls[req.Params.Name]++
		ts.metas = append(ts.metas, req.Params.Meta)
		ts.mu.Unlock()
		return m
	}
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return structured(args(req)), nil
		})
	s.AddTool(&mcp.Tool{Name: "text", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(a["text"])}}}, nil
		})
	s.AddTool(&mcp.Tool{Name: "add", Annotations: readOnly,
		InputSchema: map[string]any{"type": "object", "required": []any{"a", "b"}, "properties": map[string]any{
			"a": map[string]any{"type": "number"}, "b": map[string]any{"type": "number"}}},
		OutputSchema: map[string]any{"type": "object", "properties": map[string]any{"sum": map[string]any{"type": "number"}}}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			x, _ := a["a"].(float64)
			y, _ := a["b"].(float64)
			return structured(map[string]any{"sum": x + y}), nil
		})
	s.AddTool(&mcp.Tool{Name: "badout", InputSchema: objectSchema, Annotations: readOnly,
		OutputSchema: map[string]any{"type": "object", "required": []any{"sum"}, "properties": map[string]any{"sum": map[string]any{"type": "number"}}}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			return structured(map[string]any{"sum": "not a number"}), nil
		})
	s.AddTool(&mcp.Tool{Name: "fail", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			return toolErr("boom"), nil
		})
	s.AddTool(&mcp.Tool{Name: "flaky", InputSchema: objectSchema, Annotations: idem},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
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
	// create has no annotations: it is neither read-only nor idempotent
	// unless the caller sends an idempotency key, which it honours.
	s.AddTool(&mcp.Tool{Name: "create", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			key, _ := req.Params.Meta[MetaIdempotencyKey].(string)
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if key != "" {
				ts.keys[key]++
				if id, ok := ts.effects[key]; ok {
					return structured(map[string]any{"id": id, "replayed": true}), nil
				}
			}
			id := fmt.Sprintf("ev-%d", len(ts.effects)+1)
			if key == "" {
				key = fmt.Sprintf("(no key %d)", len(ts.effects)+1)
			}
			ts.effects[key] = id
			return structured(map[string]any{"id": id, "title": a["title"], "replayed": false}), nil
		})
	// charge has effects and no annotations, and always fails: the retry
	// rule must keep it from being sent twice without a key.
	s.AddTool(&mcp.Tool{Name: "charge", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			return toolErr("card declined"), nil
		})
	s.AddTool(&mcp.Tool{Name: "slow", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			ms, _ := a["ms"].(float64)
			select {
			case ts.started <- fmt.Sprint(a["tag"]):
			default:
			}
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return structured(map[string]any{"slept": ms}), nil
			case <-ctx.Done():
				ts.mu.Lock()
				ts.cancelled++
				ts.mu.Unlock()
				return nil, ctx.Err()
			}
		})
	s.AddTool(&mcp.Tool{Name: "slow_create", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			select {
			case ts.started <- "slow_create":
			default:
			}
			<-ctx.Done()
			ts.mu.Lock()
			ts.cancelled++
			ts.mu.Unlock()
			return nil, ctx.Err()
		})
	s.AddTool(&mcp.Tool{Name: "protocol_error", InputSchema: objectSchema, Annotations: readOnly},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args(req)
			return nil, errors.New("handler exploded")
		})
	return s
}

// harness connects test services in memory and runs flows on them.
type harness struct {
	t        *testing.T
	services map[string]*testService
	caller   *SessionCaller
	journal  *Journal
	// coop, when set, runs flows on it instead of a LocalRuntime.
	coop *coopRuntime
}

// runtimes are the runtimes every engine scenario of a table test runs
// on: the local one, and cooperative coroutines as under Temporal.
var runtimes = []string{"local", "cooperative"}

// newHarnessOn is newHarness on the runtime named (runtimes).
func newHarnessOn(t *testing.T, runtime string, names ...string) *harness {
	h := newHarness(t, names...)
	h.on(runtime)
	return h
}

// on makes h run its flows on the runtime named (runtimes).
func (h *harness) on(runtime string) {
	h.coop = nil
	if runtime == "cooperative" {
		h.coop = newCoopRuntime(h.caller)
	}
}

func newHarness(t *testing.T, names ...string) *harness {
	t.Helper()
	if len(names) == 0 {
		names = []string{"a", "b"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := &harness{t: t, services: map[string]*testService{}, caller: &SessionCaller{Sessions: map[string]*mcp.ClientSession{}}}
	for _, n := range names {
		ts := newTestService(n)
		h.services[n] = ts
		h.caller.Sessions[n] = connectInMemory(ctx, t, ts.server())
	}
	h.journal = openTestJournal(t, filepath.Join(t.TempDir(), JournalFile))
	return h
}

func trustAll(string) bool { return true }

func (h *harness) opts(inputs map[string]any) RunOptions {
	var rt Runtime = NewLocalRuntime(h.caller)
	if h.coop != nil {
		rt = h.coop
	}
	return RunOptions{Runtime: rt, Journal: h.journal, Inputs: inputs, TrustAnnotations: trustAll}
}

// parseFlow parses and validates a flow as `run` does, failing the test on
// any error, so that every flow the engine tests run is one `mediator
// validate` accepts: the two cannot drift apart on what a flow may read.
func parseFlow(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f := parseUnvalidated(t, src)
	if ps := flow.Validate(context.Background(), f, flow.ValidateOptions{RetryAtRunTime: true}).Errors(); len(ps) > 0 {
		t.Fatalf("validate:\n%v", ps)
	}
	return f
}

// parseUnvalidated parses a flow without validating it, for tests of what
// the engine must refuse on its own.
func parseUnvalidated(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse("test.flow.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

func (h *harness) run(src string, inputs map[string]any) (*RunResult, error) {
	h.t.Helper()
	f := parseFlow(h.t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.runFlow(ctx, f, h.opts(inputs))
}

// runFlow runs f with opts, as the first task of h's cooperative runtime
// when it has one.
func (h *harness) runFlow(ctx context.Context, f *flow.Flow, opts RunOptions) (*RunResult, error) {
	if h.coop == nil {
		return Run(ctx, f, opts)
	}
	var res *RunResult
	var runErr error
	if err := h.coop.run(ctx, func(ctx context.Context) error {
		res, runErr = Run(ctx, f, opts)
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return res, runErr
}

func engJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}
