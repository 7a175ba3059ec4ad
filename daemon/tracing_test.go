package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The traced rig: a go-sdk server whose echo tool returns its argument
// and whose fail tool answers an error result quoting it, and a workflow
// calling both, once and over a for_each. The run's input carries the
// canary value; the keyring's canary secret is in the redactor.

const (
	canaryValue  = "canary-ARG-51d0"
	canarySecret = "canary-KEYRING-9e2c"
)

const tracedFlow = `version: 1
name: traced
inputs:
  tag: {type: string}
steps:
  - id: echo
    call: {server: canary, tool: echo}
    with: {tag: ${ .inputs.tag }}
  - id: each
    for_each: ${ [1, 2] }
    call: {server: canary, tool: echo}
    with: {tag: ${ .inputs.tag }, n: ${ .item }}
  - id: fail
    call: {server: canary, tool: fail}
    with: {tag: ${ .inputs.tag }}
    on_error: continue
outputs:
  tag: ${ .steps.echo.result.tag }
`

func canaryServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "canary", Version: "1"}, nil)
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	obj := map[string]any{"type": "object"}
	srv.AddTool(&mcp.Tool{Name: "echo", InputSchema: obj, Annotations: ro}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args map[string]any
		_ = json.Unmarshal(req.Params.Arguments, &args)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(args["tag"])}}, StructuredContent: args}, nil
	})
	srv.AddTool(&mcp.Tool{Name: "fail", InputSchema: obj, Annotations: ro}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no good: " + string(req.Params.Arguments) + " " + canarySecret}}}, nil
	})
	return srv
}

