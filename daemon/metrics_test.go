package daemon

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The registry counts runs by workflow and state, times call steps by
// their server, and counts failures by class and refusals by server;
// /metrics serves them in Prometheus's text format.
func TestMetrics(t *testing.T) {
	m := NewMetrics()
	var nilM *Metrics
	nilM.RunState("x", "queued") // a nil *Metrics records nothing

	step := &flow.Step{ID: "fetch", Call: &flow.Call{Server: "weather", Tool: "forecast"}}
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	m.RunState("rain", StatusQueued)
	m.RunState("rain", workflows.RunRunning)
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepStarted, Path: "fetch", Step: step, Time: t0})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepFinished, Path: "fetch", Step: step, Time: t0.Add(300 * time.Millisecond), Status: workflows.StatusSucceeded})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepStarted, Path: "send", Step: step, Time: t0})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepFinished, Path: "send", Step: step, Time: t0.Add(time.Millisecond), Status: workflows.StatusFailed, Err: errors.New("disk full")})
	m.RunState("rain", workflows.RunFailed)
	m.ToolCall("weather", 20*time.Millisecond)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`mediator_runs_total{state="queued",workflow="rain"} 1`,
		`mediator_runs_total{state="failed",workflow="rain"} 1`,
		`mediator_step_duration_seconds_count{server="weather",status="succeeded"} 1`,
		`mediator_step_duration_seconds_sum{server="weather",status="succeeded"} 0.3`,
		`mediator_errors_total{class="other"} 1`,
		`mediator_tool_call_duration_seconds_count{server="weather"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "disk full") {
		t.Error("an error's text reached a label")
	}
	if len(m.started) != 0 {
		t.Errorf("steps kept after they finished: %v", m.started)
	}
}
