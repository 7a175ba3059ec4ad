package workflows

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// envTasksRunner makes TestMain run tasksRunnerMain.
const envTasksRunner = "tasks"

// taskFlow calls the task server's tool once, as a task.
const taskFlow = `
version: 1
name: research
steps:
  - id: ask
    call: {server: lab, tool: research}
    with: {topic: tides}
    timeout: 1m
outputs:
  text: ${ .steps.ask.text }
`

// taskOrchestrator reaches the task server at url as server "lab".
func taskOrchestrator(url string) (*orchestrator.Orchestrator, error) {
	return orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "lab", URL: url, Timeout: 30 * time.Second}},
	}})
}

// tasksRunnerMain runs the flow named in the environment through an
// orchestrator; it is killed while its call waits for its task.
func tasksRunnerMain() int {
	ctx := context.Background()
	f, err := Load(os.Getenv(envFlow))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	o, err := taskOrchestrator(os.Getenv(envURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer o.Close()
	j, err := OpenJournal(os.Getenv(envJournal), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer j.Close()
	_, err = Run(ctx, f, RunOptions{Runtime: NewLocalRuntime(OrchestratorCaller{O: o}), Journal: j, RunID: os.Getenv(envRunID), TrustAnnotations: trustAll})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// killDuringTask runs taskFlow in a runner process against s, kills the
// runner with SIGKILL once its call waits for the task (the server has
// been asked for the task's status, so the task's id is journalled), and
// returns the flow file, the journal and the run's id.
func killDuringTask(t *testing.T, ctx context.Context, s *hostile.TaskServer) (flowPath, journalPath, runID string) {
	t.Helper()
	url := s.URL(t)
	dir := t.TempDir()
	flowPath = filepath.Join(dir, "research.flow.yaml")
	if err := os.WriteFile(flowPath, []byte(taskFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	journalPath = filepath.Join(dir, JournalFile)
	runID = "task-run"
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRunner+"="+envTasksRunner, envURL+"="+url, envFlow+"="+flowPath, envJournal+"="+journalPath, envRunID+"="+runID)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for s.Count("tasks/get") == 0 {
		if ctx.Err() != nil {
			_ = cmd.Process.Kill()
			t.Fatal("the runner never waited for its task")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return flowPath, journalPath, runID
}

// resumeTask resumes the run against the task server at url.
func resumeTask(t *testing.T, ctx context.Context, flowPath, journalPath, runID, url string) (*RunResult, *Journal, error) {
	t.Helper()
	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	o, err := taskOrchestrator(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	res, err := Resume(ctx, f, runID, RunOptions{Runtime: NewLocalRuntime(OrchestratorCaller{O: o}), Journal: j, TrustAnnotations: trustAll}, ResumeOptions{})
	return res, j, err
}

// A run killed while its call waits for a task journalled the task's id;
// resume attaches to the task (still running on the server) instead of
// calling the tool again, and gets its result.
func TestResumeAttachesToTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	flowPath, journalPath, runID := killDuringTask(t, ctx, s)
	if n := s.Count("tools/call"); n != 1 {
		t.Fatalf("the runner sent %d tools/call", n)
	}
	j, err := OpenJournal(journalPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	last, err := j.LastAttempts(ctx, runID)
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := last["ask"]
	if a == nil || a.State != AttemptStarted || a.TaskID == "" {
		t.Fatalf("journalled attempt %+v, want a started attempt with its task id", a)
	}
	if s.Status(a.TaskID) != "working" {
		t.Fatalf("task %s is %q on the server", a.TaskID, s.Status(a.TaskID))
	}
	s.Complete(a.TaskID, "the tides, researched")

	res, j, err := resumeTask(t, ctx, flowPath, journalPath, runID, s.URL(t))
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if res.Status != RunSucceeded || res.Outputs["text"] != "the tides, researched" {
		t.Errorf("resumed run %s with outputs %v", res.Status, res.Outputs)
	}
	if n := s.Count("tools/call"); n != 1 {
		t.Errorf("the server saw %d tools/call; resume must attach, not call again", n)
	}
	last, err = j.LastAttempts(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got := last["ask"]; got.State != AttemptSucceeded || got.Attempt != a.Attempt || got.TaskID != a.TaskID {
		t.Errorf("final attempt %+v, want attempt %d succeeded with task %s", got, a.Attempt, a.TaskID)
	}
}

// When the server no longer knows the journalled task (it restarted),
// resume follows the rule for any interrupted call: a tool not known to
// be safe to repeat blocks the run for the operator; an idempotent one is
// called again.
func TestResumeTaskGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("unsafe", func(t *testing.T) {
		flowPath, journalPath, runID := killDuringTask(t, ctx, hostile.NewTaskServer(hostile.TaskServerOptions{}))
		restarted := hostile.NewTaskServer(hostile.TaskServerOptions{CompleteAfterPolls: 1})
		_, _, err := resumeTask(t, ctx, flowPath, journalPath, runID, restarted.URL(t))
		var be *ResumeBlockedError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), "--mark-done ask") {
			t.Fatalf("Resume = %v, want a ResumeBlockedError", err)
		}
		if n := restarted.Count("tools/call"); n != 0 {
			t.Errorf("%d tools/call sent for a call that is not safe to repeat", n)
		}
		// Still undecided at the next resume, which stops before calling;
		// --mark-done settles it.
		_, j, err := resumeTask(t, ctx, flowPath, journalPath, runID, restarted.URL(t))
		if !errors.As(err, &be) {
			t.Fatalf("second Resume = %v, want a ResumeBlockedError", err)
		}
		last, err := j.LastAttempts(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if a := last["ask"]; a.State != AttemptStarted || a.TaskID != "" || !strings.Contains(a.Error, "does not know the task") {
			t.Errorf("journalled attempt %+v, want an interrupted call without a task", a)
		}
		if n := restarted.Count("tools/call"); n != 0 {
			t.Errorf("%d tools/call sent by the second resume", n)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		opts := hostile.TaskServerOptions{Idempotent: true}
		flowPath, journalPath, runID := killDuringTask(t, ctx, hostile.NewTaskServer(opts))
		opts.CompleteAfterPolls = 1
		restarted := hostile.NewTaskServer(opts)
		res, _, err := resumeTask(t, ctx, flowPath, journalPath, runID, restarted.URL(t))
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if res.Status != RunSucceeded || res.Outputs["text"] != "done after polls" {
			t.Errorf("resumed run %s with outputs %v", res.Status, res.Outputs)
		}
		if n := restarted.Count("tools/call"); n != 1 {
			t.Errorf("%d tools/call sent; the idempotent call is made once more", n)
		}
	})
}

// A journal made before attempts had a task id gets the column when it is
// opened: its rows read with none, and new attempts keep theirs.
func TestJournalMigratesTaskID(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(journalSchema, "\ttask_id         TEXT NOT NULL DEFAULT '',\n", "", 1)
	if old == journalSchema {
		t.Fatal("the schema has no task_id line to leave out")
	}
	if _, err := db.Exec(old); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if _, err := db.Exec(`INSERT INTO runs (id, flow_name, flow_path, flow_digest, inputs, status, started_at, updated_at) VALUES ('r', 'f', 'p', 'd', '{}', 'running', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO attempts (run_id, path, attempt, step, server, tool, state, args_digest, started_at) VALUES ('r', 'old', 1, 'old', 's', 't', 'succeeded', 'x', ?)`, now); err != nil {
		t.Fatal(err)
	}
	db.Close()

	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatalf("OpenJournal of an old journal: %v", err)
	}
	defer j.Close()
	if err := j.RecordAttempt(&AttemptRecord{RunID: "r", Path: "new", Attempt: 1, Step: "new", Server: "s", Tool: "t",
		State: AttemptStarted, ArgsDigest: "y", StartedAt: time.Now(), TaskID: "task-7"}, true); err != nil {
		t.Fatal(err)
	}
	last, err := j.LastAttempts(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if last["old"] == nil || last["old"].TaskID != "" || last["new"] == nil || last["new"].TaskID != "task-7" {
		t.Errorf("attempts after migration: old %+v, new %+v", last["old"], last["new"])
	}
	j.Close()
	// Opening it again finds the column there.
	j2, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	j2.Close()
}

// A SessionCaller cannot run tasks, so it refuses to attach to one rather
// than call the tool again.
func TestSessionCallerRefusesAttach(t *testing.T) {
	_, err := (&SessionCaller{}).CallTool(context.Background(), CallRequest{Server: "lab", Tool: "research", ResumeTaskID: "task-1"})
	var ce *CallError
	if !errors.As(err, &ce) || ce.Class != ClassRefused || !strings.Contains(err.Error(), "cannot attach to task task-1") {
		t.Errorf("CallTool = %v, want a refusal to attach", err)
	}
}

// A step's timeout bounds its task as one call: a task that never ends
// fails the step at the timeout, cancelled on the server (tasks/cancel),
// with its id in the journal.
func TestStepTimeoutCancelsTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	o, err := taskOrchestrator(s.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	j, err := OpenJournal(filepath.Join(t.TempDir(), JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fl := parseFlow(t, strings.Replace(taskFlow, "timeout: 1m", "timeout: 200ms", 1))
	res, err := Run(ctx, fl, RunOptions{Runtime: NewLocalRuntime(OrchestratorCaller{O: o}), Journal: j, TrustAnnotations: trustAll})
	if err == nil || res.Status != RunFailed || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Fatalf("Run = %v (%v), want the step timed out", err, res.Status)
	}
	if s.Count("tools/call") != 1 || s.Count("tasks/cancel") != 1 || s.Status("task-1") != "cancelled" {
		t.Errorf("server saw %+v; task-1 is %q", s.Sent(), s.Status("task-1"))
	}
	last, err := j.LastAttempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if a := last["ask"]; a == nil || a.TaskID != "task-1" || a.State != AttemptFailed || a.ErrorClass != ClassTimeout {
		t.Errorf("journalled attempt %+v", a)
	}
}

// A task id that holds a known secret value is stored redacted.
func TestJournalRedactsTaskID(t *testing.T) {
	const canary = "canary-task-5e1f"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(canary))
	j, err := OpenJournal(filepath.Join(t.TempDir(), JournalFile), red)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.CreateRun(&RunRecord{ID: "r", FlowName: "f", FlowPath: "p", FlowDigest: "d", Status: RunRunning, StartedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := j.RecordAttempt(&AttemptRecord{RunID: "r", Path: "a", Attempt: 1, Step: "a", Server: "s", Tool: "t",
		State: AttemptStarted, ArgsDigest: "x", StartedAt: time.Now(), TaskID: "task-" + canary}, true); err != nil {
		t.Fatal(err)
	}
	last, err := j.LastAttempts(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if got := last["a"].TaskID; got == "" || strings.Contains(got, canary) {
		t.Errorf("stored task id %q", got)
	}
}
