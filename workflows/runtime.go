package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Runtime is everything the interpreter needs from the world it runs in:
// calling a tool, starting concurrent work and waiting for it, sleeping
// between retries, and a clock for timings. The interpreter touches nothing
// else, so a distributed engine (a Temporal workflow whose tool calls are
// activities on per-server task queues) implements this interface and runs
// the same interpreter over the same Flow.
//
// The interpreter's own bookkeeping uses short mutex-guarded sections that
// never span a Runtime call, so an implementation that runs tasks as
// cooperatively scheduled coroutines stays deadlock-free.
type Runtime interface {
	// CallTool makes one tools/call. A result with IsError set is returned
	// without a Go error; a Go error means the call did not produce a
	// result (transport, protocol, refused by policy, cancelled). A
	// runtime that decides the data-flow policy (FlowDecider) refuses here
	// a call whose req.Sources may not flow to req.Server.
	CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error)
	// Tool describes one tool (annotations decide the retry rule, the input
	// schema checks --dry-run arguments). It returns an error naming the
	// server and tool when there is no such tool.
	Tool(ctx context.Context, server, tool string) (*mcp.Tool, error)
	// ReadResource makes one resources/read, for a read: step. It is the
	// only request besides tools/call a flow makes: listing resources or
	// prompts is for people, and subscribing has no place in a run that
	// ends, so the interface stays at what a distributed runtime must
	// carry out as activities on a server's queue.
	ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error)
	// Go starts fn concurrently and returns a handle to wait for it.
	Go(ctx context.Context, fn func(ctx context.Context)) Task
	// Sleep waits for d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc calls f in a task of its own once d has passed since start
	// was closed (a nil start: since now), unless stop is called first;
	// after stop returns, f is not called. It is the interpreter's only
	// timer (run and sub-flow timeouts, the finally steps' budget), so a
	// replaying runtime keeps it in its history.
	AfterFunc(ctx context.Context, start <-chan struct{}, d time.Duration, f func()) (stop func())
	// Now is used for timings only; it never influences the data path.
	// ctx is the calling task's, as for every method: a runtime of
	// cooperatively scheduled coroutines finds the running one there.
	Now(ctx context.Context) time.Time
}

// Task is a handle on work started with Runtime.Go.
type Task interface {
	// Wait blocks until the task's function has returned; ctx is the
	// waiting task's own.
	Wait(ctx context.Context)
}

// CallRequest is one tools/call as the interpreter composes it.
type CallRequest struct {
	Server string
	Tool   string
	Args   map[string]any
	// Meta is sent as the request's _meta; it carries the idempotency key
	// under MetaIdempotencyKey.
	Meta mcp.Meta
	// Run and Step are the run's ID and the call's journal path
	// ("remind[3]"), for logs and the audit log.
	Run  string
	Step string
	// Sources are the servers whose data the call may carry or that may
	// decide whether it is made (flow.Provenance.CallSources), and Flows
	// the flow file's own flows: (FlowFile is the file). A FlowDecider
	// refuses the call unless every source other than Server may flow to
	// it under Flows or its own policy.
	Sources  []string
	Flows    []flow.FlowEdge
	FlowFile string
	// OnTask, when set, is told the task's id as soon as the server has
	// created it, for a call that runs as a task (MCP tasks); the call
	// then waits for the task. The journal records it there.
	OnTask func(taskID string)
	// Timeout, when positive, is the step's timeout: the runtime bounds
	// this one attempt by it (locally a deadline on the call; a
	// distributed runtime its activity's start-to-close timeout) and
	// returns an error that wraps ErrAttemptTimeout when it passes. Zero
	// leaves the server's own timeout.
	Timeout time.Duration
	// ResumeTaskID, when set, makes the call attach to that running task
	// of the same tool instead of calling: a resume picking up a call
	// whose task was journalled. A task the server does not know fails
	// with an error that wraps connectors.ErrTaskNotFound.
	ResumeTaskID string
}

// FlowDecider is a Runtime, or a LocalRuntime's ToolCaller, that decides
// the data-flow policy for the calls it makes: its CallTool refuses a call
// whose req.Sources may not flow to req.Server (under req.Flows and the
// policy it holds) before anything is sent, with an error that unwraps to
// a *FlowRefusedError. The engine then leaves the decision to it, so
// there is one place the rule is decided (the orchestrator, through
// OrchestratorCaller). For a runtime that does not decide (DryRun,
// SessionCaller, a test's own), the engine refuses undeclared flows
// itself under RunOptions.PolicyFlows, before the step evaluates
// anything: a runtime cannot skip the check by not knowing about it.
type FlowDecider interface {
	DecidesFlows() bool
}

