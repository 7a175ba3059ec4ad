package connectors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// everythingConnector connects to the real npm server-everything over
// stdio and lists its tools (which is how the connector learns which of
// them run as tasks).
func everythingConnector(t *testing.T, ctx context.Context) *Connector {
	t.Helper()
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	c := mustNew(t, Options{Config: Config{Name: "everything", Command: command, Args: append(args, "stdio"), Timeout: 30 * time.Second}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if _, err := c.ListTools(ctx); err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	return c
}

// progressLog collects the progress reports of a call.
type progressLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *progressLog) add(p Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, p.Message)
}

func (l *progressLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// server-everything's simulate-research-query requires task augmentation:
// called through CallTool it runs as a task, its status messages arrive as
// progress, and the result is the task's.
func TestTaskServerEverythingCompletes(t *testing.T) {
	ctx := testCtx(t)
	c := everythingConnector(t, ctx)
	if support, _ := c.tasks.toolSupport("simulate-research-query"); support != TaskSupportRequired {
		t.Fatalf("task support of simulate-research-query = %q, want required (read from the listing)", support)
	}
	var log progressLog
	var started []string
	cctx := WithProgress(ctx, log.add)
	cctx = WithTaskStarted(cctx, func(id string) { started = append(started, id) })
	res, err := c.CallTool(cctx, "simulate-research-query", map[string]any{"topic": "tides", "ambiguous": false}, nil)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if got := resultText(t, res); res.IsError || !strings.Contains(got, "Research Report: tides") {
		t.Fatalf("result %q (IsError %v)", got, res.IsError)
	}
	if len(started) != 1 || started[0] == "" {
		t.Errorf("task started reported %q, want one id", started)
	}
	msgs := strings.Join(log.all(), "|")
	if !strings.Contains(msgs, "Gathering sources") {
		t.Errorf("progress messages %q lack the task's status messages", msgs)
	}
}

// Cancelling the call's context mid-task sends tasks/cancel: the server
// then reports the task cancelled.
func TestTaskServerEverythingCancel(t *testing.T) {
	ctx := testCtx(t)
	c := everythingConnector(t, ctx)
	cctx, cancel := context.WithCancel(ctx)
	var id string
	cctx = WithTaskStarted(cctx, func(taskID string) { id = taskID; cancel() })
	_, err := c.CallTool(cctx, "simulate-research-query", map[string]any{"topic": "tides"}, nil)
	if err == nil || kindOf(t, err) != KindCanceled {
		t.Fatalf("CallTool after cancel: %v, want KindCanceled", err)
	}
	if !strings.Contains(err.Error(), "tasks/cancel sent") {
		t.Errorf("error %q does not say the task was cancelled", err)
	}
	cs, _, err := c.await(ctx, func() string { return "get" })
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.taskCall(ctx, cs, "tasks/get", id)
	if err != nil {
		t.Fatalf("tasks/get %s: %v", id, err)
	}
	if got.Status != taskCancelled {
		t.Errorf("task %s is %q after the call was cancelled, want cancelled", id, got.Status)
	}
	// Attaching to a task the server never made is ErrTaskNotFound.
	if _, err := c.AttachTask(ctx, "simulate-research-query", "no-such-task"); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("AttachTask(unknown) = %v, want ErrTaskNotFound", err)
	}
}

func taskServerConnector(t *testing.T, ctx context.Context, s *hostile.TaskServer, url string) *Connector {
	t.Helper()
	cfg := Config{Name: "tasks", Timeout: 20 * time.Second}
	opts := Options{Config: cfg}
	if url != "" {
		opts.Config.URL = url
	} else {
		opts.NewTransport = s.Dial()
	}
	c := mustNew(t, opts)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if _, err := c.ListTools(ctx); err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	return c
}

// A task that never completes ends at the call's timeout, and the server
// is told with tasks/cancel, not notifications/cancelled.
func TestTaskNeverCompletesEndsAtTimeout(t *testing.T) {
	ctx := testCtx(t)
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	c := taskServerConnector(t, ctx, s, "")
	var id string
	cctx := WithTaskStarted(WithCallTimeout(ctx, 200*time.Millisecond), func(taskID string) { id = taskID })
	_, err := c.CallTool(cctx, hostile.TaskTool, map[string]any{"topic": "x"}, nil)
	if err == nil || kindOf(t, err) != KindTimeout {
		t.Fatalf("CallTool = %v, want KindTimeout", err)
	}
	if !strings.Contains(err.Error(), "the call's timeout is 200ms") || !strings.Contains(err.Error(), "tasks/cancel sent") {
		t.Errorf("error %q does not name the timeout and the cancel", err)
	}
	if id == "" {
		t.Fatal("the task's id was never reported")
	}
	if got := s.Status(id); got != "cancelled" {
		t.Errorf("task %s is %q on the server, want cancelled", id, got)
	}
	var calls, cancels, notices int
	for _, m := range s.Sent() {
		switch m.Method {
		case "tools/call":
			calls++
			if !m.Task {
				t.Errorf("tools/call sent without its task parameter")
			}
		case "tasks/cancel":
			cancels++
			if m.TaskID != id {
				t.Errorf("tasks/cancel for %q, want %q", m.TaskID, id)
			}
		case "notifications/cancelled":
			notices++
		}
	}
	if calls != 1 || cancels != 1 || notices != 0 {
		t.Errorf("sent %d tools/call, %d tasks/cancel, %d notifications/cancelled; want 1, 1, 0", calls, cancels, notices)
	}
}

