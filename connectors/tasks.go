package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tasks (MCP 2025-11-25, SEP-1686): a tool whose listing says
// execution.taskSupport "required" is called as a task, and so is one
// that says "optional" when the server declared task-augmented tools/call
// and the caller wants the task's id (WithTaskStarted); any other call is
// an ordinary tools/call. A task is invisible to CallTool's caller: the
// connector sends tools/call with a task parameter, gets the task back,
// reports its status messages to the progress callback (WithProgress),
// polls tasks/get at the server's pollInterval and fetches tasks/result
// once the task is done or needs input (the server then delivers its
// requests, such as an elicitation, while tasks/result waits), and
// returns that CallToolResult. The call's timeout bounds the whole task;
// when ctx ends first the connector sends tasks/cancel (never
// notifications/cancelled, which does not cancel a task) and returns.
// How the task parameter gets onto the wire is taskWire's business.
//
// The tasks extension of MCP 2026-07-28 (SEP-2663, TasksExtension) works
// differently and is supported too, as far as a task that needs no input:
// the connector declares the extension, and a server that declares it
// back may answer any tools/call with a task (a flat CreateTaskResult,
// resultType "task"), whose result tasks/get returns inline once the task
// is done (there is no tasks/result). A task that asks for input
// (input_required, answered with tasks/update) is cancelled with an error
// saying so: mediator does not answer task input yet.

// TasksExtension is the name of the MCP tasks extension (SEP-2663).
const TasksExtension = "io.modelcontextprotocol/tasks"

// Execution.taskSupport values of a tool's listing.
const (
	TaskSupportRequired = "required"
	TaskSupportOptional = "optional"
)

// ErrTaskNotFound is the error (see errors.Is) of attaching to a task the
// server does not know (any more): it expired, or it was another
// session's, or the server restarted.
var ErrTaskNotFound = errors.New("the server does not know the task")

// Statuses of a task.
const (
	taskWorking       = "working"
	taskInputRequired = "input_required"
	taskCompleted     = "completed"
	taskFailed        = "failed"
	taskCancelled     = "cancelled"
)

// Poll bounds: a server's pollInterval is taken within them, and the
// default applies when it gives none.
const (
	taskPollDefault = time.Second
	taskPollMin     = 10 * time.Millisecond
	taskPollMax     = 10 * time.Second
)

// taskCancelWait bounds how long a canceled call waits for the server's
// answer to tasks/cancel before it returns (the request is sent either
// way; over HTTP the wait is the sending).
const taskCancelWait = 500 * time.Millisecond

// taskTTLMin is the least time-to-live asked for a task: long enough for a
// resume after a crash to find it. The call's timeout is asked when
// longer. A server may keep a task for less.
const taskTTLMin = time.Hour

type taskStartedKey struct{}
type taskResumeKey struct{}

// WithTaskStarted returns a context whose tool calls that run as tasks
// report each task's id to fn as soon as the server has created it,
// before the connector waits for it: a caller that must find the task
// again (a flow run, journalling it for resume) records it there. It also
// makes a tool whose task support is optional run as a task. fn is called
// on the calling goroutine.
func WithTaskStarted(ctx context.Context, fn func(taskID string)) context.Context {
	return context.WithValue(ctx, taskStartedKey{}, fn)
}

func taskStartedFunc(ctx context.Context) func(string) {
	fn, _ := ctx.Value(taskStartedKey{}).(func(string))
	return fn
}

// WithTaskResume returns a context whose next tool call does not send
// tools/call but attaches to the running task taskID (see AttachTask): a
// resumed flow run picks up the call it had started. It lets a caller
// that calls through layers above the connector (the orchestrator's
// checks and audit) attach the same way it calls.
func WithTaskResume(ctx context.Context, taskID string) context.Context {
	if taskID == "" {
		return ctx
	}
	return context.WithValue(ctx, taskResumeKey{}, taskID)
}

func taskResumeID(ctx context.Context) string {
	id, _ := ctx.Value(taskResumeKey{}).(string)
	return id
}

