package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// Workflows as tasks. A host that can take a task gets one for a workflow
// tool's call: the call returns at once, the run goes on detached from the
// request, and the host polls for its status and result. Two protocols:
//   - the tasks extension (SEP-2663, connectors.TasksExtension): the host
//     declares it in its capabilities or its request's _meta; the call
//     returns a flat CreateTaskResult (resultType "task"), tasks/get gives
//     the status and, once completed, the result inline; there is no
//     tasks/result.
//   - MCP 2025-11-25 tasks (SEP-1686): the host sends the call with a task
//     parameter, which go-sdk drops: TasksTransport (TasksHandler over
//     HTTP) hands it on in the call's _meta, and the initialize result
//     declares task-augmented tools/call to a host behind one of them. The call returns
//     {task: {...}}, tasks/get the status, tasks/result the result.
// Either way tasks/cancel cancels the run, a task belongs to the host
// session that made it (any other gets "task not found", -32602), and a
// session's tasks are cancelled when it ends, as they are by Close. A
// finished task is kept for taskTTL and at most maxFinishedTasks of them;
// ids are 128 random bits.

// Task lifetimes and the poll interval asked of hosts.
const (
	taskTTL          = time.Hour
	maxFinishedTasks = 256
	taskPollInterval = 500 * time.Millisecond
	taskCancelWait   = 2 * time.Second
)

// Task statuses.
const (
	taskWorking   = "working"
	taskCompleted = "completed"
	taskFailed    = "failed"
	taskCancelled = "cancelled"
)

// The _meta keys TasksTransport uses to hand on what go-sdk drops: a
// tools/call's task parameter, and that an initialize came through it.
const (
	metaTaskParam = "mediator/task-param"
	metaTaskWire  = "mediator/task-wire"
)

// taskStore holds the tasks of a Server.
type taskStore struct {
	life context.Context // the Server's: Close ends every run

	mu       sync.Mutex
	m        map[string]*task
	finished []*task             // in the order they finished
	watched  map[*state]struct{} // sessions whose end cancels their tasks
	runs     sync.WaitGroup
	ttl      time.Duration
	max      int
}

func newTaskStore(life context.Context) *taskStore {
	return &taskStore{life: life, m: map[string]*task{}, watched: map[*state]struct{}{}, ttl: taskTTL, max: maxFinishedTasks}
}

// task is one workflow run as a task.
type task struct {
	id      string
	owner   *state
	ext     bool // the tasks extension's, else 2025-11-25's
	created time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed when it finished

	mu       sync.Mutex
	status   string
	message  string
	updated  time.Time
	finished time.Time
	result   *mcp.CallToolResult
	err      *jsonrpc.Error
}

// taskCall is a tools/call the host may have run as a task: the
// middleware puts it in the call's context, and a workflow's handler
// that starts a task sets started.
type taskCall struct {
	ext     bool
	started *task
}

type taskCallKey struct{}

func taskCallOf(ctx context.Context) *taskCall {
	tc, _ := ctx.Value(taskCallKey{}).(*taskCall)
	return tc
}

// start runs run as a task of st and returns it, registered: tasks/get
// finds it as soon as start returns. run gets the task's own context and
// a progress func that sets the task's status message.
func (ts *taskStore) start(st *state, ext bool, run func(ctx context.Context, progress func(connectors.Progress)) (*mcp.CallToolResult, error)) *task {
	ctx, cancel := context.WithCancel(ts.life)
	now := time.Now()
	t := &task{id: rand.Text(), owner: st, ext: ext, created: now, cancel: cancel, done: make(chan struct{}),
		status: taskWorking, message: "started", updated: now}
	ts.mu.Lock()
	ts.sweepLocked(now)
	ts.m[t.id] = t
	_, watched := ts.watched[st]
	ts.watched[st] = struct{}{}
	ts.runs.Add(1)
	ts.mu.Unlock()
	if !watched && st.ss != nil {
		go ts.watch(st)
	}
	go func() {
		defer ts.runs.Done()
		defer cancel()
		res, err := run(ctx, func(p connectors.Progress) { t.set(p.Message) })
		ts.finish(ctx, t, res, err)
	}()
	return t
}

// watch cancels st's tasks and forgets them when its session ends.
func (ts *taskStore) watch(st *state) {
	_ = st.ss.Wait()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.watched, st)
	for id, t := range ts.m {
		if t.owner == st {
			t.cancel()
			delete(ts.m, id)
		}
	}
	ts.finished = slices.DeleteFunc(ts.finished, func(t *task) bool { return t.owner == st })
}

func (t *task) set(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status == taskWorking && msg != "" {
		t.message, t.updated = msg, time.Now()
	}
}

