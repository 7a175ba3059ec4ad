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
	// Every report sent before the result reaches the step, even the one
	// sent just before it (connectors' noticeOrder).
	if len(reports) != 3 {
		t.Fatalf("%d progress events for the step's call, want 3: %+v", len(reports), reports)
	}
	for _, ev := range reports {
		if ev.Path != "crunch" || ev.Step == nil || ev.Step.ID != "crunch" || ev.Report.Server != "work" || ev.Report.Total != 4 || ev.Report.Message != "chunk" {
			t.Errorf("event %+v", ev)
		}
	}
}
