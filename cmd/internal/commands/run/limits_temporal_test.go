package run_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

const eachFlow = `version: 1
name: each
inputs:
  xs: {type: array, items: {type: number}}
steps:
  - id: add
    for_each: ${ .inputs.xs }
    call: {server: svc, tool: add}
    with: {a: "${ .item }", b: 1}
`

// temporal.limits reaches the client: a run whose history would not fit
// the namespace's limit, even with its for_each batched into child
// workflows, is refused before it starts (exit 2), naming the step, and
// nothing is called.
func TestRunRefusedByConfiguredLimits(t *testing.T) {
	e := newEngineEnv(t, "temporal")
	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	limited := strings.Replace(string(cfg), "  codec_key_secret: codec\n", "  codec_key_secret: codec\n  limits: {history_events: 60}\n", 1)
	if err := os.WriteFile(e.cfg, []byte(limited), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := e.write(t, "each.flow.yaml", eachFlow)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	xs := "[" + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + "]"
	r := e.exec(ctx, fl, "-i", "xs="+xs)
	if r.code != cmdutil.ExitUsage || !strings.Contains(r.stderr, "would not fit") || !strings.Contains(r.stderr, "step add") {
		t.Fatalf("exit %d, want %d naming the step\nstdout: %s\nstderr: %s", r.code, cmdutil.ExitUsage, r.stdout, r.stderr)
	}
	if n := len(e.svc.noted()); n != 0 {
		t.Errorf("%d calls made by a refused run", n)
	}
	// Three items fit.
	if r := e.exec(ctx, fl, "-i", "xs=[1,2,3]"); r.code != 0 {
		t.Fatalf("three items: exit %d\n%s", r.code, r.stderr)
	}
}