// runTraced runs the traced workflow to its end through a Runs whose
// Metrics feed tr, and returns the run's id.
func runTraced(t *testing.T, tr *Tracing) string {
	t.Helper()
	o, err := orchestrator.New(orchestrator.Options{
		Servers:   []orchestrator.ServerConfig{{Config: connectors.Config{Name: "canary", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(canaryServer())}},
		AuditPath: filepath.Join(t.TempDir(), "audit.jsonl"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "traced.flow.yaml"), []byte(tracedFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(name string) error {
		if name != "canary" {
			return fmt.Errorf("no server %q", name)
		}
		return nil
	}
	cat, err := LoadCatalog(t.Context(), dir, flow.ValidateOptions{Server: check})
	if err != nil {
		t.Fatal(err)
	}
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(canarySecret))
	m := NewMetrics()
	m.SetTracing(tr)
	r, err := NewRuns(RunsOptions{StateDir: t.TempDir(), Catalog: cat, Metrics: m,
		Orchestrator:     func() *orchestrator.Orchestrator { return o },
		TrustAnnotations: func(string) bool { return true }, Server: check,
		Redactor: func() *credentials.Redactor { return red }})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := r.SubmitRun(t.Context(), "traced", map[string]any{"tag": canaryValue}, "")
	if err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, r, sub.ID)
	if info.Status != workflows.RunSucceeded || info.Steps["fail"] != workflows.StatusFailed {
		t.Fatalf("run = %+v", info)
	}
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// A run is one trace: its span is the root, each step's span is under
// it, and each tool call's is under its step's (a for_each's items'
// under the for_each step). Spans carry names, statuses and error
// classes; no argument value, result or error text, and no secret.
func TestTracingSpanTree(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := newTracing(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	id := runTraced(t, tr)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var run sdktrace.ReadOnlySpan
	steps := map[string]sdktrace.ReadOnlySpan{}
	var calls []sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		switch s.Name() {
		case spanRun:
			run = s
		case spanStep:
			steps[attr(s, attrStepPath)] = s
		case spanToolCall:
			calls = append(calls, s)
		}
	}
	if run == nil {
		t.Fatalf("no run span among %d", len(spans))
	}
	if run.Parent().IsValid() || attr(run, attrWorkflow) != "traced" || attr(run, attrRunID) != id || attr(run, attrRunStatus) != workflows.RunSucceeded {
		t.Errorf("run span: parent %v, attributes %v", run.Parent(), run.Attributes())
	}
	for _, p := range []string{"echo", "each", "fail"} {
		s := steps[p]
		if s == nil {
			t.Fatalf("no span of step %s; steps %v", p, keys(steps))
		}
		if s.Parent().SpanID() != run.SpanContext().SpanID() || s.SpanContext().TraceID() != run.SpanContext().TraceID() {
			t.Errorf("step %s is not under the run", p)
		}
		if attr(s, attrServer) != "canary" || attr(s, attrRunID) != id {
			t.Errorf("step %s: attributes %v", p, s.Attributes())
		}
	}
	if attr(steps["fail"], attrStepStatus) != workflows.StatusFailed || attr(steps["fail"], attrErrorClass) != workflows.ClassToolError || steps["fail"].Status().Description != workflows.ClassToolError {
		t.Errorf("the failed step: %v %v", steps["fail"].Attributes(), steps["fail"].Status())
	}
	if attr(steps["each"], attrItems) != "2" || len(steps["each"].Events()) != 2 {
		t.Errorf("the for_each step: %v, events %v", steps["each"].Attributes(), steps["each"].Events())
	}
	if len(calls) != 4 {
		t.Fatalf("%d tool call spans, want 4", len(calls))
	}
	outcomes := map[string]int{}
	for _, c := range calls {
		parent := byID[c.Parent().SpanID()]
		path := attr(c, attrStepPath)
		want := strings.SplitN(path, "[", 2)[0]
		if parent == nil || parent.Name() != spanStep || attr(parent, attrStepPath) != want {
			t.Errorf("tool call at %s is not under step %s", path, want)
		}
		if c.SpanKind() != trace.SpanKindClient || attr(c, attrServer) != "canary" || c.EndTime().Before(c.StartTime()) {
			t.Errorf("tool call %s: %v", path, c.Attributes())
		}
		outcomes[attr(c, attrTool)+"/"+attr(c, attrOutcome)]++
	}
	if outcomes["echo/ok"] != 3 || outcomes["fail/tool_error"] != 1 {
		t.Errorf("tool call outcomes %v", outcomes)
	}
	if len(tr.runs) != 0 || len(tr.steps) != 0 {
		t.Errorf("spans kept after the run: %d runs, %d steps", len(tr.runs), len(tr.steps))
	}
	dump, _ := json.Marshal(tracetest.SpanStubsFromReadOnlySpans(spans))
	for _, canary := range []string{canaryValue, canarySecret, "no good"} {
		if strings.Contains(string(dump), canary) {
			whereCanary(t, "spans", dump, canary)
			t.Errorf("%q reached a span", canary)
		}
	}
}

// attr is s's attribute k as text, "" when it has none.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// otlpReceiver is an OTLP/HTTP collector on loopback: it decodes each
// export's protobuf and keeps the spans, the raw bodies and the headers.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	bodies  [][]byte
	headers []http.Header
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP traces export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.bodies = append(o.bodies, body)
	o.headers = append(o.headers, r.Header.Clone())
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func pbAttr(s *tracepb.Span, k attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == string(k) {
			if v, ok := kv.Value.Value.(*commonpb.AnyValue_StringValue); ok {
				return v.StringValue
			}
			return kv.Value.String()
		}
	}
	return ""
}

// End to end: the real OTLP/HTTP exporter posts the run's spans to a
// collector on loopback (an http:// endpoint without a path gets
// /v1/traces), with the configured headers; Shutdown flushes them. The
// collector gets the run's tree and, in the raw protobuf, no canary.
func TestTracingOTLPExport(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	tr, err := NewTracing(t.Context(), TracingOptions{Endpoint: srv.URL, Headers: map[string]string{"X-Collector-Key": "k1"}, SampleRatio: 1, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	id := runTraced(t, tr)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bodies) == 0 {
		t.Fatal("nothing was exported")
	}
	if got := recv.headers[0].Get("X-Collector-Key"); got != "k1" {
		t.Errorf("the export's header is %q", got)
	}
	names := map[string]int{}
	var runSpan *tracepb.Span
	for _, s := range recv.spans {
		names[s.Name]++
		if s.Name == spanRun {
			runSpan = s
		}
	}
	if names[spanRun] != 1 || names[spanStep] != 3 || names[spanToolCall] != 4 {
		t.Fatalf("exported spans %v", names)
	}
	if pbAttr(runSpan, attrRunID) != id || pbAttr(runSpan, attrWorkflow) != "traced" || len(runSpan.ParentSpanId) != 0 {
		t.Errorf("the run span: %v", runSpan)
	}
	for _, s := range recv.spans {
		if string(s.TraceId) != string(runSpan.TraceId) {
			t.Errorf("span %s at %s is in another trace", s.Name, pbAttr(s, attrStepPath))
		}
	}
	for _, b := range recv.bodies {
		for _, canary := range []string{canaryValue, canarySecret} {
			if strings.Contains(string(b), canary) {
				t.Errorf("%q reached the collector", canary)
			}
		}
	}
}

// Tracing is off unless the config or the standard environment turns it
// on; an endpoint that is not an http(s) URL is refused by name.
func TestTracingConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if TracingFromEnv(env(nil)) {
		t.Error("on without any variable")
	}
	if !TracingFromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})) {
		t.Error("off with OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if TracingFromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})) {
		t.Error("on with OTEL_SDK_DISABLED")
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":         "http://127.0.0.1:4318/v1/traces",
		"https://c.example:4318/":       "https://c.example:4318/v1/traces",
		"https://c.example/otlp/traces": "https://c.example/otlp/traces",
	} {
		if got, err := TracesURL(in); err != nil || got != want {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4318", "grpc://c:4317", "http://", "http://user:pw@c/"} {
		if _, err := TracesURL(bad); err == nil || !strings.Contains(err.Error(), "endpoint") {
			t.Errorf("TracesURL(%q) took it: %v", bad, err)
		}
	}
	if _, err := NewTracing(t.Context(), TracingOptions{Endpoint: "http://127.0.0.1:1", SampleRatio: 2}); err == nil {
		t.Error("a sample ratio of 2 was taken")
	}
}
