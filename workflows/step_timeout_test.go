package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// A step's timeout is the call's bound even when it is longer than the
// server's: the tool answers only after the server's timeout has passed,
// and the step, allowed a minute, still gets its answer.
func TestStepTimeoutLongerThanServers(t *testing.T) {
	const serverTimeout = 250 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	release := make(chan struct{})
	srv := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "wait"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{ Done bool }, error) {
			select {
			case <-release:
				return nil, struct{ Done bool }{true}, nil
			case <-ctx.Done():
				return nil, struct{ Done bool }{}, ctx.Err()
			}
		})
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{{
		Config: connectors.Config{Name: "slow", Timeout: serverTimeout},
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

	fl, err := flow.Parse("slow.flow.yaml", []byte(`
version: 1
name: slow
steps:
  - id: w
    call: {server: slow, tool: wait}
    timeout: 1m
outputs:
  done: ${ .steps.w.result.Done }
`))
	if err != nil {
		t.Fatal(err)
	}
	// Hold the answer until well past the server's timeout, which ended
	// the call before the step's timeout reached the connector.
	stop := time.AfterFunc(3*serverTimeout, func() { close(release) })
	defer stop.Stop()
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "succeeded" || res.Outputs["done"] != true {
		t.Fatalf("status %s, outputs %v", res.Status, res.Outputs)
	}
}