// A task completes over an in-process transport and over streamable HTTP
// (where the wire is the round tripper), answered as event streams or as
// JSON, its status on the way reported as progress.
func TestTaskCompletes(t *testing.T) {
	for _, transport := range []string{"in-process", "streamable-http", "streamable-http-json"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testCtx(t)
			s := hostile.NewTaskServer(hostile.TaskServerOptions{CompleteAfterPolls: 3, JSONResponse: transport == "streamable-http-json"})
			url := ""
			if transport != "in-process" {
				url = s.URL(t)
			}
			c := taskServerConnector(t, ctx, s, url)
			var log progressLog
			res, err := c.CallTool(WithProgress(ctx, log.add), hostile.TaskTool, map[string]any{"topic": "x"}, mcp.Meta{"other": "kept"})
			if err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			if got := resultText(t, res); got != "done after polls" {
				t.Errorf("result %q", got)
			}
			if got := strings.Join(log.all(), "|"); got != "started|poll 1|poll 2|done after polls" {
				t.Errorf("progress %q", got)
			}
			if s.Count("tools/call") != 1 || s.Count("tasks/result") != 1 || s.Count("tasks/cancel") != 0 {
				t.Errorf("sent %+v", s.Sent())
			}
			// The mark that asked for the task parameter never reaches the
			// server; the caller's _meta does.
			for _, m := range s.Sent() {
				if m.Method != "tools/call" {
					continue
				}
				if !m.Task || m.Meta["other"] != "kept" {
					t.Errorf("tools/call sent with task %v and _meta %v", m.Task, m.Meta)
				}
				for k := range m.Meta {
					if strings.HasPrefix(k, taskMark) {
						t.Errorf("tools/call sent with the mark %q in its _meta", k)
					}
				}
			}
		})
	}
}

// AttachTask picks up a task made earlier (by a client that is gone), and
// fails with ErrTaskNotFound for one the server does not know.
func TestAttachTask(t *testing.T) {
	ctx := testCtx(t)
	s := hostile.NewTaskServer(hostile.TaskServerOptions{CompleteAfterPolls: 2})
	c := taskServerConnector(t, ctx, s, "")
	id := s.Start()
	res, err := c.AttachTask(ctx, hostile.TaskTool, id)
	if err != nil {
		t.Fatalf("AttachTask: %v", err)
	}
	if got := resultText(t, res); got != "done after polls" {
		t.Errorf("result %q", got)
	}
	// The same through CallTool with WithTaskResume: no tools/call.
	id = s.Start()
	if _, err := c.CallTool(WithTaskResume(ctx, id), hostile.TaskTool, nil, nil); err != nil {
		t.Fatalf("CallTool resuming: %v", err)
	}
	if n := s.Count("tools/call"); n != 0 {
		t.Errorf("%d tools/call sent; attaching sends none", n)
	}
	_, err = c.AttachTask(ctx, hostile.TaskTool, "task-999")
	if !errors.Is(err, ErrTaskNotFound) || kindOf(t, err) != KindProtocol {
		t.Errorf("AttachTask(unknown) = %v, want ErrTaskNotFound", err)
	}
}

