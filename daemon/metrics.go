package daemon

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// Metrics is the daemon's Prometheus registry: runs by workflow and
// state, step and tool-call latency per server, errors by class, policy
// refusals, OAuth token renewals (WatchServers). Labels hold names only (workflows, servers, states, classes),
// never argument values or error text. Its methods are safe for
// concurrent use, and a nil *Metrics records nothing.
type Metrics struct {
	reg       *prometheus.Registry
	runs      *prometheus.CounterVec
	steps     *prometheus.HistogramVec
	toolCalls *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	refusals  *prometheus.CounterVec

	// tracing, when set, gets the same events as spans (SetTracing).
	tracing *Tracing

	mu      sync.Mutex
	started map[stepKey]time.Time
}

type stepKey struct{ run, path string }

// NewMetrics returns a registry with the daemon's metrics and the Go
// runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediator_runs_total",
			Help: "Runs by workflow and the state they reached (queued, running, succeeded, failed, cancelled, blocked, interrupted).",
		}, []string{"workflow", "state"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediator_step_duration_seconds",
			Help:    "Time from a call step's start to its end, retries included, by the server it calls and how it ended.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"server", "status"}),
		toolCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediator_tool_call_duration_seconds",
			Help:    "Time of one tool call, by server.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"server"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediator_errors_total",
			Help: "Step failures by error class (refused, protocol, timed_out, ...).",
		}, []string{"class"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediator_policy_refusals_total",
			Help: "Calls mediator refused (the data-flow policy, an unknown or unaccepted tool), by the server called.",
		}, []string{"server"}),
		started: map[stepKey]time.Time{},
	}
	m.reg.MustRegister(m.runs, m.steps, m.toolCalls, m.errors, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus's text format (for GET
// /metrics; APIOptions.Metrics takes it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// WatchServers makes /metrics report the OAuth token renewals of the
// servers servers returns (the daemon's current orchestrator's), read at
// each scrape: mediator_auth_refreshes_total by server and outcome (ok;
// refused, the authorization server refused: the login expired; failed,
// it could not be reached). The counts of connectors a reload replaced
// are kept as of the last scrape before it (a renewal is rare beside
// scrapes). Call it once.
func (m *Metrics) WatchServers(servers func() []orchestrator.ServerStatus) {
	m.reg.MustRegister(&renewalCollector{servers: servers, seen: map[string]oauth.Renewals{}, base: map[string]oauth.Renewals{}})
}

var authRefreshesDesc = prometheus.NewDesc("mediator_auth_refreshes_total",
	"OAuth access token renewals ahead of expiry or after a 401 (a refresh token grant, or a machine grant run again), by server and outcome: ok, refused (the login expired or was revoked), failed (the authorization server could not be reached).",
	[]string{"server", "outcome"}, nil)

// renewalCollector turns the connectors' renewal counts into a counter
// that survives reloads: a count lower than the last seen is a new
// connector, and the old one's last count joins the base.
type renewalCollector struct {
	servers func() []orchestrator.ServerStatus

	mu         sync.Mutex
	seen, base map[string]oauth.Renewals
}

func (c *renewalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- authRefreshesDesc }

func (c *renewalCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.servers() {
		now, last := s.OAuthRenewals, c.seen[s.Name]
		if now.OK < last.OK || now.Refused < last.Refused || now.Failed < last.Failed {
			b := c.base[s.Name]
			c.base[s.Name] = oauth.Renewals{OK: b.OK + last.OK, Refused: b.Refused + last.Refused, Failed: b.Failed + last.Failed}
		}
		c.seen[s.Name] = now
	}
	for name, last := range c.seen {
		b := c.base[name]
		total := oauth.Renewals{OK: b.OK + last.OK, Refused: b.Refused + last.Refused, Failed: b.Failed + last.Failed}
		if total == (oauth.Renewals{}) {
			continue
		}
		for outcome, n := range map[string]int{"ok": total.OK, "refused": total.Refused, "failed": total.Failed} {
			ch <- prometheus.MustNewConstMetric(authRefreshesDesc, prometheus.CounterValue, float64(n), name, outcome)
		}
	}
}

// Registry is the registry, for collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunState counts a run of workflow reaching state.
func (m *Metrics) RunState(workflow, state string) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(workflow, state).Inc()
}

// ToolCall records one tool call to server that took d.
func (m *Metrics) ToolCall(server string, d time.Duration) {
	if m == nil {
		return
	}
	m.toolCalls.WithLabelValues(server).Observe(d.Seconds())
}

// SetTracing makes the events Metrics sees spans of t too. Call it before
// the first run.
func (m *Metrics) SetTracing(t *Tracing) {
	if m != nil {
		m.tracing = t
	}
}

// Caller is the tool caller of a run over o: each tool call is timed by
// its server (mediator_tool_call_duration_seconds), and is a span under
// its step's when tracing is on. It is workflows.OrchestratorCaller, which
// decides the data-flow policy, with its CallTool observed.
func (m *Metrics) Caller(o *orchestrator.Orchestrator) workflows.ToolCaller {
	oc := workflows.OrchestratorCaller{O: o}
	if m == nil {
		return oc
	}
	return timedCaller{oc, m}
}

type timedCaller struct {
	workflows.OrchestratorCaller
	m *Metrics
}

func (c timedCaller) CallTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	var span trace.Span
	if c.m.tracing != nil {
		span = c.m.tracing.startToolCall(req)
	}
	start := time.Now()
	res, err := c.OrchestratorCaller.CallTool(ctx, req)
	c.m.ToolCall(req.Server, time.Since(start))
	if span != nil {
		endToolCall(span, res, err)
	}
	return res, err
}

// EngineEvent records what an engine event of a run of workflow says: a
// call step's latency by its server when it finishes, a failure's class, a
// refusal; and the run's and steps' spans when tracing is on.
func (m *Metrics) EngineEvent(workflow, runID string, ev workflows.Event) {
	if m == nil {
		return
	}
	if m.tracing != nil {
		m.tracing.engineEvent(workflow, runID, ev)
	}
	key := stepKey{runID, ev.Path}
	switch ev.Kind {
	case workflows.EventStepStarted:
		m.mu.Lock()
		m.started[key] = ev.Time
		m.mu.Unlock()
	case workflows.EventStepFinished:
		m.mu.Lock()
		start, ok := m.started[key]
		delete(m.started, key)
		m.mu.Unlock()
		server := ""
		if ev.Step != nil && ev.Step.Call != nil {
			server = ev.Step.Call.Server
		}
		if ok && server != "" && !ev.Reused {
			m.steps.WithLabelValues(server, ev.Status).Observe(ev.Time.Sub(start).Seconds())
		}
		if ev.Err == nil {
			return
		}
		class := errorClass(ev.Err)
		m.errors.WithLabelValues(class).Inc()
		if class == workflows.ClassRefused && server != "" {
			m.refusals.WithLabelValues(server).Inc()
		}
	case workflows.EventRunFinished:
		// Steps a cancellation left unfinished are forgotten with the run.
		m.mu.Lock()
		for k := range m.started {
			if k.run == runID {
				delete(m.started, k)
			}
		}
		m.mu.Unlock()
	}
}
