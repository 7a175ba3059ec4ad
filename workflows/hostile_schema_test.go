package workflows_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

const hostileFlow = `
version: 1
name: hostile
steps:
  - id: fine
    call: {server: evil, tool: echo}
    with: {text: hello}
  - id: cycle
    needs: [fine]
    call: {server: evil, tool: cyclic}
    with: {}
  - id: chain
    needs: [fine]
    call: {server: evil, tool: explosive}
    with: {}
  - id: out
    needs: [fine]
    call: {server: evil, tool: cyclic_output}
    with: {text: x}
`

// A flow whose steps call tools with hostile schemas fails those steps
// with the orchestrator's refusal, and the process and the other steps
// carry on; `validate --connect` says so before the run. A cyclic
// outputSchema is not checked (a schema mediator cannot check is the
// server's problem) rather than taking the run down.
func TestFlowStepsCallingHostileSchemas(t *testing.T) {
	ctx := t.Context()
	h := hostile.NewSchemaServer()
	hs := httptest.NewServer(h.Handler())
	t.Cleanup(hs.Close)
	o, err := orchestrator.New(orchestrator.Options{
		AuditPath: filepath.Join(t.TempDir(), "audit.jsonl"),
		Servers:   []orchestrator.ServerConfig{{Config: connectors.Config{Name: "evil", URL: hs.URL, Timeout: 10 * time.Second}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	caller := workflows.OrchestratorCaller{O: o}

	_, probs := flow.Check(ctx, "hostile.flow.yaml", []byte(hostileFlow), flow.ValidateOptions{Catalog: caller})
	text := probs.Error()
	for _, want := range []string{
		"steps[1].call: evil.cyclic cannot be called: its inputSchema cannot be checked safely: $ref cycle",
		"steps[2].call: evil.explosive cannot be called: its inputSchema cannot be checked safely: # expands into more checks",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("validate --connect does not say %q:\n%s", want, text)
		}
	}

	// Run each hostile step in a flow of its own: the first failure ends a run.
	for _, c := range []struct{ tool, status, say string }{
		{"cyclic", "failed", "evil.cyclic: the tool cannot be used through mediator: its inputSchema cannot be checked safely: $ref cycle"},
		{"explosive", "failed", "evil.explosive: the tool cannot be used through mediator: its inputSchema cannot be checked safely: # expands"},
		{"cyclic_output", "succeeded", ""},
	} {
		src := "version: 1\nname: " + c.tool + "\nsteps:\n" +
			"  - id: fine\n    call: {server: evil, tool: echo}\n    with: {text: hello}\n" +
			"  - id: bad\n    needs: [fine]\n    call: {server: evil, tool: " + c.tool + "}\n    with: {text: x}\n"
		fl, err := flow.Parse(c.tool+".flow.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(caller)})
		if res == nil || res.Steps["fine"] != "succeeded" || res.Steps["bad"] != c.status {
			t.Errorf("%s: run %+v, error %v", c.tool, res, err)
			continue
		}
		if c.say != "" && (err == nil || !strings.Contains(err.Error(), c.say)) {
			t.Errorf("%s: run error does not say %q: %v", c.tool, c.say, err)
		}
	}
	if h.Calls("cyclic")+h.Calls("explosive") != 0 {
		t.Error("a hostile tool was called")
	}
}
