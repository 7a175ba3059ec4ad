package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/internal/hostile"
)

// taskEnv configures "lab", a go-sdk server whose tool runs as a task.
func taskEnv(t *testing.T, s *hostile.TaskServer) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	e.writeConfig("servers:\n  lab:\n    url: " + s.URL(t) + "\n    timeout: 20s\n")
	return e
}

// mediator call waits for a task, showing its status on stderr (a
// terminal), and prints its result.
func TestCallWaitsForTask(t *testing.T) {
	s := hostile.NewTaskServer(hostile.TaskServerOptions{CompleteAfterPolls: 2})
	e := taskEnv(t, s)
	e.setup = func(f *cmdutil.Factory) { f.IOStreams.SetTTY(false, false, true) }
	r := e.run("", "call", "lab", hostile.TaskTool, "-a", "topic=tides")
	expectCode(t, r, 0, "a task that completes")
	if r.stdout != "done after polls\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "\r\x1b[Klab: poll 1") || !strings.HasSuffix(r.stderr, "\r\x1b[K") {
		t.Errorf("stderr %q: no progress line for the task's status, or not cleared", r.stderr)
	}
}

// Ctrl-C while mediator call waits for a task cancels the task on the
// server (tasks/cancel, not notifications/cancelled) and exits 130.
func TestCallCtrlCCancelsTask(t *testing.T) {
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	e := taskEnv(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for s.Count("tasks/get") == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // Ctrl-C
	}()
	r := e.runCtx(ctx, "", "call", "lab", hostile.TaskTool, "-a", "topic=tides")
	expectCode(t, r, cmdutil.ExitInterrupted, "Ctrl-C during a task")
	if s.Count("tasks/cancel") != 1 || s.Count("notifications/cancelled") != 0 {
		t.Errorf("sent %+v; want one tasks/cancel and no notifications/cancelled", s.Sent())
	}
	if got := s.Status("task-1"); got != "cancelled" {
		t.Errorf("task-1 is %q on the server, want cancelled", got)
	}
}
