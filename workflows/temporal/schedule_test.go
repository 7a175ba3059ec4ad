package temporal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// A call to a server whose queue no worker polls fails once the
// schedule-to-start bound passes, as transport, naming the queue and the
// worker to start, and saying nothing was sent: the step's retry sends it
// again (here its tool lookup, the first activity of the step).
func TestNoWorkerPollsQueue(t *testing.T) {
	c := needServer(t)
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, ScheduleToStartTimeout: time.Second}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	start(t, fw)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := `version: 1
name: unpolled
steps:
  - id: s
    call: {server: a, tool: charge_slow}
    retry: {max_attempts: 2, initial_interval: 1ms, on: [transport]}
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "unpolled", TaskQueue: prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "unpolled.flow.yaml", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "no worker polled " + flows.Queue("a") + " for 1s: start `mediator-temporal worker --domain a`; the call was not sent"
	if out.Status != workflows.RunFailed || out.Steps["s"] != workflows.StatusFailed || out.ErrorClass != workflows.ClassTransport || !strings.Contains(out.Error, want) {
		t.Fatalf("run %s, steps %v, error %q (%s); want s failed as transport: %q", out.Status, out.Steps, out.Error, out.ErrorClass, want)
	}
	v, err := c.QueryWorkflow(ctx, "unpolled", "", temporal.QueryEvents)
	if err != nil {
		t.Fatal(err)
	}
	var evs []temporal.EventView
	if err := v.Get(&evs); err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, ev := range evs {
		if ev.Kind == workflows.EventRetrying && ev.Path == "s" && strings.Contains(ev.Error, "no worker polled") {
			retried++
		}
	}
	if retried != 1 {
		t.Errorf("%d retries of s after its queue went unpolled, want 1: %+v", retried, evs)
	}
	(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, "unpolled", run.GetRunID()))
}
