package workflows_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// LoadForRun validates as `mediator run` does: the config's policy.flows
// and server check apply, every problem is at FILE:LINE:COL, and a step's
// own retry is left to the engine's check at run time (no warning that
// it cannot be judged without the live tools).
func TestLoadForRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.flow.yaml")
	text := `version: 1
name: f
steps:
  - id: get
    call: {server: a, tool: read}
    retry: {max_attempts: 3}
  - id: put
    call: {server: b, tool: write}
    with: {x: "${ .steps.get.result }"}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ps, err := workflows.LoadForRun(t.Context(), path, flow.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := ps.Errors(); len(errs) != 1 || !strings.HasPrefix(errs[0].String(), path+":9:") || !strings.Contains(errs[0].String(), "a -> b") {
		t.Errorf("without policy.flows: %v, want the undeclared a -> b at line 9", ps)
	}
	if ws := ps.Warnings(); len(ws) != 0 {
		t.Errorf("warnings %v: the retry rule is the engine's at run time", ws)
	}

	f, ps, err := workflows.LoadForRun(t.Context(), path, flow.ValidateOptions{PolicyFlows: []flow.FlowEdge{{From: "a", To: "b"}}})
	if err != nil || len(ps) != 0 || f == nil || f.Name != "f" {
		t.Errorf("with policy.flows a -> b: %v %v %v", f, ps, err)
	}

	_, ps, _ = workflows.LoadForRun(t.Context(), path, flow.ValidateOptions{
		PolicyFlows: []flow.FlowEdge{{From: "a", To: "b"}},
		Server: func(name string) error {
			if name == "b" {
				return errors.New("server b is not configured")
			}
			return nil
		},
	})
	if errs := ps.Errors(); len(errs) != 1 || !strings.HasPrefix(errs[0].String(), path+":8:") || !strings.Contains(errs[0].String(), "server b is not configured") {
		t.Errorf("server check: %v", ps)
	}

	if _, _, err := workflows.LoadForRun(t.Context(), filepath.Join(dir, "none.flow.yaml"), flow.ValidateOptions{}); err == nil || !strings.Contains(err.Error(), "read flow file") {
		t.Errorf("missing file: %v", err)
	}
}
