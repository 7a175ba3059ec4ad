package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TaskTool is the tool of a TaskServer: its listing says
// execution.taskSupport "required", and every call of it creates a task.
const TaskTool = "research"

// TaskServer is a go-sdk server speaking the 2025-11-25 tasks protocol
// (SEP-1686), which go-sdk itself lacks: tools/call of TaskTool answers a
// CreateTaskResult, and tasks/get, tasks/result and tasks/cancel work on
// the tasks it made. By default its tasks never finish (a server that
// hangs): Complete finishes one, CompleteAfterPolls makes them finish by
// themselves. It records every request and notification a client sent it
// (through Dial or URL), so a test can tell what went over the wire.
// Its tasks outlive sessions, as a real server's do.
type TaskServer struct {
	Server *mcp.Server
	opts   TaskServerOptions

	mu    sync.Mutex
	tasks map[string]*serverTask
	n     int
	sent  []Sent
}

// TaskServerOptions shape a TaskServer.
type TaskServerOptions struct {
	// Idempotent annotates TaskTool idempotent (safe to call again).
	Idempotent bool
	// PollInterval is what the tasks ask their clients to poll at; 0
	// means 10ms.
	PollInterval time.Duration
	// CompleteAfterPolls, when positive, completes a task at its nth
	// tasks/get.
	CompleteAfterPolls int
	// HoldCreate, when set, holds every tools/call of TaskTool until it
	// is closed, whether or not the client cancels the call meanwhile,
	// and then creates the task: a slow server that ignores
	// notifications/cancelled.
	HoldCreate chan struct{}
	// IDPrefix goes before each task's id ("task-1"): a long one makes
	// ids no client should keep.
	IDPrefix string
	// Extension makes the server speak the tasks extension of MCP
	// 2026-07-28 (SEP-2663) instead: it declares the extension, answers
	// a call of TaskTool from a client that declared it with a flat
	// CreateTaskResult (resultType "task"), returns a finished task's
	// result inline in tasks/get, and has no tasks/result (-32601).
	Extension bool
	// Optional lists TaskTool with taskSupport "optional" and declares
	// task-augmented tools/call (tasks.requests.tools.call): a call
	// without the task parameter is answered at once ("done at once").
	// Only through Dial, which sees whether a call had it.
	Optional bool
	// JSONResponse answers each HTTP request with application/json rather
	// than an event stream.
	JSONResponse bool
}

// Sent is one message a client sent a TaskServer.
type Sent struct {
	Method string
	// Task: the params held a task parameter (a task-augmented request).
	Task bool
	// TaskID is params.taskId (tasks/*), or params.requestId
	// (notifications/cancelled).
	TaskID string
	// McpName is the request's Mcp-Name header (over HTTP).
	McpName string
	// Meta is params._meta.
	Meta map[string]any
}

type serverTask struct {
	id      string
	status  string
	message string
	polls   int
	result  *mcp.CallToolResult
	done    chan struct{} // closed at a terminal status
	created time.Time
}

// NewTaskServer returns a TaskServer.
func NewTaskServer(opts TaskServerOptions) *TaskServer {
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	s := &TaskServer{opts: opts, tasks: map[string]*serverTask{}}
	var sopts *mcp.ServerOptions
	if opts.Extension {
		caps := &mcp.ServerCapabilities{}
		caps.AddExtension(tasksExtension, map[string]any{})
		sopts = &mcp.ServerOptions{Capabilities: caps}
	}
	s.Server = mcp.NewServer(&mcp.Implementation{Name: "tasks", Version: "1"}, sopts)
	ann := &mcp.ToolAnnotations{IdempotentHint: opts.Idempotent}
	mcp.AddTool(s.Server, &mcp.Tool{Name: TaskTool, Description: "Research a topic, as a task.", Annotations: ann},
		func(context.Context, *mcp.CallToolRequest, struct {
			Topic string `json:"topic"`
		}) (*mcp.CallToolResult, any, error) {
			if opts.Optional {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done at once"}}}, nil, nil
			}
			return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: TaskTool + " requires task augmentation"}
		})
	s.Server.AddReceivingMiddleware(s.middleware)
	_ = mcp.AddReceivingCustomMethod(s.Server, "tasks/get", func(ctx context.Context, _ *mcp.ServerSession, p *taskIDParams) (*taskResult, error) {
		return s.get(p.TaskID)
	})
	_ = mcp.AddReceivingCustomMethod(s.Server, "tasks/result", func(ctx context.Context, _ *mcp.ServerSession, p *taskIDParams) (*mcp.CallToolResult, error) {
		if opts.Extension {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "tasks/result is not a method of the tasks extension"}
		}
		return s.result(ctx, p.TaskID)
	})
	_ = mcp.AddReceivingCustomMethod(s.Server, "tasks/cancel", func(ctx context.Context, _ *mcp.ServerSession, p *taskIDParams) (*taskResult, error) {
		return s.cancel(p.TaskID)
	})
	return s
}

