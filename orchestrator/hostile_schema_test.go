package orchestrator_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A server's tool schemas are the server's to choose, and a hostile one
// chooses schemas that take a validator down: a $ref cycle (the Go runtime
// kills the process on the stack overflow), a 60-level anyOf chain (2^60
// checks), alternatives that double with the arguments' depth. Each call
// is refused with an error naming the server and tool, nothing reaches the
// tool, the refusal is audited, and the server's other tools still work.
func TestHostileSchemasRefused(t *testing.T) {
	ctx := testContext(t)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	h := hostile.NewSchemaServer()
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: auditPath,
		Servers:   []orchestrator.ServerConfig{httpServer(t, "evil", h.Server)},
	})

	for _, c := range []struct {
		tool string
		args map[string]any
		why  string
	}{
		{"cyclic", map[string]any{}, "$ref cycle #/$defs/a → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a never reaches into the value"},
		{"explosive", map[string]any{"x": 1}, "expands into more checks of a single value than the work budget allows"},
		{"deep", hostile.Nested(60), "its inputSchema cannot check these arguments safely: checking this value would take more work than the budget allows"},
	} {
		_, err := o.Call(ctx, "evil", c.tool, c.args)
		oe := asError(t, err, orchestrator.KindBadSchema)
		if oe.Server != "evil" || oe.Tool != c.tool {
			t.Errorf("%s: error names %s.%s", c.tool, oe.Server, oe.Tool)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "evil."+c.tool+": ") || !strings.Contains(msg, c.why) || !strings.Contains(msg, "nothing was sent") {
			t.Errorf("%s: message %q", c.tool, msg)
		}
		if n := h.Calls(c.tool); n != 0 {
			t.Errorf("%s was called %d times", c.tool, n)
		}
	}
	// The same tool with arguments its schema can check in bounds is fine.
	if _, err := o.Call(ctx, "evil", "deep", hostile.Nested(2)); err != nil {
		t.Errorf("deep with shallow arguments: %v", err)
	}
	// So are the server's other tools.
	res, err := o.Call(ctx, "evil", "echo", map[string]any{"text": "still here"})
	if err != nil || !strings.Contains(textOf(res), "still here") {
		t.Fatalf("echo after the refusals: %v %q", err, textOf(res))
	}
	_, err = o.Call(ctx, "evil", "echo", map[string]any{"text": 1})
	asError(t, err, orchestrator.KindInvalidArguments)

	syncAudit(t, o)
	recs, _ := readAudit(t, auditPath)
	refused := map[string]auditLine{}
	for _, r := range recs {
		if r.ErrorClass == string(orchestrator.KindBadSchema) {
			refused[r.Tool] = r
		}
	}
	for _, tool := range []string{"cyclic", "explosive", "deep"} {
		r, ok := refused[tool]
		if !ok {
			t.Errorf("no audit record of the refusal of %s: %+v", tool, recs)
			continue
		}
		if r.Server != "evil" || r.Outcome != orchestrator.OutcomeRefused || !strings.Contains(r.Error, "evil."+tool) {
			t.Errorf("audit record of %s: %+v", tool, r)
		}
	}
}
