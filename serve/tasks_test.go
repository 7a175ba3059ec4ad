package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/workflows"
)

const crunchFlow = "version: 1\nname: crunch\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n"

const echoFlow = "version: 1\nname: echo\ninputs:\n  text: {type: string}\nsteps:\n  - id: echo\n    call: {server: work, tool: echo}\n    with: {text: ${ .inputs.text }}\noutputs:\n  said: ${ .steps.echo.result.text }\n"

// taskServer is a Server offering the world's workflow files, over the
// world's orchestrator; Close is called when the test ends.
func taskServer(t *testing.T, w *wfWorld, opts Options) *Server {
	t.Helper()
	tools, err := LoadWorkflowTools(t.Context(), w.options())
	if err != nil {
		t.Fatal(err)
	}
	opts.Workflows = tools
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.SetOrchestrator(w.o)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// hostConnector is mediator's own connector playing the host: it speaks
// the tasks extension as a client.
func hostConnector(t *testing.T, s *Server) *connectors.Connector {
	t.Helper()
	c, err := connectors.New(connectors.Options{
		Config: connectors.Config{Name: "mediator", Timeout: time.Minute},
		NewTransport: func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			if _, err := s.MCPServer().Connect(context.Background(), st, nil); err != nil {
				return nil, err
			}
			return ct, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if _, err := c.ListTools(t.Context()); err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	return c
}

// plainHost is a go-sdk client that declares no tasks; extension makes
// it declare the tasks extension (go-sdk still cannot read a task: it is
// for the tasks/* methods), and registers them.
func plainHost(t *testing.T, s *Server, extension bool) *host {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	if _, err := s.MCPServer().Connect(context.Background(), st, nil); err != nil {
		t.Fatal(err)
	}
	opts := &mcp.ClientOptions{}
	if extension {
		opts.Capabilities = &mcp.ClientCapabilities{}
		opts.Capabilities.AddExtension(connectors.TasksExtension, map[string]any{})
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, opts)
	_ = mcp.AddSendingCustomMethod[*taskIDParams, *taskResult](c, "tasks/get")
	_ = mcp.AddSendingCustomMethod[*taskIDParams, *taskResult](c, "tasks/cancel")
	wire := &syncBuffer{}
	cs, err := c.Connect(t.Context(), &mcp.LoggingTransport{Transport: ct, Writer: wire}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return &host{cs: cs, wire: wire}
}

func journalRuns(t *testing.T, path string) []*workflows.RunRecord {
	t.Helper()
	j, err := workflows.OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	runs, err := j.Runs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// A host speaking the tasks extension (mediator's connector) gets a task
// for a workflow call, its status messages are the steps' progress, and
// its result has the same structuredContent a host without tasks gets
// from the synchronous call; the workflow is listed with taskSupport
// optional, and both runs are journalled.
func TestWorkflowTaskCompletes(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	s := taskServer(t, w, Options{})
	args := map[string]any{"cities": []any{"Bergen", "Lisbon"}, "threshold": 0.5}

	c := hostConnector(t, s)
	var (
		mu      sync.Mutex
		started []string
	)
	ctx := connectors.WithTaskStarted(t.Context(), func(id string) { mu.Lock(); started = append(started, id); mu.Unlock() })
	res, err := c.CallTool(ctx, "rain-reminders", args, nil)
	if err != nil {
		t.Fatalf("CallTool as a task: %v", err)
	}
	mu.Lock()
	if len(started) != 1 || !regexp.MustCompile(`^[A-Z2-7]{26}$`).MatchString(started[0]) {
		t.Errorf("task ids %q, want one of 128 random bits (rand.Text)", started)
	}
	mu.Unlock()
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}

	sync := plainHost(t, s, false)
	want := sync.call(t, "rain-reminders", args)
	if want.IsError {
		t.Fatalf("synchronous call: %s", resultText(want))
	}
	if got, w := asJSON(t, map[string]any{"s": res.StructuredContent}), asJSON(t, map[string]any{"s": want.StructuredContent}); fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("task's structuredContent %v, the synchronous call's %v", got, w)
	}
	if resultText(res) != resultText(want) {
		t.Errorf("task's text %q, the synchronous call's %q", resultText(res), resultText(want))
	}
	if strings.Contains(sync.wire.String(), `"resultType":"task"`) {
		t.Errorf("a host without tasks was answered with a task:\n%s", sync.wire.String())
	}
	if strings.Contains(sync.wire.String(), `"requests":{"tools":{"call"`) {
		t.Errorf("task-augmented tools/call declared to a host not behind TasksTransport:\n%s", sync.wire.String())
	}
	sync.toolNames(t)
	if !strings.Contains(sync.wire.String(), `"execution":{"taskSupport":"optional"}`) {
		t.Errorf("tools/list does not say taskSupport optional:\n%s", sync.wire.String())
	}
	runs := journalRuns(t, w.journal)
	if len(runs) != 2 || runs[0].Status != workflows.RunSucceeded || runs[1].Status != workflows.RunSucceeded {
		t.Errorf("journal %+v, want two succeeded runs", runs)
	}
}

// The task's result counts into the host session's provenance, as the
// synchronous call's does: a later call to a server the policy keeps
// that data from is refused.
func TestWorkflowTaskResultCountsIntoSession(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	tools, err := LoadWorkflowTools(t.Context(), w.options())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Gateway: true, Servers: []string{"work"}, Workflows: tools})
	if err != nil {
		t.Fatal(err)
	}
	s.SetOrchestrator(w.o)
	t.Cleanup(func() { _ = s.Close() })
	c := hostConnector(t, s)
	res, err := c.CallTool(t.Context(), "rain-reminders", map[string]any{"cities": []any{"Bergen"}, "threshold": 0.5}, nil)
	if err != nil || res.IsError {
		t.Fatalf("workflow task: %v %v", err, res)
	}
	res, err = c.CallTool(t.Context(), "work__crunch", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := resultText(res); !res.IsError || !strings.Contains(msg, `"weather"`) {
		t.Errorf("work__crunch after the task's result: %v %q; want it refused for weather's data", res.IsError, msg)
	}
}

// A workflow's call carries what the host session was given, as a run
// inside the call and as a task: data the host got from weather cannot
// reach work through the workflow's arguments unasked.
func TestWorkflowCallCarriesSessionProvenance(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "crunch.flow.yaml", "version: 1\nname: crunch\ninputs:\n  text: {type: string, default: x}\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\n    with: {text: ${ .inputs.text }}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	tools, err := LoadWorkflowTools(t.Context(), w.options())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Gateway: true, Servers: []string{"weather"}, Workflows: tools})
	if err != nil {
		t.Fatal(err)
	}
	s.SetOrchestrator(w.o)
	t.Cleanup(func() { _ = s.Close() })
	forecast := map[string]any{"location": "Bergen", "days": 1}

	h := plainHost(t, s, false)
	if res := h.call(t, "weather__get_forecast", forecast); res.IsError {
		t.Fatalf("forecast: %s", resultText(res))
	}
	if res := h.call(t, "crunch", map[string]any{"text": "the forecast"}); !res.IsError || !strings.Contains(resultText(res), "weather -> work") {
		t.Errorf("synchronous workflow call after weather's data: %v %q, want it refused for weather -> work", res.IsError, resultText(res))
	}

	c := hostConnector(t, s)
	if res, err := c.CallTool(t.Context(), "weather__get_forecast", forecast, nil); err != nil || res.IsError {
		t.Fatalf("forecast: %v %v", err, res)
	}
	var task bool
	ctx := connectors.WithTaskStarted(t.Context(), func(string) { task = true })
	res, err := c.CallTool(ctx, "crunch", map[string]any{"text": "the forecast"}, nil)
	if err != nil || !task || !res.IsError || !strings.Contains(resultText(res), "weather -> work") {
		t.Errorf("workflow task after weather's data: %v (task %v) %q, want it refused for weather -> work", err, task, resultText(res))
	}
	if got := w.work.crunches.Load(); got != 0 {
		t.Errorf("crunch was called %d times", got)
	}
}

// Cancelling a task mid-run (the connector sends tasks/cancel when its
// call's context ends) cancels the run: journalled cancelled, so it can
// be resumed, as a synchronous call the host cancels is.
func TestWorkflowTaskCancelled(t *testing.T) {
	w := newWFWorldHeard(t, make(chan struct{})) // crunch never answers on its own
	w.add(t, "crunch.flow.yaml", crunchFlow)
	s := taskServer(t, w, Options{})
	c := hostConnector(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var id string
	ctx = connectors.WithTaskStarted(ctx, func(tid string) { id = tid })
	ctx = connectors.WithProgress(ctx, func(p connectors.Progress) {
		if strings.Contains(p.Message, "(work)") {
			cancel() // the server is at work: the host gives up
		}
	})
	if _, err := c.CallTool(ctx, "crunch", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("CallTool: %v, want it canceled", err)
	}
	if id == "" {
		t.Fatal("the call did not run as a task")
	}
	// Close waits for every run to end.
	_ = s.Close()
	runs := journalRuns(t, w.journal)
	if len(runs) != 1 || runs[0].Status != workflows.RunCancelled {
		t.Fatalf("journal %+v, want one cancelled run", runs)
	}
	if got := w.work.crunches.Load(); got != 1 {
		t.Errorf("crunch called %d times", got)
	}
}

// A raw host cancels with tasks/cancel and reads the cancelled task with
// tasks/get; another session cannot read or cancel it (task not found,
// -32602), and its own session can.
func TestWorkflowTaskOtherSession(t *testing.T) {
	w := newWFWorldHeard(t, make(chan struct{}))
	w.add(t, "crunch.flow.yaml", crunchFlow)
	s := taskServer(t, w, Options{})
	a := plainHost(t, s, true)
	params := &mcp.CallToolParams{Name: "crunch", Arguments: map[string]any{}}
	if _, err := a.cs.CallTool(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"resultType":"task","taskId":"([A-Z2-7]+)","status":"working"`).FindStringSubmatch(a.wire.String())
	if m == nil {
		t.Fatalf("no task created:\n%s", a.wire.String())
	}
	id := m[1]

	b := plainHost(t, s, true)
	for _, method := range []string{"tasks/get", "tasks/cancel"} {
		_, err := mcp.CallCustomMethod[*taskIDParams, *taskResult](t.Context(), b.cs, method, &taskIDParams{TaskID: id})
		var je *jsonrpc.Error
		if !errors.As(err, &je) || je.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("%s of another session's task: %v, want -32602", method, err)
		}
	}

	got, err := mcp.CallCustomMethod[*taskIDParams, *taskResult](t.Context(), a.cs, "tasks/get", &taskIDParams{TaskID: id})
	if err != nil || got.Status != taskWorking || got.ResultType != "complete" || got.TTLMs == nil || got.PollIntervalMs == nil {
		t.Fatalf("tasks/get: %+v %v", got, err)
	}
	if _, err := mcp.CallCustomMethod[*taskIDParams, *taskResult](t.Context(), a.cs, "tasks/cancel", &taskIDParams{TaskID: id}); err != nil {
		t.Fatalf("tasks/cancel: %v", err)
	}
	_ = s.Close()
	got, err = mcp.CallCustomMethod[*taskIDParams, *taskResult](t.Context(), a.cs, "tasks/get", &taskIDParams{TaskID: id})
	if err != nil || got.Status != taskCancelled || !strings.Contains(got.StatusMessage, "mediator resume ") || got.Result != nil {
		t.Fatalf("tasks/get after cancel: %+v %v", got, err)
	}
	if runs := journalRuns(t, w.journal); len(runs) != 1 || runs[0].Status != workflows.RunCancelled {
		t.Errorf("journal %+v, want one cancelled run", runs)
	}
}

// A host session's tasks end with it: its runs are cancelled (and
// journalled so), as no other session could read them.
func TestWorkflowTaskEndsWithSession(t *testing.T) {
	w := newWFWorldHeard(t, make(chan struct{}))
	w.add(t, "crunch.flow.yaml", crunchFlow)
	s := taskServer(t, w, Options{})
	a := plainHost(t, s, true)
	if _, err := a.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "crunch", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.wire.String(), `"resultType":"task"`) {
		t.Fatalf("no task created:\n%s", a.wire.String())
	}
	_ = a.cs.Close()
	s.tasks.runs.Wait() // returns once the session's end cancelled the run
	if runs := journalRuns(t, w.journal); len(runs) != 1 || runs[0].Status != workflows.RunCancelled {
		t.Errorf("journal %+v, want one cancelled run", runs)
	}
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	if len(s.tasks.m) != 0 {
		t.Errorf("%d tasks kept after their session ended", len(s.tasks.m))
	}
}

// No secret the redactor knows reaches the host in a task's result.
func TestWorkflowTaskRedactsSecrets(t *testing.T) {
	const key = "sk-canary-0123456789abcdef"
	w := newWFWorld(t)
	w.add(t, "echo.flow.yaml", echoFlow)
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(key))
	s := taskServer(t, w, Options{Redactor: func() *credentials.Redactor { return red }})
	c := hostConnector(t, s)
	var started bool
	ctx := connectors.WithTaskStarted(t.Context(), func(string) { started = true })
	res, err := c.CallTool(ctx, "echo", map[string]any{"text": "the key is " + key}, nil)
	if err != nil || res.IsError || !started {
		t.Fatalf("echo as a task: %v %v (task %v)", err, res, started)
	}
	structured, _ := json.Marshal(res.StructuredContent)
	if strings.Contains(string(structured), key) || strings.Contains(resultText(res), key) || !strings.Contains(resultText(res), "[REDACTED]") {
		t.Errorf("the key reached the host: %s / %s", structured, resultText(res))
	}
}

// Finished tasks are kept for their time to live, and at most so many.
func TestTaskStoreBounds(t *testing.T) {
	ts := newTaskStore(t.Context())
	ts.max = 2
	st := &state{}
	run := func(context.Context, func(connectors.Progress)) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	}
	var ids []string
	for range 4 {
		tk := ts.start(st, true, run)
		<-tk.done
		ids = append(ids, tk.id)
	}
	ts.runs.Wait()
	for i, id := range ids {
		_, err := ts.lookup(st, id)
		if kept := err == nil; kept != (i >= 2) {
			t.Errorf("task %d kept %v, want only the last 2", i, kept)
		}
	}
	ts.ttl = -time.Nanosecond // every finished task is past it
	if _, err := ts.lookup(st, ids[3]); err == nil {
		t.Error("a task past its time to live is still there")
	}
	if len(ts.m) != 0 || len(ts.finished) != 0 {
		t.Errorf("left %d tasks, %d finished", len(ts.m), len(ts.finished))
	}
}

// rawHost is a JSON-RPC connection to the Server through TasksTransport,
// for the 2025-11-25 task parameter go-sdk's client cannot send.
type rawHost struct {
	conn mcp.Connection
	next int64
}

func newRawHost(t *testing.T, s *Server) *rawHost {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	if _, err := s.MCPServer().Connect(context.Background(), TasksTransport(st), nil); err != nil {
		t.Fatal(err)
	}
	return rawHostOn(t, ct)
}

// rawHostOn is a rawHost over ct.
func rawHostOn(t *testing.T, ct mcp.Transport) *rawHost {
	t.Helper()
	conn, err := ct.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawHost{conn: conn}
}

// call sends a request and returns its response's result or error.
func (h *rawHost) call(t *testing.T, method string, params any) (json.RawMessage, *jsonrpc.Error) {
	t.Helper()
	h.next++
	id, _ := jsonrpc.MakeID(float64(h.next))
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.conn.Write(t.Context(), &jsonrpc.Request{ID: id, Method: method, Params: p}); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := h.conn.Read(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if resp, ok := msg.(*jsonrpc.Response); ok && resp.ID == id {
			if resp.Error != nil {
				var je *jsonrpc.Error
				if !errors.As(resp.Error, &je) {
					je = &jsonrpc.Error{Message: resp.Error.Error()}
				}
				return nil, je
			}
			return resp.Result, nil
		}
	}
}

// rawCaps are the server capabilities tasks add.
type rawCaps struct {
	Tasks struct {
		Requests struct {
			Tools struct {
				Call json.RawMessage `json:"call"`
			} `json:"tools"`
		} `json:"requests"`
		Cancel json.RawMessage `json:"cancel"`
	} `json:"tasks"`
}

// initialize starts a 2025-11-25 session and returns the server's
// capabilities.
func (h *rawHost) initialize(t *testing.T) rawCaps {
	t.Helper()
	res, rerr := h.call(t, "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"tasks": map[string]any{}},
		"clientInfo": map[string]any{"name": "host", "version": "1"}})
	if rerr != nil {
		t.Fatal(rerr)
	}
	var init struct {
		Capabilities rawCaps `json:"capabilities"`
	}
	if err := json.Unmarshal(res, &init); err != nil {
		t.Fatal(err)
	}
	h.notify(t, "notifications/initialized")
	return init.Capabilities
}

func (h *rawHost) notify(t *testing.T, method string) {
	t.Helper()
	if err := h.conn.Write(t.Context(), &jsonrpc.Request{Method: method, Params: json.RawMessage("{}")}); err != nil {
		t.Fatal(err)
	}
}

// A host on MCP 2025-11-25 (behind TasksTransport) sees task-augmented
// tools/call declared, gets {task} for a call with the task parameter,
// and reads the result with tasks/result and the status with tasks/get;
// its call without the parameter is answered synchronously.
func TestWorkflowTask20251125(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	s := taskServer(t, w, Options{})
	h := newRawHost(t, s)
	if caps := h.initialize(t); caps.Tasks.Requests.Tools.Call == nil || caps.Tasks.Cancel == nil {
		t.Fatalf("initialize does not declare task-augmented tools/call: %+v", caps)
	}
	// A call without the task parameter, in a session of its own (the
	// first run's result would count into the session).
	other := newRawHost(t, s)
	other.initialize(t)
	args := map[string]any{"cities": []any{"Bergen", "Lisbon"}, "threshold": 0.5}
	syncRes, rerr := other.call(t, "tools/call", map[string]any{"name": "rain-reminders", "arguments": args})
	if rerr != nil || strings.Contains(string(syncRes), `"task"`) {
		t.Fatalf("call without the task parameter: %s %v", syncRes, rerr)
	}

	res, rerr := h.call(t, "tools/call", map[string]any{"name": "rain-reminders", "arguments": args, "task": map[string]any{"ttl": 60000}})
	if rerr != nil {
		t.Fatal(rerr)
	}
	var created createTaskResult
	if err := json.Unmarshal(res, &created); err != nil || created.Task.Status != taskWorking || created.Task.TTL == nil || created.Task.TTLMs != nil {
		t.Fatalf("CreateTaskResult %s", res)
	}
	id := created.Task.TaskID
	res, rerr = h.call(t, "tasks/result", map[string]any{"taskId": id})
	if rerr != nil {
		t.Fatalf("tasks/result: %v", rerr)
	}
	var got, want mcp.CallToolResult
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(syncRes, &want); err != nil {
		t.Fatal(err)
	}
	if got.IsError || fmt.Sprint(got.StructuredContent) != fmt.Sprint(want.StructuredContent) {
		t.Errorf("tasks/result %s, the synchronous call's %s", res, syncRes)
	}
	res, rerr = h.call(t, "tasks/get", map[string]any{"taskId": id})
	var tr taskResult
	if rerr != nil || json.Unmarshal(res, &tr) != nil || tr.Status != taskCompleted || tr.Result != nil || tr.ResultType != "" {
		t.Errorf("tasks/get: %s %v", res, rerr)
	}
	if _, rerr := h.call(t, "tasks/cancel", map[string]any{"taskId": id}); rerr == nil || rerr.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("tasks/cancel of a completed task: %v, want -32602", rerr)
	}
}

// Over streamable HTTP, HTTPHandler's endpoint does what TasksTransport
// does (TasksHandler).
func TestWorkflowTask20251125OverHTTP(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	s := taskServer(t, w, Options{})
	hs := startHTTP(t, s.MCPServer(), HTTPOptions{NoAuth: true})
	h := rawHostOn(t, &mcp.StreamableClientTransport{Endpoint: hs.URL + MCPPath})
	if caps := h.initialize(t); caps.Tasks.Requests.Tools.Call == nil {
		t.Fatalf("initialize does not declare task-augmented tools/call: %+v", caps)
	}
	res, rerr := h.call(t, "tools/call", map[string]any{"name": "rain-reminders", "arguments": map[string]any{"cities": []any{"Bergen"}}, "task": map[string]any{}})
	var created createTaskResult
	if rerr != nil || json.Unmarshal(res, &created) != nil || created.Task.Status != taskWorking {
		t.Fatalf("CreateTaskResult %s %v", res, rerr)
	}
	res, rerr = h.call(t, "tasks/result", map[string]any{"taskId": created.Task.TaskID})
	var got mcp.CallToolResult
	if rerr != nil || json.Unmarshal(res, &got) != nil || got.IsError || got.StructuredContent == nil {
		t.Errorf("tasks/result %s %v", res, rerr)
	}
}

// markTasks moves the task parameter into _meta and drops the marks a
// host sent itself.
func TestMarkTasks(t *testing.T) {
	id, _ := jsonrpc.MakeID(float64(1))
	for _, tc := range []struct{ in, want string }{
		{`{"name":"x","task":{"ttl":5}}`, `{"_meta":{"mediator/task-param":{"ttl":5}},"name":"x"}`},
		{`{"name":"x","_meta":{"mediator/task-param":{},"k":1}}`, `{"_meta":{"k":1},"name":"x"}`},
		{`{"name":"x"}`, `{"name":"x"}`},
	} {
		out := markTasks(&jsonrpc.Request{ID: id, Method: "tools/call", Params: json.RawMessage(tc.in)}).(*jsonrpc.Request)
		if string(out.Params) != tc.want {
			t.Errorf("markTasks(%s) = %s, want %s", tc.in, out.Params, tc.want)
		}
	}
}