const tasksExtension = "io.modelcontextprotocol/tasks"

type taskIDParams struct {
	mcp.ParamsBase
	TaskID string `json:"taskId"`
}

type wireTask struct {
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	TTL           int64  `json:"ttl,omitempty"`
	PollInterval  int64  `json:"pollInterval,omitempty"`
}

type taskResult struct {
	mcp.ResultBase
	wireTask
	// The extension's names, and a finished task's result inline.
	ResultType     string              `json:"resultType,omitempty"`
	TTLMs          int64               `json:"ttlMs,omitempty"`
	PollIntervalMs int64               `json:"pollIntervalMs,omitempty"`
	Result         *mcp.CallToolResult `json:"result,omitempty"`
}

type createTaskResult struct {
	mcp.ResultBase
	Task wireTask `json:"task"`
}

// rawResult is a result sent as it is.
type rawResult struct {
	mcp.ResultBase
	raw json.RawMessage
}

func (r *rawResult) MarshalJSON() ([]byte, error) { return r.raw, nil }

// middleware adds execution.taskSupport to TaskTool's listing and turns
// its calls into tasks.
func (s *TaskServer) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/call":
			if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p.Name == TaskTool {
				if s.opts.HoldCreate != nil {
					<-s.opts.HoldCreate
				}
				if s.opts.Optional && !s.lastCallTask() {
					break // answered at once
				}
				if s.opts.Extension {
					if !declared(req) {
						break // a synchronous call, which fails
					}
					t := s.create()
					return s.flat(taskResult{wireTask: t, ResultType: "task"}), nil
				}
				return &createTaskResult{Task: s.create()}, nil
			}
		case "tools/list":
			res, err := next(ctx, method, req)
			if err != nil {
				return res, err
			}
			var m map[string]any
			b, _ := json.Marshal(res)
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			support := "required"
			if s.opts.Optional {
				support = "optional"
			}
			tools, _ := m["tools"].([]any)
			for _, t := range tools {
				if tm, ok := t.(map[string]any); ok && tm["name"] == TaskTool {
					tm["execution"] = map[string]any{"taskSupport": support}
				}
			}
			b, err = json.Marshal(m)
			return &rawResult{raw: b}, err
		case "initialize", "server/discover":
			res, err := next(ctx, method, req)
			if err != nil || !s.opts.Optional {
				return res, err
			}
			var m map[string]any
			b, _ := json.Marshal(res)
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			caps, _ := m["capabilities"].(map[string]any)
			if caps == nil {
				caps = map[string]any{}
				m["capabilities"] = caps
			}
			caps["tasks"] = map[string]any{"requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}}}
			b, err = json.Marshal(m)
			return &rawResult{raw: b}, err
		}
		return next(ctx, method, req)
	}
}

// declared reports whether the client of req declared the tasks
// extension: in its initialize capabilities, or in the request's _meta
// (2026-07-28).
func declared(req mcp.Request) bool {
	var caps any
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss.InitializeParams() != nil && ss.InitializeParams().Capabilities != nil {
		caps = ss.InitializeParams().Capabilities
	}
	if m := req.GetParams().GetMeta(); m[mcp.MetaKeyClientCapabilities] != nil {
		caps = m[mcp.MetaKeyClientCapabilities]
	}
	b, _ := json.Marshal(caps)
	var c struct {
		Extensions map[string]any `json:"extensions"`
	}
	_ = json.Unmarshal(b, &c)
	_, ok := c.Extensions[tasksExtension]
	return ok
}

// flat is t in the extension's form: ttlMs and pollIntervalMs for ttl
// and pollInterval.
func (s *TaskServer) flat(t taskResult) *taskResult {
	t.TTLMs, t.PollIntervalMs = t.TTL, t.PollInterval
	t.TTL, t.PollInterval = 0, 0
	return &t
}

func (s *TaskServer) create() wireTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	t := &serverTask{id: s.opts.IDPrefix + "task-" + strconv.Itoa(s.n), status: "working", message: "started", done: make(chan struct{}), created: time.Now()}
	s.tasks[t.id] = t
	return s.wireLocked(t)
}

func (s *TaskServer) wireLocked(t *serverTask) wireTask {
	ts := t.created.UTC().Format(time.RFC3339)
	return wireTask{TaskID: t.id, Status: t.status, StatusMessage: t.message, CreatedAt: ts, LastUpdatedAt: ts,
		TTL: 3600000, PollInterval: s.opts.PollInterval.Milliseconds()}
}