// finish records how t's run ended: its result (a tool error included),
// an error for the host, or its cancellation.
func (ts *taskStore) finish(ctx context.Context, t *task, res *mcp.CallToolResult, err error) {
	now := time.Now()
	t.mu.Lock()
	t.updated, t.finished = now, now
	switch {
	case ctx.Err() != nil:
		t.status, t.result = taskCancelled, res
		t.message = "cancelled"
		if res != nil {
			t.message = resultMessage(res)
		}
	case err != nil:
		t.status, t.err = taskFailed, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		t.message = err.Error()
	case res.IsError && !t.ext:
		// 2025-11-25: a tool error fails the task, its result kept for
		// tasks/result. The extension completes it (failed is for
		// JSON-RPC errors alone).
		t.status, t.result, t.message = taskFailed, res, "the workflow returned a tool error"
	default:
		t.status, t.result, t.message = taskCompleted, res, "done"
	}
	t.mu.Unlock()
	close(t.done)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m[t.id] == t {
		ts.finished = append(ts.finished, t)
	}
	ts.sweepLocked(now)
}

// sweepLocked forgets the finished tasks past their time to live, and the
// oldest beyond the bound.
func (ts *taskStore) sweepLocked(now time.Time) {
	n := 0
	for n < len(ts.finished) && (len(ts.finished)-n > ts.max || now.Sub(ts.finished[n].finishedAt()) > ts.ttl) {
		delete(ts.m, ts.finished[n].id)
		n++
	}
	ts.finished = slices.Delete(ts.finished, 0, n)
}

func (t *task) finishedAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// lookup is st's task id, or the spec's task-not-found error.
func (ts *taskStore) lookup(st *state, id string) (*task, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.sweepLocked(time.Now())
	t, ok := ts.m[id]
	if !ok || t.owner != st {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("Task not found: %q (it expired, or is not this session's)", id)}
	}
	return t, nil
}

// close cancels every run and waits for them to end.
func (ts *taskStore) close() {
	ts.mu.Lock()
	for _, t := range ts.m {
		t.cancel()
	}
	ts.mu.Unlock()
	ts.runs.Wait()
}

// The wire forms of a task.

type taskIDParams struct {
	mcp.ParamsBase
	TaskID string `json:"taskId"`
}

// wireTask is a task as 2025-11-25 words it, and with the extension's
// names (ttlMs, pollIntervalMs) and its outcome inline as it does. All is
// omitted from the extension's empty ack.
type wireTask struct {
	TaskID         string              `json:"taskId,omitempty"`
	Status         string              `json:"status,omitempty"`
	StatusMessage  string              `json:"statusMessage,omitempty"`
	CreatedAt      string              `json:"createdAt,omitempty"`
	LastUpdatedAt  string              `json:"lastUpdatedAt,omitempty"`
	TTL            *int64              `json:"ttl,omitempty"`
	PollInterval   *int64              `json:"pollInterval,omitempty"`
	TTLMs          *int64              `json:"ttlMs,omitempty"`
	PollIntervalMs *int64              `json:"pollIntervalMs,omitempty"`
	Result         *mcp.CallToolResult `json:"result,omitempty"`
	Error          *jsonrpc.Error      `json:"error,omitempty"`
}

// taskResult is the result of tasks/get and tasks/cancel, and the
// extension's CreateTaskResult (ResultType "task").
type taskResult struct {
	mcp.ResultBase
	ResultType string `json:"resultType,omitempty"`
	wireTask
}

// createTaskResult is the 2025-11-25 CreateTaskResult.
type createTaskResult struct {
	mcp.ResultBase
	Task wireTask `json:"task"`
}

// wire is t as the host reads it; outcome adds the extension's result or
// error.
func (ts *taskStore) wire(t *task, outcome bool) wireTask {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The time to live counts from creation: while it runs, until ttl
	// after now; once finished, until ttl after that.
	end := time.Now()
	if !t.finished.IsZero() {
		end = t.finished
	}
	ttl := end.Add(ts.ttl).Sub(t.created).Milliseconds()
	poll := taskPollInterval.Milliseconds()
	w := wireTask{TaskID: t.id, Status: t.status, StatusMessage: t.message,
		CreatedAt: t.created.UTC().Format(time.RFC3339Nano), LastUpdatedAt: t.updated.UTC().Format(time.RFC3339Nano)}
	if t.ext {
		w.TTLMs, w.PollIntervalMs = &ttl, &poll
		if outcome {
			switch t.status {
			case taskCompleted:
				w.Result = t.result
			case taskFailed:
				w.Error = t.err
			}
		}
	} else {
		w.TTL, w.PollInterval = &ttl, &poll
	}
	return w
}

