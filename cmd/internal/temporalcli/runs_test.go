package temporalcli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// A run whose queues no worker polls starts, and Start says which
// queues it waits on: the flow workers' and each domain's, naming the
// servers; a taken run id is ErrRemoteRunExists; a file with problems
// is a usage error.
func TestRunsStartWarnsOfIdleQueues(t *testing.T) {
	srv := server.Need(t)
	f, cfg := testFactory(t, fmt.Sprintf("temporal:\n  host_port: %s\n  namespace: %s\n", srv.HostPort, srv.Namespace))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rr, err := OpenRuns(ctx, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	r := rr.(*Runs)
	suffix := rand.Text()[:8]
	r.Runs.FlowQueue = "idle-flows-" + suffix
	r.Domains = temporal.Domains{"pay-" + suffix: {"stripe", "ledger"}}

	dir := t.TempDir()
	path := filepath.Join(dir, "idle.flow.yaml")
	src := "version: 1\nname: idle\nsteps:\n  - id: a\n    call: {server: stripe, tool: charge}\n  - id: b\n    call: {server: ledger, tool: add}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	start := cmdutil.RemoteStart{RunID: "idle-" + suffix, FlowPath: path, Servers: []string{"ledger", "stripe"},
		Warn: func(m string) { warnings = append(warnings, m) }}
	if err := rr.Start(ctx, start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Runs.Client.TerminateWorkflow(context.Background(), start.RunID, "", "test over") })
	if len(warnings) != 2 || !strings.Contains(warnings[0], "task queue idle-flows-"+suffix) || !strings.Contains(warnings[0], "--flows") ||
		!strings.Contains(warnings[1], "task queue mcp.pay-"+suffix) || !strings.Contains(warnings[1], "ledger, stripe") || !strings.Contains(warnings[1], "--domain pay-"+suffix) {
		t.Fatalf("warnings: %q", warnings)
	}

	start.Warn = nil
	if err := rr.Start(ctx, start); !errors.Is(err, cmdutil.ErrRemoteRunExists) {
		t.Fatalf("second start: %v; want ErrRemoteRunExists", err)
	}
	if err := os.WriteFile(path, []byte("version: 1\nname: bad\nsteps:\n  - id: a\n    call: {server: stripe}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start.RunID += "-bad"
	if err := rr.Start(ctx, start); cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), path) {
		t.Fatalf("a file with problems: %v", err)
	}
}

// Events resolves each event's step, a sub-flow's under the uses step
// that runs it, and gives run events the run's id and time; RunResult
// and the events' errors classify as the run's own did.
func TestEventsAndResultConvert(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"main.flow.yaml": "version: 1\nname: main\ntimeout: 5m\nsteps:\n  - id: sync\n    uses: sub.flow.yaml\n",
		"sub.flow.yaml":  "version: 1\nname: sub\nsteps:\n  - id: add\n    call: {server: b, tool: add}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fl, probs, err := workflows.LoadForRun(context.Background(), filepath.Join(dir, "main.flow.yaml"), flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("%v %v", err, probs)
	}
	c := NewEvents(fl, "run-1")
	if ev := c.Event(temporal.EventView{Kind: workflows.EventRunStarted}); ev.RunID != "run-1" || ev.Timeout != 5*time.Minute {
		t.Errorf("run started: %+v", ev)
	}
	sub := "sync" + flow.UsesPathSep + "add"
	ev := c.Event(temporal.EventView{Kind: workflows.EventStepFinished, Path: sub, StepPath: sub, Status: workflows.StatusFailed, Error: "refused", ErrorClass: workflows.ClassRefused})
	if ev.Step == nil || ev.Step.ID != "add" || workflows.ErrorClass(ev.Err) != workflows.ClassRefused || ev.Err.Error() != "refused" {
		t.Errorf("sub-flow step: %+v", ev)
	}
	pev := c.Event(temporal.EventView{Kind: workflows.EventProgress, Path: "sync[2]" + flow.UsesPathSep + "add", Progress: &temporal.ProgressReport{Progress: 1, Total: 2, Message: "half"}})
	if pev.StepPath != sub || pev.Step == nil || pev.Step.ID != "add" || pev.Report.Server != "b" || pev.Report.Message != "half" || pev.Report.Total != 2 {
		t.Errorf("progress report: %+v", pev)
	}
	res := RunResult(&temporal.FlowOutput{RunID: "run-1", Status: workflows.RunCancelled, Error: "cancelled", ErrorClass: workflows.ClassCancelled,
		Finally: &temporal.FinallyOutput{Status: workflows.StatusSucceeded}})
	if res.Status != workflows.RunCancelled || workflows.ErrorClass(res.Err) != workflows.ClassCancelled || res.Finally.Err != nil || res.Finally.Status != workflows.StatusSucceeded {
		t.Errorf("result: %+v", res)
	}
	if res := RunResult(&temporal.FlowOutput{Status: workflows.RunSucceeded}); res.Err != nil {
		t.Errorf("a success's error: %v", res.Err)
	}
}

// Steps lists each step instance once, in the order they started, with
// its retries and how it ended; a step skipped without starting too.
func TestStepsFromEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	steps := Steps([]temporal.EventView{
		{Kind: workflows.EventRunStarted, Time: t0},
		{Kind: workflows.EventStepStarted, Path: "a", StepPath: "a", Time: t0},
		{Kind: workflows.EventStepStarted, Path: "each", StepPath: "each", Total: 2, Time: t0},
		{Kind: workflows.EventRetrying, Path: "a", StepPath: "a", Attempt: 1},
		{Kind: workflows.EventStepFinished, Path: "a", StepPath: "a", Status: workflows.StatusSucceeded, Time: t0.Add(time.Second)},
		{Kind: workflows.EventStepFinished, Path: "skip", StepPath: "skip", Status: workflows.StatusSkipped, Time: t0.Add(time.Second)},
	})
	want := []cmdutil.RemoteStep{
		{Path: "a", Step: "a", Status: workflows.StatusSucceeded, Retries: 1, StartedAt: t0, FinishedAt: t0.Add(time.Second)},
		{Path: "each", Step: "each", Status: workflows.RunRunning, Items: 2, StartedAt: t0},
		{Path: "skip", Step: "skip", Status: workflows.StatusSkipped, StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(time.Second)},
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("steps:\n got %+v\nwant %+v", steps, want)
	}
}