func notFound(id string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("Task not found: %s", id)}
}

func (s *TaskServer) get(id string) (*taskResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil, notFound(id)
	}
	if t.status == "working" {
		t.polls++
		t.message = fmt.Sprintf("poll %d", t.polls)
		if s.opts.CompleteAfterPolls > 0 && t.polls >= s.opts.CompleteAfterPolls {
			s.finishLocked(t, "completed", "done after polls")
		}
	}
	if s.opts.Extension {
		r := taskResult{wireTask: s.wireLocked(t)}
		if t.status == "completed" {
			r.Result = t.result
		}
		return s.flat(r), nil
	}
	return &taskResult{wireTask: s.wireLocked(t)}, nil
}

func (s *TaskServer) finishLocked(t *serverTask, status, text string) {
	if t.status != "working" {
		return
	}
	t.status, t.message = status, text
	t.result = &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
	close(t.done)
}

func (s *TaskServer) result(ctx context.Context, id string) (*mcp.CallToolResult, error) {
	s.mu.Lock()
	t, ok := s.tasks[id]
	s.mu.Unlock()
	if !ok {
		return nil, notFound(id)
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.status != "completed" {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "task " + t.status}
	}
	return t.result, nil
}

func (s *TaskServer) cancel(id string) (*taskResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil, notFound(id)
	}
	s.finishLocked(t, "cancelled", "cancelled by the client")
	if s.opts.Extension {
		return &taskResult{}, nil // an empty ack
	}
	return &taskResult{wireTask: s.wireLocked(t)}, nil
}

// Start makes a task as a call of TaskTool would, for a client that is
// gone, and returns its id.
func (s *TaskServer) Start() string { return s.create().TaskID }

// Complete finishes task id with text as its result.
func (s *TaskServer) Complete(id, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		s.finishLocked(t, "completed", text)
	}
}

// Status is task id's status ("" for an unknown task).
func (s *TaskServer) Status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		return t.status
	}
	return ""
}

// Sent returns the messages clients sent so far.
func (s *TaskServer) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// lastCallTask reports whether the last tools/call recorded had the task
// parameter.
func (s *TaskServer) lastCallTask() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.sent) - 1; i >= 0; i-- {
		if s.sent[i].Method == "tools/call" {
			return s.sent[i].Task
		}
	}
	return false
}

// Count is how many messages of method clients sent.
func (s *TaskServer) Count(method string) int {
	n := 0
	for _, m := range s.Sent() {
		if m.Method == method {
			n++
		}
	}
	return n
}

func (s *TaskServer) record(msg jsonrpc.Message, mcpName string) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return
	}
	var p struct {
		Task      json.RawMessage `json:"task"`
		TaskID    string          `json:"taskId"`
		RequestID any             `json:"requestId"`
		Meta      map[string]any  `json:"_meta"`
	}
	_ = json.Unmarshal(req.Params, &p)
	m := Sent{Method: req.Method, Task: len(p.Task) > 0, TaskID: p.TaskID, McpName: mcpName, Meta: p.Meta}
	if p.RequestID != nil {
		m.TaskID = fmt.Sprint(p.RequestID)
	}
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.mu.Unlock()
}

// Dial connects each new session to the server through an in-memory
// pipe (a connectors.Options.NewTransport), recording what the client
// writes.
func (s *TaskServer) Dial() func(context.Context) (mcp.Transport, error) {
	return func(context.Context) (mcp.Transport, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := s.Server.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return recordingTransport{inner: ct, s: s}, nil
	}
}

type recordingTransport struct {
	inner mcp.Transport
	s     *TaskServer
}

func (t recordingTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return recordingConn{Connection: c, s: t.s}, nil
}

type recordingConn struct {
	mcp.Connection
	s *TaskServer
}

func (c recordingConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	c.s.record(msg, "")
	return c.Connection.Write(ctx, msg)
}

// Handler serves the server over streamable HTTP, recording each POSTed
// message.
func (s *TaskServer) Handler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.Server }, &mcp.StreamableHTTPOptions{JSONResponse: s.opts.JSONResponse})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if msg, err := jsonrpc.DecodeMessage(body); err == nil {
				s.record(msg, r.Header.Get("Mcp-Name"))
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	})
}

// URL serves Handler over loopback HTTP until the test ends.
func (s *TaskServer) URL(tb testing.TB) string {
	tb.Helper()
	hs := httptest.NewServer(s.Handler())
	tb.Cleanup(hs.Close)
	return hs.URL
}
