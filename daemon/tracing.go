package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediatorhq/mediator/workflows"
)

// TracingOptions configures NewTracing: where the daemon's spans go, over
// OTLP/HTTP (protobuf).
type TracingOptions struct {
	// Endpoint is the collector's traces URL
	// ("https://collector:4318/v1/traces"; a URL without a path gets
	// /v1/traces). http:// sends in clear text. "" leaves the endpoint,
	// and the headers, to the standard OTEL_EXPORTER_OTLP_* variables.
	Endpoint string
	// Headers go with every export (a collector's API key).
	Headers map[string]string
	// SampleRatio is the share of runs traced, in (0, 1]; 0 leaves it to
	// OTEL_TRACES_SAMPLER (by default every run).
	SampleRatio float64
	// Version is the service.version resource attribute.
	Version string

	// exporter replaces the OTLP exporter (tests).
	exporter sdktrace.SpanExporter
}

// TracingFromEnv reports whether the standard environment asks for
// traces: an OTLP endpoint is set and the SDK is not disabled.
func TracingFromEnv(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Tracing makes the daemon's OpenTelemetry spans: one per run, per step
// and per tool call of a run, carrying names only (workflow, run id, step
// path, server, tool, status, error class) and never argument values,
// results or error texts. Metrics feeds it (Metrics.SetTracing), so one
// observer sees both. Safe for concurrent use; a nil *Tracing traces
// nothing.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer

	mu    sync.Mutex
	runs  map[string]trace.Span
	steps map[stepKey]trace.Span
}

// Span and attribute names.
const (
	spanRun      = "mediator.run"
	spanStep     = "mediator.step"
	spanToolCall = "mediator.tool_call"

	attrWorkflow   = attribute.Key("mediator.workflow")
	attrRunID      = attribute.Key("mediator.run.id")
	attrRunStatus  = attribute.Key("mediator.run.status")
	attrStepPath   = attribute.Key("mediator.step.path")
	attrStepID     = attribute.Key("mediator.step.id")
	attrStepStatus = attribute.Key("mediator.step.status")
	attrReused     = attribute.Key("mediator.step.reused")
	attrAttempt    = attribute.Key("mediator.step.attempt")
	attrItems      = attribute.Key("mediator.step.items")
	attrServer     = attribute.Key("mediator.server")
	attrTool       = attribute.Key("mediator.tool")
	attrOutcome    = attribute.Key("mediator.outcome")
	attrErrorClass = attribute.Key("mediator.error.class")
)

// Tool call outcomes (mediator.outcome).
const (
	OutcomeOK        = "ok"
	OutcomeToolError = "tool_error"
	OutcomeError     = "error"
)

// NewTracing starts the OTLP/HTTP exporter behind a batching span
// processor. It does not connect: a collector that is down costs dropped
// spans, logged by the SDK, never a failed run. Shutdown flushes.
func NewTracing(ctx context.Context, opts TracingOptions) (*Tracing, error) {
	if opts.SampleRatio < 0 || opts.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v is not in (0, 1]", opts.SampleRatio)
	}
	exp := opts.exporter
	if exp == nil {
		var eo []otlptracehttp.Option
		if opts.Endpoint != "" {
			u, err := TracesURL(opts.Endpoint)
			if err != nil {
				return nil, err
			}
			eo = append(eo, otlptracehttp.WithEndpointURL(u))
		}
		if len(opts.Headers) > 0 {
			eo = append(eo, otlptracehttp.WithHeaders(opts.Headers))
		}
		var err error
		if exp, err = otlptracehttp.New(ctx, eo...); err != nil {
			return nil, fmt.Errorf("tracing: the OTLP exporter: %w", err)
		}
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", "mediator")}
	if opts.Version != "" {
		attrs = append(attrs, attribute.String("service.version", opts.Version))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing: the resource: %w", err)
	}
	po := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if opts.SampleRatio > 0 {
		po = append(po, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))))
	}
	return newTracing(sdktrace.NewTracerProvider(po...)), nil
}

// TracesURL is endpoint with /v1/traces when it has no path; it must be an
// http or https URL with a host.
func TracesURL(endpoint string) (string, error) {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	host, path, _ := strings.Cut(rest, "/")
	if !ok || (scheme != "http" && scheme != "https") || host == "" || strings.ContainsAny(host, "@?#") {
		return "", fmt.Errorf("tracing: endpoint %q is not an http:// or https:// URL of a collector, e.g. http://127.0.0.1:4318", endpoint)
	}
	if path == "" {
		return scheme + "://" + host + "/v1/traces", nil
	}
	return endpoint, nil
}

func newTracing(tp *sdktrace.TracerProvider) *Tracing {
	return &Tracing{tp: tp, tracer: tp.Tracer("github.com/mediatorhq/mediator/daemon"),
		runs: map[string]trace.Span{}, steps: map[stepKey]trace.Span{}}
}

// Shutdown ends the spans still open (runs a shutdown interrupted), sends
// what is buffered and stops the exporter, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	for k, s := range t.steps {
		s.End()
		delete(t.steps, k)
	}
	for id, s := range t.runs {
		s.SetAttributes(attrRunStatus.String(StatusInterrupted))
		s.End()
		delete(t.runs, id)
	}
	t.mu.Unlock()
	return t.tp.Shutdown(ctx)
}

