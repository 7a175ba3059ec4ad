package temporal

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// Runtime is the workflows.Runtime of a Temporal workflow. Every method
// finds the calling coroutine's workflow.Context in its Go context (Go
// gives each task its own), so it must only be used by workflows.Run
// started with a context from WithWorkflowContext, inside workflow code.
//
// The engine cancels its Go contexts from inside coroutines, so every
// wait here is a workflow.Await whose condition also reads the Go
// context's Err: cancellation is noticed at the same point of a replay.
type Runtime struct {
	// Queue names the task queue of a server's activities; nil uses
	// QueueFor.
	Queue func(server string) string
	// ServerTimeout is a server's call timeout, the start-to-close
	// timeout of an attempt whose step sets none; nil uses
	// connectors.DefaultTimeout.
	ServerTimeout func(server string) time.Duration
	// Decides says whether the activities' ToolCaller decides the
	// data-flow policy (workflows.OrchestratorCaller does), so that the
	// engine leaves it to them (workflows.FlowDecider).
	Decides bool
	// HeartbeatTimeout is how long an attempt's activity may go without
	// a heartbeat (Activities send one every second) before Temporal
	// counts it lost, a dead worker's attempt failing then; it also
	// bounds how long a cancellation takes to reach the worker, 0.8 of
	// it. Zero uses DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ScheduleToStartTimeout bounds how long an attempt's activity waits
	// in its queue for a worker; past it the attempt fails with class
	// transport, naming the queue (nothing was sent). Zero uses
	// DefaultScheduleToStartTimeout.
	ScheduleToStartTimeout time.Duration

	// resolutions receive SignalResolve (Flows.Run sets them up).
	resolutions *resolutions
}

// DefaultScheduleToStartTimeout is Runtime.ScheduleToStartTimeout's
// default: a domain without a running worker fails its calls after 5
// minutes rather than never.
const DefaultScheduleToStartTimeout = 5 * time.Minute

// DefaultHeartbeatTimeout is Runtime.HeartbeatTimeout's default: a lost
// worker or a cancellation is noticed within seconds, at a heartbeat
// every 4 s per call in flight.
const DefaultHeartbeatTimeout = 5 * time.Second

var _ workflows.Runtime = (*Runtime)(nil)

// QueueFor is the task queue of a server's activities: "mcp.<server>".
func QueueFor(server string) string { return "mcp." + server }

type workflowContextKey struct{}

// WithWorkflowContext returns ctx carrying the workflow context of the
// coroutine that uses it.
func WithWorkflowContext(ctx context.Context, wctx workflow.Context) context.Context {
	return context.WithValue(ctx, workflowContextKey{}, wctx)
}

// workflowContext is the calling coroutine's workflow context. A context
// without one is a programming error: the interpreter passes on the
// contexts the runtime gave it.
func workflowContext(ctx context.Context) workflow.Context {
	w, ok := ctx.Value(workflowContextKey{}).(workflow.Context)
	if !ok {
		panic("workflows/temporal: a Runtime method was called with a context that carries no workflow context")
	}
	return w
}

// DecidesFlows reports r.Decides (workflows.FlowDecider).
func (r *Runtime) DecidesFlows() bool { return r.Decides }

func (r *Runtime) queue(server string) string {
	if r.Queue != nil {
		return r.Queue(server)
	}
	return QueueFor(server)
}

// timeout is an attempt's start-to-close timeout: the step's, else the
// server's.
func (r *Runtime) timeout(server string, step time.Duration) time.Duration {
	if step > 0 {
		return step
	}
	if r.ServerTimeout != nil {
		if d := r.ServerTimeout(server); d > 0 {
			return d
		}
	}
	return connectors.DefaultTimeout
}

