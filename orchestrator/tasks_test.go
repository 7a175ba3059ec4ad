package orchestrator_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A tool that requires task augmentation (server-everything's
// simulate-research-query) is one Call: the connector runs the task and
// Call returns its result, the task's status messages reaching the
// progress callback on the way.
func TestCallRunsTask(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	ctx := testContext(t)
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "everything", Command: command, Args: append(args, "stdio")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// server-everything keeps its tasks for 5 minutes on timers that
	// keep it alive after its stdin closes, so Close ends it with SIGTERM
	// and says so.
	t.Cleanup(func() { _ = o.Close() })
	var mu sync.Mutex
	var msgs []string
	pctx := connectors.WithProgress(ctx, func(p connectors.Progress) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, p.Message)
	})
	res, err := o.Call(pctx, "everything", "simulate-research-query", map[string]any{"topic": "tides", "ambiguous": false})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got := textOf(res); res.IsError || !strings.Contains(got, "Research Report: tides") {
		t.Fatalf("result %q (IsError %v)", got, res.IsError)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(msgs, "|"); !strings.Contains(got, "Gathering sources") {
		t.Errorf("progress %q lacks the task's status messages", got)
	}
}