// A call that gives up before the server answered it with a task (its
// timeout) leaves no task behind: the task that arrives late is
// cancelled.
func TestTaskOrphanCancelled(t *testing.T) {
	ctx := testCtx(t)
	hold := make(chan struct{})
	s := hostile.NewTaskServer(hostile.TaskServerOptions{HoldCreate: hold})
	c := taskServerConnector(t, ctx, s, "")
	_, err := c.CallTool(WithCallTimeout(ctx, 50*time.Millisecond), hostile.TaskTool, map[string]any{"topic": "x"}, nil)
	if err == nil || kindOf(t, err) != KindTimeout {
		t.Fatalf("CallTool = %v, want KindTimeout", err)
	}
	close(hold)
	for s.Status("task-1") != "cancelled" {
		if ctx.Err() != nil {
			t.Fatalf("the late task is %q, never cancelled; sent %+v", s.Status("task-1"), s.Sent())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A task id too long to keep is refused (and the task cancelled).
func TestTaskIDTooLong(t *testing.T) {
	ctx := testCtx(t)
	prefix := strings.Repeat("x", maxTaskID)
	s := hostile.NewTaskServer(hostile.TaskServerOptions{IDPrefix: prefix})
	c := taskServerConnector(t, ctx, s, "")
	_, err := c.CallTool(ctx, hostile.TaskTool, map[string]any{"topic": "x"}, nil)
	if err == nil || kindOf(t, err) != KindProtocol || !strings.Contains(err.Error(), "over the 256 mediator keeps") {
		t.Fatalf("CallTool = %v, want the task id refused", err)
	}
	if got := s.Status(prefix + "task-1"); got != "cancelled" {
		t.Errorf("the task is %q, want cancelled", got)
	}
}

// The tasks extension of MCP 2026-07-28 (SEP-2663): the connector
// declares it, the server answers with a flat CreateTaskResult, tasks/get
// brings the result inline (no tasks/result), and over HTTP each request
// about a task names it in Mcp-Name.
func TestTaskExtension(t *testing.T) {
	for _, transport := range []string{"in-process", "streamable-http"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testCtx(t)
			s := hostile.NewTaskServer(hostile.TaskServerOptions{Extension: true, CompleteAfterPolls: 2})
			url := ""
			if transport != "in-process" {
				url = s.URL(t)
			}
			c := taskServerConnector(t, ctx, s, url)
			var log progressLog
			res, err := c.CallTool(WithProgress(ctx, log.add), hostile.TaskTool, map[string]any{"topic": "x"}, nil)
			if err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			if got := resultText(t, res); got != "done after polls" || res.IsError {
				t.Errorf("result %q (IsError %v)", got, res.IsError)
			}
			if got := strings.Join(log.all(), "|"); got != "started|poll 1|done after polls" {
				t.Errorf("progress %q", got)
			}
			for _, m := range s.Sent() {
				switch m.Method {
				case "tools/call":
					if m.Task {
						t.Error("tools/call carried the 2025-11-25 task parameter")
					}
				case "tasks/result":
					t.Error("tasks/result sent; the extension has none")
				case "tasks/get":
					if url != "" && m.McpName != m.TaskID {
						t.Errorf("tasks/get for %q with Mcp-Name %q", m.TaskID, m.McpName)
					}
				}
			}

			// A task that never ends is cancelled at the call's timeout.
			never := hostile.NewTaskServer(hostile.TaskServerOptions{Extension: true})
			if url != "" {
				url = never.URL(t)
			}
			c = taskServerConnector(t, ctx, never, url)
			_, err = c.CallTool(WithCallTimeout(ctx, 100*time.Millisecond), hostile.TaskTool, map[string]any{"topic": "x"}, nil)
			if err == nil || kindOf(t, err) != KindTimeout {
				t.Fatalf("CallTool = %v, want KindTimeout", err)
			}
			// Under load the task may be created only after the timeout;
			// the connector cancels it then (TestTaskOrphanCancelled).
			for never.Status("task-1") != "cancelled" {
				if ctx.Err() != nil {
					t.Fatalf("task-1 is %q, never cancelled", never.Status("task-1"))
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// A tool whose task support is optional runs as a task only for a caller
// that wants the task's id (WithTaskStarted), and only with a server that
// declared task-augmented calls; otherwise it is an ordinary call.
func TestTaskOptional(t *testing.T) {
	ctx := testCtx(t)
	s := hostile.NewTaskServer(hostile.TaskServerOptions{Optional: true, CompleteAfterPolls: 1})
	c := taskServerConnector(t, ctx, s, "")
	if support, declared := c.tasks.toolSupport(hostile.TaskTool); support != TaskSupportOptional || !declared {
		t.Fatalf("task support %q, server declared task calls %v; want optional, true", support, declared)
	}
	res, err := c.CallTool(ctx, hostile.TaskTool, map[string]any{"topic": "x"}, nil)
	if err != nil || resultText(t, res) != "done at once" {
		t.Fatalf("plain call: %v, %v", res, err)
	}
	var id string
	res, err = c.CallTool(WithTaskStarted(ctx, func(taskID string) { id = taskID }), hostile.TaskTool, map[string]any{"topic": "x"}, nil)
	if err != nil || resultText(t, res) != "done after polls" || id == "" {
		t.Fatalf("call as a task: %v, %v (task %q)", res, err, id)
	}
	var tasks []bool
	for _, m := range s.Sent() {
		if m.Method == "tools/call" {
			tasks = append(tasks, m.Task)
		}
	}
	if len(tasks) != 2 || tasks[0] || !tasks[1] {
		t.Errorf("task parameter on the calls: %v, want [false true]", tasks)
	}
}
