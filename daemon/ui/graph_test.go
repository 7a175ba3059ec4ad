package ui

import (
	"net/http"
	"strings"
	"testing"
)

// A run's page draws its flow inline, each step coloured and named by its
// status, each for_each with its item counts, within the page's CSP (no
// style attribute, no script).
func TestRunPageGraph(t *testing.T) {
	rg := newOrchRig(t, false)
	id := rg.run(t, "rain-reminders", map[string]any{"cities": []any{"Oslo", "Bergen", "Rome"}, "threshold": 0.7})
	body := rg.get(t, tokenAll, "/ui/runs/"+id, http.StatusOK)
	i, j := strings.Index(body, "<svg"), strings.Index(body, "</svg>")
	if i < 0 || j < i {
		t.Fatalf("no graph on the run's page:\n%s", body)
	}
	svg := body[i:j]
	for _, want := range []string{
		`class="node step call status-succeeded" data-step="forecast" data-status="succeeded"`,
		`data-step="remind" data-status="succeeded"`, "3 items: 3 succeeded", "server: weather", "server: calendar",
		`<g class="edge edge-cross" data-from="forecast" data-to="remind">`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the graph lacks %q:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, `class="node step`); n != 2 {
		t.Errorf("%d step nodes, want 2", n)
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") || strings.Contains(svg, "<style") {
		t.Errorf("the graph breaks the page's CSP:\n%s", svg)
	}
}