// activity starts one attempt as an activity on server's queue, with no
// retries of Temporal's own (the flow's retry rule decides every resend),
// and waits for it. When ctx ends first the activity is cancelled (its
// call gets MCP cancellation on the worker) and waited for, as the local
// runtime waits for a cancelled call to return, and ctx's error is
// returned. out receives the result; the error is the activity's, decoded
// (decodeFailure).
func (r *Runtime) activity(ctx context.Context, server string, stepTimeout time.Duration, name string, in, out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := workflowContext(ctx)
	aw, cancel := workflow.WithCancel(w)
	defer cancel()
	hb := r.HeartbeatTimeout
	if hb <= 0 {
		hb = DefaultHeartbeatTimeout
	}
	sts := r.ScheduleToStartTimeout
	if sts <= 0 {
		sts = DefaultScheduleToStartTimeout
	}
	queue := r.queue(server)
	aw = workflow.WithActivityOptions(aw, workflow.ActivityOptions{
		TaskQueue:              queue,
		ScheduleToStartTimeout: sts,
		StartToCloseTimeout:    r.timeout(server, stepTimeout),
		HeartbeatTimeout:       hb,
		WaitForCancellation:    true,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	fut := workflow.ExecuteActivity(aw, name, in)
	_ = workflow.Await(w, func() bool { return fut.IsReady() || ctx.Err() != nil })
	if !fut.IsReady() {
		cancel()
		_ = workflow.Await(w, fut.IsReady)
		return ctx.Err()
	}
	err := fut.Get(w, out)
	if notStarted(err) {
		return notPolledError(queue, server, sts)
	}
	return decodeFailure(err, stepTimeout)
}

// callTool makes one activity of a call (CallTool).
func (r *Runtime) callTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	var res *mcp.CallToolResult
	err := r.activity(ctx, req.Server, req.Timeout, ActivityCallTool, callInput(req), &res)
	if err != nil {
		if res := failureResult(err); res != nil {
			return res, err
		}
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("%s.%s: %w", req.Server, req.Tool, err)
		}
		return nil, err
	}
	return res, nil
}

func (r *Runtime) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	var t *mcp.Tool
	if err := r.activity(ctx, server, 0, ActivityTool, ToolInput{Server: server, Tool: tool}, &t); err != nil {
		return nil, err
	}
	return t, nil
}

func (r *Runtime) ReadResource(ctx context.Context, req workflows.ReadRequest) (*mcp.ReadResourceResult, error) {
	var res *mcp.ReadResourceResult
	err := r.activity(ctx, req.Server, req.Timeout, ActivityReadResource, readInput(req), &res)
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("read %s of %s: %w", req.URI, req.Server, err)
		}
		return nil, err
	}
	return res, nil
}

// task is a coroutine started by Go; done is written and read by
// coroutines only, one at a time.
type task struct{ done bool }

// Wait waits in the calling coroutine until the task's function returned.
func (t *task) Wait(ctx context.Context) {
	_ = workflow.Await(workflowContext(ctx), func() bool { return t.done })
}

// Go starts fn as a workflow coroutine with a workflow context of its own.
func (r *Runtime) Go(ctx context.Context, fn func(ctx context.Context)) workflows.Task {
	t := &task{}
	workflow.Go(workflowContext(ctx), func(w workflow.Context) {
		defer func() { t.done = true }()
		fn(WithWorkflowContext(ctx, w))
	})
	return t
}

// Sleep waits on a workflow timer, cancelled when ctx ends first.
func (r *Runtime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	w := workflowContext(ctx)
	tw, cancel := workflow.WithCancel(w)
	defer cancel()
	timer := workflow.NewTimer(tw, d)
	_ = workflow.Await(w, func() bool { return timer.IsReady() || ctx.Err() != nil })
	if !timer.IsReady() {
		return ctx.Err()
	}
	return nil
}

// AfterFunc waits in a coroutine of its own for start, then on a workflow
// timer, and calls f there unless stop was called first; stop cancels the
// timer.
func (r *Runtime) AfterFunc(ctx context.Context, start <-chan struct{}, d time.Duration, f func()) (stop func()) {
	stopped := false // written and read by coroutines only
	workflow.Go(workflowContext(ctx), func(w workflow.Context) {
		if start != nil {
			// start is closed by a coroutine (a cancel of the engine's),
			// so when it is seen closed is the same in a replay.
			_ = workflow.Await(w, func() bool { return stopped || isClosed(start) })
		}
		if stopped {
			return
		}
		tw, cancel := workflow.WithCancel(w)
		defer cancel()
		timer := workflow.NewTimer(tw, d)
		_ = workflow.Await(w, func() bool { return stopped || timer.IsReady() })
		if !stopped {
			f()
		}
	})
	return func() { stopped = true }
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Now is the workflow's clock: the time of the current workflow task.
func (r *Runtime) Now(ctx context.Context) time.Time {
	return workflow.Now(workflowContext(ctx))
}
