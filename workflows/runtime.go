package workflows

import (
	"context"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
	// result (transport, protocol, refused by policy, cancelled).
	CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error)
	// Tool describes one tool (annotations decide the retry rule, the input
	// schema checks --dry-run arguments). It returns an error naming the
	// server and tool when there is no such tool.
	Tool(ctx context.Context, server, tool string) (*mcp.Tool, error)
	// Go starts fn concurrently and returns a handle to wait for it.
	Go(ctx context.Context, fn func(ctx context.Context)) Task
	// Sleep waits for d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
	// Now is used for timings only; it never influences the data path.
	Now() time.Time
}

// Task is a handle on work started with Runtime.Go.
type Task interface {
	// Wait blocks until the task's function has returned.
	Wait()
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
	// OnTask, when set, is told the task's id as soon as the server has
	// created it, for a call that runs as a task (MCP tasks); the call
	// then waits for the task. The journal records it there.
	OnTask func(taskID string)
	// ResumeTaskID, when set, makes the call attach to that running task
	// of the same tool instead of calling: a resume picking up a call
	// whose task was journalled. A task the server does not know fails
	// with an error that wraps connectors.ErrTaskNotFound.
	ResumeTaskID string
}

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
}

// LocalRuntime runs the interpreter in this process: goroutines for
// concurrency, the wall clock for timings, calls through a ToolCaller.
type LocalRuntime struct {
	Caller ToolCaller
}

// NewLocalRuntime returns the in-process runtime over caller.
func NewLocalRuntime(caller ToolCaller) *LocalRuntime { return &LocalRuntime{Caller: caller} }

func (r *LocalRuntime) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	return r.Caller.CallTool(ctx, req)
}

func (r *LocalRuntime) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	return r.Caller.Tool(ctx, server, tool)
}

type goTask struct{ wg sync.WaitGroup }

func (t *goTask) Wait() { t.wg.Wait() }

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

func (r *LocalRuntime) Now() time.Time { return time.Now() }