// taskInfo is a task's state: a CreateTaskResult's task, or a tasks/get
// or tasks/cancel result.
type taskInfo struct {
	TaskID        string   `json:"taskId"`
	Status        string   `json:"status"`
	StatusMessage string   `json:"statusMessage,omitempty"`
	PollInterval  *float64 `json:"pollInterval,omitempty"`
	// The tasks extension's names and fields: its poll interval, and a
	// finished task's outcome inline in tasks/get.
	PollIntervalMs *float64        `json:"pollIntervalMs,omitempty"`
	ResultType     string          `json:"resultType,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          *jsonrpc.Error  `json:"error,omitempty"`
}

// taskIDParams are the params of tasks/get, tasks/result and tasks/cancel.
type taskIDParams struct {
	mcp.ParamsBase
	TaskID string `json:"taskId"`
}

// taskResult is the result of tasks/get and tasks/cancel.
type taskResult struct {
	mcp.ResultBase
	taskInfo
}

// declareTasks adds what the connector supports of tasks to caps: the
// tasks extension (SEP-2663). The 2025-11-25 tasks need no declaration
// from a client that only calls tools as tasks.
func declareTasks(caps *mcp.ClientCapabilities) {
	caps.AddExtension(TasksExtension, map[string]any{})
}

// addTaskMethods registers the task methods the connector sends.
func addTaskMethods(client *mcp.Client) {
	// Errors only for a standard method's name, which these are not.
	_ = mcp.AddSendingCustomMethod[*taskIDParams, *taskResult](client, "tasks/get")
	_ = mcp.AddSendingCustomMethod[*taskIDParams, *mcp.CallToolResult](client, "tasks/result")
	_ = mcp.AddSendingCustomMethod[*taskIDParams, *taskResult](client, "tasks/cancel")
}

// How a tools/call is sent (taskMode).
const (
	plainCall   = iota // an ordinary tools/call
	taskCall           // with the task parameter (2025-11-25)
	watchedCall        // as is, but the server may answer with a task (the extension)
)

// taskMode says how a call of tool name made with ctx is sent.
func (c *Connector) taskMode(ctx context.Context, name string) int {
	if c.tasks.extension() {
		return watchedCall
	}
	support, serverCalls := c.tasks.toolSupport(name)
	switch support {
	case TaskSupportRequired:
		return taskCall
	case TaskSupportOptional:
		if serverCalls && taskStartedFunc(ctx) != nil {
			return taskCall
		}
	}
	return plainCall
}

// createdTask returns the task a tools/call's raw result created, and
// whether it is the extension's, or nil when the result is the tool's
// own.
func createdTask(raw json.RawMessage) (*taskInfo, bool) {
	var r struct {
		Task *taskInfo `json:"task"`
		taskInfo
	}
	if json.Unmarshal(raw, &r) != nil {
		return nil, false
	}
	if r.Task != nil && r.Task.TaskID != "" {
		return r.Task, false
	}
	if r.ResultType == "task" && r.TaskID != "" {
		return &r.taskInfo, true
	}
	return nil, false
}

// AttachTask waits for the running task taskID, a task-augmented call of
// tool name made earlier (possibly by another process, before a crash),
// and returns its result, as CallTool would have. The server's timeout
// applies, or the call timeout ctx carries. A task the server does not
// know fails with ErrTaskNotFound.
func (c *Connector) AttachTask(ctx context.Context, name, taskID string) (*mcp.CallToolResult, error) {
	op := func() string { return fmt.Sprintf("call tool %q (task %s)", name, taskID) }
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout(ctx))
	defer cancel()
	cs, st, err := c.await(ctx, op)
	if err != nil {
		return nil, err
	}
	return c.attach(ctx, cs, st, name, taskID)
}

// attach looks taskID up and waits for it.
func (c *Connector) attach(ctx context.Context, cs *mcp.ClientSession, st *httpStack, name, taskID string) (*mcp.CallToolResult, error) {
	p := c.newProbe(st)
	t, err := taskRequest(ctx, c, func(rctx context.Context) (*taskResult, error) {
		return c.taskCall(rctx, cs, "tasks/get", taskID)
	})
	if err != nil {
		return nil, c.taskFailed(ctx, cs, p, name, taskID, "tasks/get", err)
	}
	return c.runTask(ctx, cs, p, name, &t.taskInfo, c.tasks.extension())
}

// maxTaskID bounds a task's id: an opaque handle that callers keep (a
// flow's journal) and show.
const maxTaskID = 256

// runTask follows task t of tool name to its end and returns its result;
// ext says the task is the tasks extension's.
func (c *Connector) runTask(ctx context.Context, cs *mcp.ClientSession, p probe, name string, t *taskInfo, ext bool) (*mcp.CallToolResult, error) {
	id := t.TaskID
	if len(id) > maxTaskID {
		c.cancelTask(ctx, cs, id)
		return nil, c.newError(KindProtocol, fmt.Errorf("call tool %q: the server's task id is %d bytes long, over the %d mediator keeps (tasks/cancel sent)", name, len(id), maxTaskID))
	}
	if fn := taskStartedFunc(ctx); fn != nil {
		fn(id)
	}
	report := progressFunc(ctx)
	var reported float64
	last := ""
	for {
		if report != nil && t.StatusMessage != "" && t.StatusMessage != last {
			last = t.StatusMessage
			reported++
			report(Progress{Server: c.cfg.Name, Progress: reported, Message: t.StatusMessage})
		}
		if ext {
			if res, done, err := c.extensionOutcome(ctx, cs, name, t); done {
				return res, err
			}
		}
		switch t.Status {
		case taskCompleted, taskFailed, taskCancelled, taskInputRequired:
			if ext {
				break // the outcome comes with a later tasks/get
			}
			// tasks/result waits for the end, delivering the server's
			// requests (input_required) meanwhile.
			res, err := taskRequest(ctx, c, func(rctx context.Context) (*mcp.CallToolResult, error) {
				return mcp.CallCustomMethod[*taskIDParams, *mcp.CallToolResult](rctx, cs, "tasks/result", &taskIDParams{TaskID: id})
			})
			if err == nil {
				return res, nil
			}
			if ctx.Err() == nil && (t.Status == taskFailed || t.Status == taskCancelled) {
				// No result to fetch: the status says it all.
				what := "failed"
				if t.Status == taskCancelled {
					what = "was cancelled by the server"
				}
				msg := fmt.Sprintf("call tool %q: task %s %s", name, id, what)
				if t.StatusMessage != "" {
					msg += ": " + t.StatusMessage
				}
				return nil, c.newError(KindProtocol, fmt.Errorf("%s (%w)", msg, err))
			}
			return nil, c.taskFailed(ctx, cs, p, name, id, "tasks/result", err)
		}
		timer := time.NewTimer(pollInterval(t))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, c.taskFailed(ctx, cs, p, name, id, "waiting", ctx.Err())
		case <-timer.C:
		}
		next, err := taskRequest(ctx, c, func(rctx context.Context) (*taskResult, error) {
			return c.taskCall(rctx, cs, "tasks/get", id)
		})
		if err != nil {
			return nil, c.taskFailed(ctx, cs, p, name, id, "tasks/get", err)
		}
		t = &next.taskInfo
	}
}

// taskCall sends tasks/get or tasks/cancel for id, bounded by the
// server's timeout.
func (c *Connector) taskCall(ctx context.Context, cs *mcp.ClientSession, method, id string) (*taskResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return mcp.CallCustomMethod[*taskIDParams, *taskResult](ctx, cs, method, &taskIDParams{TaskID: id})
}

// extensionOutcome is the outcome of the extension's task t, when its
// status carries one (done).
func (c *Connector) extensionOutcome(ctx context.Context, cs *mcp.ClientSession, name string, t *taskInfo) (res *mcp.CallToolResult, done bool, err error) {
	what := fmt.Sprintf("call tool %q: task %s", name, t.TaskID)
	switch t.Status {
	case taskCompleted:
		if len(t.Result) == 0 {
			return nil, false, nil
		}
		res = new(mcp.CallToolResult)
		if err := json.Unmarshal(t.Result, res); err != nil {
			return nil, true, c.newError(KindProtocol, fmt.Errorf("%s: its result: %w", what, err))
		}
		return res, true, nil
	case taskFailed:
		if t.Error == nil {
			return nil, false, nil
		}
		return nil, true, c.newError(KindProtocol, fmt.Errorf("%s failed: %w", what, t.Error))
	case taskCancelled:
		return nil, true, c.newError(KindProtocol, fmt.Errorf("%s was cancelled by the server: %s", what, t.StatusMessage))
	case taskInputRequired:
		c.cancelTask(ctx, cs, t.TaskID)
		return nil, true, c.newError(KindProtocol, fmt.Errorf("%s asks for input (tasks/update), which mediator does not give a task yet (tasks/cancel sent)", what))
	}
	return nil, false, nil
}

func pollInterval(t *taskInfo) time.Duration {
	ms := t.PollInterval
	if t.PollIntervalMs != nil {
		ms = t.PollIntervalMs
	}
	if ms == nil {
		return taskPollDefault
	}
	d := time.Duration(*ms * float64(time.Millisecond))
	return min(max(d, taskPollMin), taskPollMax)
}

// taskFailed turns the failure of a task's step (op) into the call's
// error. When ctx ended it (canceled, or the call's timeout) the task is
// cancelled first, as it is when the connector gives up on it otherwise;
// a task the server does not know is ErrTaskNotFound.
func (c *Connector) taskFailed(ctx context.Context, cs *mcp.ClientSession, p probe, name, id, op string, err error) error {
	var rpcErr *jsonrpc.Error
	if ctx.Err() == nil && errors.As(err, &rpcErr) && rpcErr.Code == jsonrpc.CodeInvalidParams {
		return c.newError(KindProtocol, fmt.Errorf("call tool %q: task %s: %w (%s: %v)", name, id, ErrTaskNotFound, op, err))
	}
	c.cancelTask(ctx, cs, id)
	what := fmt.Sprintf("call tool %q: task %s (tasks/cancel sent)", name, id)
	if ctx.Err() == nil {
		what = fmt.Sprintf("call tool %q: task %s: %s (tasks/cancel sent)", name, id, op)
	}
	return c.failed(cs, c.classify(ctx, what, err, p))
}

// cancelTask sends tasks/cancel for id and waits a little for the answer.
func (c *Connector) cancelTask(ctx context.Context, cs *mcp.ClientSession, id string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), taskCancelWait)
	defer cancel()
	_, _ = taskRequest(wctx, c, func(rctx context.Context) (*taskResult, error) {
		return c.taskCall(rctx, cs, "tasks/cancel", id)
	})
}

// cancelOrphan cancels task id, which the server created for a call that
// had given up (see taskState.orphan).
func (c *Connector) cancelOrphan(cs *mcp.ClientSession, id string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(c.life, cancel)
	defer stop()
	if _, err := c.taskCall(ctx, cs, "tasks/cancel", id); err != nil {
		c.log.Debug("cancelling the task of a call that gave up", "task", id, "error", err)
	}
}

// taskRequest sends one request about a task on a context of its own,
// which only the connector's Close ends, and returns early, with ctx's
// error, when ctx ends first: the request is left to finish on its own.
// Ending ctx thus never makes go-sdk send notifications/cancelled for a
// task's requests; what cancels a task is tasks/cancel.
func taskRequest[R any](ctx context.Context, c *Connector, send func(context.Context) (R, error)) (R, error) {
	type answer struct {
		r   R
		err error
	}
	ch := make(chan answer, 1)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.life, cancel)
	go func() {
		defer cancel()
		defer stop()
		r, err := send(rctx)
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		return a.r, a.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}