// addTasks makes the Server run workflow calls as tasks for hosts that
// can take them: the middleware and the tasks/* methods.
func (s *Server) addTasks() {
	s.mcp.AddReceivingMiddleware(s.taskMiddleware)
	_ = mcp.AddReceivingCustomMethod(s.mcp, "tasks/get", s.taskGet)
	_ = mcp.AddReceivingCustomMethod(s.mcp, "tasks/result", s.taskResultOf)
	_ = mcp.AddReceivingCustomMethod(s.mcp, "tasks/cancel", s.taskCancel)
}

// taskMiddleware marks each tools/call of a host that can take a task
// (taskCall), answers with the task a workflow's handler started, lists
// the workflow tools with execution.taskSupport "optional", and declares
// 2025-11-25 task-augmented tools/call to a host behind TasksTransport.
func (s *Server) taskMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/call":
			call, ok := req.(*mcp.CallToolRequest)
			if !ok || call.Params == nil {
				break
			}
			_, legacy := call.Params.Meta[metaTaskParam]
			delete(call.Params.Meta, metaTaskParam)
			if !s.isWorkflow(call.Params.Name) {
				break
			}
			ext := !legacy && declaresTasks(call.ClientCapabilities())
			if !legacy && !ext {
				break
			}
			tc := &taskCall{ext: ext}
			res, err := next(context.WithValue(ctx, taskCallKey{}, tc), method, req)
			if tc.started == nil {
				return res, err
			}
			if ext {
				return &taskResult{ResultType: "task", wireTask: s.tasks.wire(tc.started, false)}, nil
			}
			return &createTaskResult{Task: s.tasks.wire(tc.started, false)}, nil
		case "tools/list":
			res, err := next(ctx, method, req)
			if err != nil || res == nil {
				return res, err
			}
			return s.listTaskSupport(res)
		case "initialize":
			_, wired := req.GetParams().GetMeta()[metaTaskWire]
			res, err := next(ctx, method, req)
			if err != nil || !wired || len(s.opts.Workflows) == 0 {
				return res, err
			}
			return withJSON(res, func(m map[string]any) {
				caps, _ := m["capabilities"].(map[string]any)
				if caps == nil {
					caps = map[string]any{}
					m["capabilities"] = caps
				}
				caps["tasks"] = map[string]any{"cancel": map[string]any{}, "requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}}}
			})
		}
		return next(ctx, method, req)
	}
}

// listTaskSupport adds execution.taskSupport "optional" to each workflow
// tool of a tools/list result.
func (s *Server) listTaskSupport(res mcp.Result) (mcp.Result, error) {
	return withJSON(res, func(m map[string]any) {
		tools, _ := m["tools"].([]any)
		for _, t := range tools {
			if tm, ok := t.(map[string]any); ok {
				if name, _ := tm["name"].(string); s.isWorkflow(name) {
					tm["execution"] = map[string]any{"taskSupport": connectors.TaskSupportOptional}
				}
			}
		}
	})
}

// rawResult is a result sent as it is.
type rawResult struct {
	mcp.ResultBase
	raw json.RawMessage
}

func (r *rawResult) MarshalJSON() ([]byte, error) { return r.raw, nil }

// withJSON is res with its JSON form edited by edit: go-sdk's types have
// no field for what tasks add.
func withJSON(res mcp.Result, edit func(map[string]any)) (mcp.Result, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	edit(m)
	b, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &rawResult{raw: b}, nil
}

// declaresTasks reports whether caps, a host's, declare the tasks
// extension.
func declaresTasks(caps *mcp.ClientCapabilities) bool {
	if caps == nil {
		return false
	}
	_, ok := caps.Extensions[connectors.TasksExtension]
	return ok
}

// requestCaps are the host's capabilities for a request with meta: its
// _meta's (2026-07-28), else the session's, from initialize.
func requestCaps(meta mcp.Meta, ss *mcp.ServerSession) *mcp.ClientCapabilities {
	if c, ok := meta[mcp.MetaKeyClientCapabilities]; ok && c != nil {
		var caps mcp.ClientCapabilities
		if b, err := json.Marshal(c); err == nil && json.Unmarshal(b, &caps) == nil {
			return &caps
		}
		return nil
	}
	return clientCaps(ss)
}

// taskOf is the task of a tasks/* request: the session's, and for an
// extension task only to a host still declaring the extension.
func (s *Server) taskOf(ss *mcp.ServerSession, p *taskIDParams) (*task, error) {
	t, err := s.tasks.lookup(s.sessions.of(s, ss), p.TaskID)
	if err != nil {
		return nil, err
	}
	if t.ext && !declaresTasks(requestCaps(p.Meta, ss)) {
		data, _ := json.Marshal(mcp.MissingRequiredClientCapabilityData{RequiredCapabilities: &mcp.ClientCapabilities{
			Extensions: map[string]any{connectors.TasksExtension: map[string]any{}}}})
		return nil, &jsonrpc.Error{Code: mcp.CodeMissingRequiredClientCapabilities, Message: "Missing required client capability: the tasks extension (" + connectors.TasksExtension + ")", Data: data}
	}
	return t, nil
}