// FlowRefusedError is a call a FlowDecider refused: data from the servers
// From may not flow to server To. Err is the decider's own error.
type FlowRefusedError struct {
	From []string
	To   string
	Err  error
}

func (e *FlowRefusedError) Error() string { return e.Err.Error() }
func (e *FlowRefusedError) Unwrap() error { return e.Err }

// MetaIdempotencyKey is the _meta key under which a step's idempotency_key
// travels. MCP has no standard idempotency field; the "mediator/" prefix
// (a _meta key's optional prefix: dot-separated labels and a slash, here
// a single label, outside the names MCP reserves) keeps this extension
// from colliding with other _meta users. A server that
// supports it answers a repeated key with the first call's result instead
// of acting twice.
const MetaIdempotencyKey = "mediator/idempotency-key"

// ToolCaller is the part of the world a local runtime delegates to: an
// orchestrator (see OrchestratorCaller) or anything else that can call a
// tool by server name.
type ToolCaller interface {
	CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error)
	Tool(ctx context.Context, server, tool string) (*mcp.Tool, error)
	ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error)
}

// LocalRuntime runs the interpreter in this process: goroutines for
// concurrency, the wall clock for timings, calls through a ToolCaller.
type LocalRuntime struct {
	Caller ToolCaller
}

// NewLocalRuntime returns the in-process runtime over caller.
func NewLocalRuntime(caller ToolCaller) *LocalRuntime { return &LocalRuntime{Caller: caller} }

func (r *LocalRuntime) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	ctx, done := withAttemptTimeout(ctx, req.Timeout)
	res, err := r.Caller.CallTool(ctx, req)
	return res, done(err)
}

// ErrAttemptTimeout is wrapped by the error of an attempt that ran out of
// its step's timeout (CallRequest.Timeout, ReadRequest.Timeout).
var ErrAttemptTimeout = errors.New("the step's timeout passed")

// attemptTimedOut is an attempt's error when its step's timeout passed: the
// caller's own error, which also matches ErrAttemptTimeout.
type attemptTimedOut struct{ err error }

func (e *attemptTimedOut) Error() string   { return e.err.Error() }
func (e *attemptTimedOut) Unwrap() []error { return []error{e.err, ErrAttemptTimeout} }

// withAttemptTimeout bounds one attempt by d, when positive (the connector
// would otherwise end it at the server's timeout, when shorter). done takes
// the attempt's error and returns it, marked with ErrAttemptTimeout when d
// passed while ctx itself had not ended.
func withAttemptTimeout(ctx context.Context, d time.Duration) (context.Context, func(error) error) {
	if d <= 0 {
		return ctx, func(err error) error { return err }
	}
	actx, cancel := context.WithTimeoutCause(connectors.WithCallTimeout(ctx, d), d, ErrAttemptTimeout)
	return actx, func(err error) error {
		timedOut := ctx.Err() == nil && errors.Is(context.Cause(actx), ErrAttemptTimeout)
		cancel()
		if err != nil && timedOut {
			return &attemptTimedOut{err: err}
		}
		return err
	}
}

func (r *LocalRuntime) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	return r.Caller.Tool(ctx, server, tool)
}

// DecidesFlows reports whether its ToolCaller decides the data-flow
// policy.
func (r *LocalRuntime) DecidesFlows() bool { return decidesFlows(r.Caller) }

// decidesFlows reports whether v is a FlowDecider that decides.
func decidesFlows(v any) bool {
	d, ok := v.(FlowDecider)
	return ok && d.DecidesFlows()
}

func (r *LocalRuntime) ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error) {
	ctx, done := withAttemptTimeout(ctx, req.Timeout)
	res, err := r.Caller.ReadResource(ctx, req)
	return res, done(err)
}

type goTask struct{ wg sync.WaitGroup }

func (t *goTask) Wait(context.Context) { t.wg.Wait() }

func (r *LocalRuntime) Go(ctx context.Context, fn func(ctx context.Context)) Task {
	t := &goTask{}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn(ctx)
	}()
	return t
}

func (r *LocalRuntime) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (r *LocalRuntime) AfterFunc(_ context.Context, start <-chan struct{}, d time.Duration, f func()) (stop func()) {
	var (
		mu      sync.Mutex
		timer   *time.Timer
		stopped bool
	)
	arm := func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(d, f)
		}
	}
	quit := make(chan struct{})
	if start == nil {
		arm()
	} else {
		go func() {
			select {
			case <-start:
				arm()
			case <-quit:
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			stopped = true
			if timer != nil {
				timer.Stop()
			}
			mu.Unlock()
			close(quit)
		})
	}
}

func (r *LocalRuntime) Now(context.Context) time.Time { return time.Now() }
