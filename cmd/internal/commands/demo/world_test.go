package demo

import (
	"context"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The config a World writes is one a user could have written: it loads,
// names both servers, and an orchestrator built from it with the World's
// keyring reaches weather with weather's key.
func TestWorldConfig(t *testing.T) {
	ctx := context.Background()
	w, err := StartWorld(ctx, credentials.NewSecret("canary-a-"+randomHex(8)), credentials.NewSecret("canary-b-"+randomHex(8)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path, err := w.WriteConfig("policy:\n  flows: [\"weather -> calendar\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{Path: path, Explicit: true, Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.OrchestratorOptions()
	if len(opts.Servers) != 2 || len(opts.Policy.Flows) != 1 {
		t.Fatalf("config gives %d servers and flows %v", len(opts.Servers), opts.Policy.Flows)
	}
	opts.Secrets, opts.Redactor = w.Store, w.Store.Redactor()
	o, err := orchestrator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	res, err := o.Call(ctx, weatherServer, "get_forecast", map[string]any{"location": "Oslo"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := res.MarshalJSON(); !strings.Contains(string(b), "Oslo") {
		t.Errorf("forecast %s", b)
	}
}