func (s *Server) taskGet(_ context.Context, ss *mcp.ServerSession, p *taskIDParams) (*taskResult, error) {
	t, err := s.taskOf(ss, p)
	if err != nil {
		return nil, err
	}
	r := &taskResult{wireTask: s.tasks.wire(t, true)}
	if t.ext {
		r.ResultType = "complete"
	}
	return r, nil
}

// taskResultOf is tasks/result (2025-11-25): it waits for the task to
// finish, and returns its result, or its error.
func (s *Server) taskResultOf(ctx context.Context, ss *mcp.ServerSession, p *taskIDParams) (*mcp.CallToolResult, error) {
	t, err := s.taskOf(ss, p)
	if err != nil {
		return nil, err
	}
	if t.ext {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "tasks/result is not a method of the tasks extension: tasks/get returns a completed task's result"}
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.result != nil {
		return t.result, nil
	}
	if t.err != nil {
		return nil, t.err
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "task " + t.id + " " + t.status + ": " + t.message}
}

// taskCancel cancels the task's run; the run ends cancelled (journalled,
// resumable), unless it finished first.
func (s *Server) taskCancel(_ context.Context, ss *mcp.ServerSession, p *taskIDParams) (*taskResult, error) {
	t, err := s.taskOf(ss, p)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		if !t.ext {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("Cannot cancel task %q: it is %s already", t.id, s.tasks.wire(t, false).Status)}
		}
	default:
		t.cancel()
		// The run ends soon (its step's call is cancelled); the answer
		// waits a little for it, so that it can say cancelled.
		timer := time.NewTimer(taskCancelWait)
		select {
		case <-t.done:
		case <-timer.C:
		}
		timer.Stop()
	}
	if t.ext {
		return &taskResult{ResultType: "complete"}, nil // an empty ack
	}
	return &taskResult{wireTask: s.tasks.wire(t, false)}, nil
}

// TasksTransport wraps t (stdio, or an in-memory transport) so that a host
// on MCP 2025-11-25 can call workflow tools as tasks: go-sdk drops a
// tools/call's task parameter, which this hands on in the call's _meta.
// The tasks extension needs no wrapping.
func TasksTransport(t mcp.Transport) mcp.Transport { return tasksTransport{t} }

type tasksTransport struct{ inner mcp.Transport }

func (t tasksTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return tasksConn{c}, nil
}

type tasksConn struct{ mcp.Connection }

func (c tasksConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		msg = markTasks(msg)
	}
	return msg, err
}

// TasksHandler is TasksTransport for h, a streamable HTTP endpoint of the
// Server: each POSTed tools/call's task parameter is handed on in its
// _meta. HTTPHandler's endpoint has it.
func TasksHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			h.ServeHTTP(w, r)
			return
		}
		// The endpoint's own bound, applied before reading.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mcp.DefaultMaxRequestBodyBytes))
		_ = r.Body.Close()
		if err != nil {
			status := http.StatusBadRequest
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, "reading the body: "+err.Error(), status)
			return
		}
		if bytes.Contains(body, []byte(`"tools/call"`)) || bytes.Contains(body, []byte(`"initialize"`)) {
			if msg, err := jsonrpc.DecodeMessage(body); err == nil {
				if out := markTasks(msg); out != msg {
					if b, err := jsonrpc.EncodeMessage(out); err == nil {
						body = b
					}
				}
			}
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// markTasks returns msg with a tools/call's task parameter moved into its
// _meta (metaTaskParam), and an initialize marked (metaTaskWire); any
// such key the host sent itself is dropped.
func markTasks(msg jsonrpc.Message) jsonrpc.Message {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || (req.Method != "tools/call" && req.Method != "initialize") {
		return msg
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(req.Params, &params) != nil || params == nil {
		return msg
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := params["_meta"]; ok && json.Unmarshal(raw, &meta) != nil {
		return msg
	}
	delete(meta, metaTaskParam)
	delete(meta, metaTaskWire)
	switch req.Method {
	case "initialize":
		meta[metaTaskWire] = json.RawMessage("true")
	case "tools/call":
		if task, ok := params["task"]; ok && !bytes.Equal(bytes.TrimSpace(task), []byte("null")) {
			meta[metaTaskParam] = task
		}
		delete(params, "task")
	}
	if len(meta) == 0 {
		delete(params, "_meta")
	} else {
		params["_meta"], _ = json.Marshal(meta)
	}
	b, err := json.Marshal(params)
	if err != nil {
		return msg
	}
	r := *req
	r.Params = b
	return &r
}

// resultMessage is the text of a tool result.
func resultMessage(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
