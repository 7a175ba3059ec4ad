package worker

import (
	"context"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stoppableCaller is a domain worker's ToolCaller: its calls end when
// stopping does, so that a stopping worker cancels its calls in flight
// (each server gets notifications/cancelled) and Temporal's worker.Stop,
// which waits for its tasks up to WorkerStopTimeout, then reports their
// attempts as failed instead of leaving them to the heartbeat timeout.
type stoppableCaller struct {
	workflows.OrchestratorCaller
	stopping context.Context
}

// bound returns ctx, ended too when c.stopping ends.
func (c stoppableCaller) bound(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.stopping, cancel)
	return ctx, func() { stop(); cancel() }
}

func (c stoppableCaller) CallTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	ctx, done := c.bound(ctx)
	defer done()
	return c.OrchestratorCaller.CallTool(ctx, req)
}

func (c stoppableCaller) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	ctx, done := c.bound(ctx)
	defer done()
	return c.OrchestratorCaller.Tool(ctx, server, tool)
}

func (c stoppableCaller) ReadResource(ctx context.Context, req workflows.ReadRequest) (*mcp.ReadResourceResult, error) {
	ctx, done := c.bound(ctx)
	defer done()
	return c.OrchestratorCaller.ReadResource(ctx, req)
}
