package temporal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// A tool lookup that takes longer than the heartbeat timeout (a server
// slow to list its tools, a session slow to open) heartbeats as a call
// does, so it is not taken for a lost worker: the run succeeds at its
// first attempt.
func TestSlowToolLookup(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gate := make(chan struct{})
	ts := newTestService("a")
	srv := ts.server()
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return next(ctx, method, req)
		}
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(); _ = ss.Wait() })

	const hb = 2 * time.Second
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, HeartbeatTimeout: hb}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	start(t, fw)
	aw := worker.New(c, flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": cs}}}).Register(aw)
	start(t, aw)

	src := `version: 1
name: lookup
steps:
  - id: e
    call: {server: a, tool: echo}
    with: {v: 1}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [transport]}
outputs:
  attempts: ${ .steps.e.attempts }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "slow-lookup", TaskQueue: prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "lookup.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the lookup until its activity has outlived two heartbeat
	// timeouts, as the server records it.
	for held := false; !held; {
		desc, err := c.DescribeWorkflow(ctx, "slow-lookup", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.RawResponse.GetPendingActivities() {
			if pa.GetActivityType().GetName() == temporal.ActivityTool && pa.GetLastHeartbeatTime() != nil && pa.GetLastStartedTime() != nil &&
				pa.GetLastHeartbeatTime().AsTime().Sub(pa.GetLastStartedTime().AsTime()) > 2*hb {
				held = true
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the lookup never outlived its heartbeat timeout: %+v", desc.RawResponse.GetPendingActivities())
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(gate)
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["attempts"] != float64(1) {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, "slow-lookup", run.GetRunID()))
}
