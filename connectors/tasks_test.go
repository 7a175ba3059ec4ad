package connectors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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