// parentLocked is the context of the span that encloses path in run: the
// step at path, else the nearest enclosing step ("batch[2]/upload" →
// "batch[2]" → "batch"), else the run. t.mu must be held.
func (t *Tracing) parentLocked(run, path string) context.Context {
	ctx := context.Background()
	for p := path; p != ""; p = enclosing(p) {
		if s, ok := t.steps[stepKey{run, p}]; ok {
			return trace.ContextWithSpan(ctx, s)
		}
	}
	if s, ok := t.runs[run]; ok {
		return trace.ContextWithSpan(ctx, s)
	}
	return ctx
}

// enclosing drops path's last item index or step: "a[2]/b" → "a[2]" →
// "a" → "".
func enclosing(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i > 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return ""
}

// engineEvent turns a run's engine events into its run and step spans.
func (t *Tracing) engineEvent(workflow, runID string, ev workflows.Event) {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Kind {
	case workflows.EventRunStarted:
		_, s := t.tracer.Start(context.Background(), spanRun, trace.WithTimestamp(at), trace.WithNewRoot(),
			trace.WithAttributes(attrWorkflow.String(workflow), attrRunID.String(runID)))
		t.runs[runID] = s
	case workflows.EventStepStarted:
		attrs := []attribute.KeyValue{attrWorkflow.String(workflow), attrRunID.String(runID), attrStepPath.String(ev.Path)}
		if ev.Step != nil {
			id := ev.StepPath
			if id == "" {
				id = ev.Step.ID
			}
			attrs = append(attrs, attrStepID.String(id))
			if ev.Step.Call != nil {
				attrs = append(attrs, attrServer.String(ev.Step.Call.Server), attrTool.String(ev.Step.Call.Tool))
			}
		}
		if ev.Total > 0 {
			attrs = append(attrs, attrItems.Int(ev.Total))
		}
		_, s := t.tracer.Start(t.parentLocked(runID, enclosing(ev.Path)), spanStep, trace.WithTimestamp(at), trace.WithAttributes(attrs...))
		t.steps[stepKey{runID, ev.Path}] = s
	case workflows.EventRetrying:
		if s, ok := t.steps[stepKey{runID, ev.Path}]; ok {
			s.AddEvent("retrying", trace.WithTimestamp(at), trace.WithAttributes(attrAttempt.Int(ev.Attempt),
				attrErrorClass.String(errorClass(ev.Err)), attribute.Float64("mediator.retry.delay_seconds", ev.Delay.Seconds())))
		}
	case workflows.EventItemFinished:
		if s := trace.SpanFromContext(t.parentLocked(runID, ev.Path)); s.IsRecording() {
			attrs := []attribute.KeyValue{attrStepPath.String(ev.Path), attrStepStatus.String(ev.Status), attrReused.Bool(ev.Reused)}
			if ev.Err != nil {
				attrs = append(attrs, attrErrorClass.String(errorClass(ev.Err)))
			}
			s.AddEvent("item finished", trace.WithTimestamp(at), trace.WithAttributes(attrs...))
		}
	case workflows.EventStepFinished:
		key := stepKey{runID, ev.Path}
		s, ok := t.steps[key]
		if !ok {
			return
		}
		delete(t.steps, key)
		s.SetAttributes(attrStepStatus.String(ev.Status), attrReused.Bool(ev.Reused))
		if ev.Attempt > 0 {
			s.SetAttributes(attrAttempt.Int(ev.Attempt))
		}
		endWith(s, ev.Err)
		s.End(trace.WithTimestamp(at))
	case workflows.EventRunFinished:
		for k, s := range t.steps {
			if k.run == runID {
				s.End(trace.WithTimestamp(at))
				delete(t.steps, k)
			}
		}
		s, ok := t.runs[runID]
		if !ok {
			return
		}
		delete(t.runs, runID)
		s.SetAttributes(attrRunStatus.String(ev.Status))
		endWith(s, ev.Err)
		s.End(trace.WithTimestamp(at))
	}
}

// startToolCall opens a tool call's span under its step's.
func (t *Tracing) startToolCall(req workflows.CallRequest) trace.Span {
	t.mu.Lock()
	parent := t.parentLocked(req.Run, req.Step)
	t.mu.Unlock()
	_, s := t.tracer.Start(parent, spanToolCall, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrRunID.String(req.Run), attrStepPath.String(req.Step), attrServer.String(req.Server), attrTool.String(req.Tool)))
	return s
}

// endToolCall ends a tool call's span with its outcome: ok, the tool's
// error result, or mediator's error by class.
func endToolCall(s trace.Span, res *mcp.CallToolResult, err error) {
	switch {
	case err != nil:
		s.SetAttributes(attrOutcome.String(OutcomeError))
		endWith(s, err)
	case res != nil && res.IsError:
		s.SetAttributes(attrOutcome.String(OutcomeToolError), attrErrorClass.String(workflows.ClassToolError))
		s.SetStatus(codes.Error, workflows.ClassToolError)
	default:
		s.SetAttributes(attrOutcome.String(OutcomeOK))
	}
	s.End()
}

// endWith marks s failed by err's class; err's text, which may quote
// arguments or results, stays out of the span.
func endWith(s trace.Span, err error) {
	if err == nil {
		return
	}
	class := errorClass(err)
	s.SetAttributes(attrErrorClass.String(class))
	s.SetStatus(codes.Error, class)
}

// errorClass is err's class as workflows classes it, or "other": the
// class of metrics and traces.
func errorClass(err error) string {
	if c := workflows.ErrorClass(err); c != "" {
		return c
	}
	return "other"
}
