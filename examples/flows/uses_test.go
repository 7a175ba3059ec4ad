package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// TestRainRemindersSubFlow runs the sub-flow example over the example
// weather and calendar servers through the orchestrator: one reminder per
// rainy city, made inside the sub-flow (its calls on record under the
// step's path), the same keys as the flat example.
func TestRainRemindersSubFlow(t *testing.T) {
	f := load(t, "rain-reminders-sub.flow.yaml")
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	cal := calendar.NewServer()
	var got keyLog
	cal.AddReceivingMiddleware(got.middleware)
	o, auditPath := auditedOrchestrator(t,
		orchestrator.ServerConfig{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(now))},
		orchestrator.ServerConfig{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(cal)},
	)
	cities := []any{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}
	const threshold = 0.5
	var rainy, wantKeys []string
	for _, c := range cities {
		if fc := weather.Predict(c.(string), now(), 1); fc.PrecipitationProbability >= threshold {
			rainy = append(rainy, c.(string))
			wantKeys = append(wantKeys, "rain-"+fc.Location+"-"+fc.Date)
		}
	}
	if len(rainy) == 0 || len(rainy) == len(cities) {
		t.Fatalf("test cities should be mixed: rainy %v", rainy)
	}
	slices.Sort(wantKeys)
	res := run(t, f, workflows.OrchestratorCaller{O: o}, map[string]any{"cities": cities, "threshold": threshold})
	if got := strs(res.Outputs["rainy_cities"]); strings.Join(got, ",") != strings.Join(rainy, ",") {
		t.Errorf("rainy_cities %v, want %v", got, rainy)
	}
	if created := strs(res.Outputs["created"]); len(created) != len(rainy) {
		t.Errorf("created %v for rainy %v", created, rainy)
	}
	if keys := got.sorted(); !slices.Equal(keys, wantKeys) {
		t.Errorf("calendar received idempotency keys %q, want %q", keys, wantKeys)
	}
	inSub := 0
	for _, og := range auditOrigins(t, o, auditPath) {
		if strings.HasPrefix(og.Step, "remind[") && strings.HasSuffix(og.Step, "].uses/add") {
			inSub++
		}
	}
	if inSub != len(rainy) {
		t.Errorf("%d audit records of the sub-flow's calls under remind[N].uses/add, want %d", inSub, len(rainy))
	}
}
