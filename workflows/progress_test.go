package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A server's progress reports about a step's call reach RunOptions.Progress
// as EventProgress of that step, for the live view to show per step.
func TestStepProgressEvents(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "crunch", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			if token == nil {
				return toolErr("no progress token: mediator did not ask for progress"), nil
			}
			for i := 1; i <= 3; i++ {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: float64(i), Total: 4, Message: "chunk"}); err != nil {
					return nil, err
				}
			}
			// go-sdk handles notifications apart from responses, so a report
			// sent just before the result can be handled after the call
			// returned (docs/design.md, "What is not guaranteed"): give the
			// reports a head start over the result.
			time.Sleep(50 * time.Millisecond)
			return structured(map[string]any{"ok": true}), nil
		})
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{{
		Config: connectors.Config{Name: "work", Timeout: 10 * time.Second},
		NewTransport: func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			_, err := srv.Connect(context.Background(), st, nil)
			return ct, err
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	var (
		mu      sync.Mutex
		reports []Event
	)
	fl := parseFlow(t, "version: 1\nname: p\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\n")
	res, err := Run(context.Background(), fl, RunOptions{Runtime: NewLocalRuntime(OrchestratorCaller{O: o}), TrustAnnotations: trustAll,
		Progress: func(ev Event) {
			if ev.Kind == EventProgress {
				mu.Lock()
				reports = append(reports, ev)
				mu.Unlock()
			}
		}})
	if err != nil || res.Status != RunSucceeded {
		t.Fatalf("run: %v, %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	// A report that arrives with the result may be dropped (go-sdk
	// handles notifications apart from responses), so at least one.
	if len(reports) == 0 {
		t.Fatal("no progress event for the step's call")
	}
	for _, ev := range reports {
		if ev.Path != "crunch" || ev.Step == nil || ev.Step.ID != "crunch" || ev.Report.Server != "work" || ev.Report.Total != 4 || ev.Report.Message != "chunk" {
			t.Errorf("event %+v", ev)
		}
	}
}
