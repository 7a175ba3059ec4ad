package temporal

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// workerLost is an attempt whose worker was lost mid-call (its heartbeat
// timed out): whether the call took effect is unknown
// (workflows.ErrOutcomeUnknown). taskID is the MCP task the call ran as,
// from the worker's last heartbeat (CallDetails), if any.
type workerLost struct {
	err    error
	taskID string
}

func (e *workerLost) Error() string {
	return "the worker making the call was lost, so whether it took effect is unknown: " + e.err.Error()
}
func (e *workerLost) Unwrap() []error { return []error{e.err, workflows.ErrOutcomeUnknown} }

// CallTool makes one attempt of a call as an activity on its server's
// queue. When the worker making it is lost while the call runs as an MCP
// task (its heartbeat named the task), the same attempt goes on as an
// activity that attaches to the task (CallRequest.ResumeTaskID) rather
// than calling again, as a local resume does; a task the server no longer
// knows leaves the attempt as it was, its outcome unknown, for the retry
// rule or a resolve to decide.
func (r *Runtime) CallTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	res, err := r.callTool(ctx, req)
	for {
		var lost *workerLost
		if !errors.As(err, &lost) || lost.taskID == "" || ctx.Err() != nil {
			return res, err
		}
		req.ResumeTaskID = lost.taskID
		ares, aerr := r.callTool(ctx, req)
		if errors.Is(aerr, connectors.ErrTaskNotFound) {
			return res, err
		}
		res, err = ares, aerr
	}
}
