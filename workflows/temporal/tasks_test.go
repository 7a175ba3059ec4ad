package temporal_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// orchestratorWorkerProcess is workerProcess's worker for server at url
// through an orchestrator.
func orchestratorWorkerProcess(c client.Client, queue, server, url string) int {
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: server, URL: url, Timeout: time.Minute}},
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := worker.New(c, queue, worker.Options{})
	(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(w)
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// callDetails returns the heartbeat details of run id's pending call.
func callDetails(ctx context.Context, t *testing.T, c client.Client, id string) *temporal.CallDetails {
	t.Helper()
	desc, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	resp := desc.RawResponse
	for _, pa := range resp.GetPendingActivities() {
		if pa.GetActivityType().GetName() == temporal.ActivityCallTool && pa.GetHeartbeatDetails() != nil {
			var d temporal.CallDetails
			if err := converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &d); err != nil {
				t.Fatal(err)
			}
			return &d
		}
	}
	return nil
}

// A call running as an MCP task whose worker is killed while it waits
// for the task: the worker's heartbeat named the task, so the attempt
// goes on as an activity that attaches to the task on the worker that
// took over the queue, and the tool (neither read-only nor idempotent) is
// not called again, nor does the run block.
func TestWorkerKilledDuringTask(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	url := s.URL(t)
	src := `version: 1
name: research
steps:
  - id: ask
    call: {server: a, tool: ` + hostile.TaskTool + `}
    with: {topic: tides}
outputs:
  text: ${ .steps.ask.text }
  attempts: ${ .steps.ask.attempts }
`
	const id = "killed-task"
	k := startKillable(t, ctx, c, id, src, url, "orchestrator")
	var d *temporal.CallDetails
	for d == nil || d.TaskID == "" || s.Count("tasks/get") == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the call's task never showed in its heartbeat: %+v", d)
		case <-time.After(20 * time.Millisecond):
		}
		d = callDetails(ctx, t, c, id)
	}
	if d.Path != "ask" || d.Server != "a" || d.Tool != hostile.TaskTool {
		t.Errorf("heartbeat details %+v", d)
	}
	k.kill(t)

	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "a", URL: url, Timeout: time.Minute}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	aw := worker.New(c, k.rig.flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
	start(t, aw)
	polled := s.Count("tasks/get")
	for s.Count("tasks/get") == polled {
		// The attempt goes on once its heartbeat timed out: the new
		// worker polls the task.
		select {
		case <-ctx.Done():
			t.Fatal("the new worker never attached to the task")
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.Complete(d.TaskID, "the tides, researched")

	var out temporal.FlowOutput
	if err := k.run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["text"] != "the tides, researched" || out.Outputs["attempts"] != float64(1) {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	if n := s.Count("tools/call"); n != 1 {
		t.Errorf("the server saw %d tools/call; the new worker must attach, not call again", n)
	}
	h := history(ctx, t, c, id, k.run.GetRunID())
	if raw := fmt.Sprint(h.Events); !strings.Contains(raw, "resume_task_id") {
		t.Error("no activity in the history attached to the task")
	}
	k.rig.replay(t, h)
}
