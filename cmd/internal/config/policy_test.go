package config

import (
	"reflect"
	"testing"

	"github.com/mediatorhq/mediator/orchestrator"
)

// TestPolicyReachesOrchestrator: policy.flows is the orchestrator's
// data-flow policy for every command, not only the workflow commands'.
func TestPolicyReachesOrchestrator(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/u", true
		}
		return "", false
	}
	src := "servers:\n  weather: {url: https://w.example.com/mcp}\n  calendar: {url: https://c.example.com/mcp}\n" +
		"policy:\n  flows: [\"weather -> calendar\"]\n"
	cfg, err := Parse("/etc/m/config.yaml", []byte(src), env)
	if err != nil {
		t.Fatal(err)
	}
	want := orchestrator.Policy{Flows: []orchestrator.Flow{{From: "weather", To: "calendar"}}}
	for _, names := range [][]string{nil, {"calendar"}} {
		if got := cfg.OrchestratorOptions(names...).Policy; !reflect.DeepEqual(got, want) {
			t.Errorf("OrchestratorOptions(%v).Policy = %+v, want %+v", names, got, want)
		}
	}
}
