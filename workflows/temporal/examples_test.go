package temporal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// The example flows that run on the demo servers end alike on both
// runtimes when every call goes through an orchestrator, as in
// production: locally one orchestrator holds both servers; under
// Temporal each server's worker has an orchestrator of its own holding
// only that server, which decides the data-flow policy (Flows.Decides)
// and audits the calls it makes under the workflow's run id.
func TestExampleFlowsThroughOrchestrators(t *testing.T) {
	c := needServer(t)
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	servers := map[string]func() orchestrator.ServerConfig{
		"weather": func() orchestrator.ServerConfig {
			return orchestrator.ServerConfig{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(now))}
		},
		"calendar": func() orchestrator.ServerConfig {
			return orchestrator.ServerConfig{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendar.NewServer())}
		},
	}
	inputs := map[string]any{"cities": []any{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}, "threshold": 0.5}
	for _, name := range []string{"rain-reminders.flow.yaml", "rain-reminders-sub.flow.yaml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "examples", "flows", name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			runID := "example-" + slug(name)

			fl, probs, err := workflows.LoadForRun(ctx, path, flow.ValidateOptions{})
			if err != nil || len(probs.Errors()) > 0 {
				t.Fatalf("LoadForRun: %v %v", err, probs)
			}
			lo, _ := newAudited(t, servers["weather"](), servers["calendar"]())
			res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: lo}),
				Inputs: inputs, RunID: runID, TrustAnnotations: func(string) bool { return true }})
			if res == nil {
				t.Fatal(err)
			}
			local := toOutput(res)

			prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
			flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, Decides: true}
			fw := worker.New(c, prefix+"flows", worker.Options{})
			flows.Register(fw)
			start(t, fw)
			type audited struct {
				o    *orchestrator.Orchestrator
				path string
			}
			audits := map[string]audited{}
			for s, cfg := range servers {
				o, audit := newAudited(t, cfg())
				audits[s] = audited{o, audit}
				aw := worker.New(c, flows.Queue(s), worker.Options{})
				(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
				start(t, aw)
			}
			in, probs, err := temporal.ReadFlowInput(ctx, path, flow.ValidateOptions{})
			if err != nil || len(probs.Errors()) > 0 {
				t.Fatalf("ReadFlowInput: %v %v", err, probs)
			}
			in.Inputs, in.TrustedServers = inputs, []string{"weather", "calendar"}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: runID, TaskQueue: prefix + "flows"}, temporal.WorkflowRunFlow, in)
			if err != nil {
				t.Fatal(err)
			}
			var remote temporal.FlowOutput
			if err := run.Get(ctx, &remote); err != nil {
				t.Fatal(err)
			}

			if local.Status != workflows.RunSucceeded || len(local.Outputs["created"].([]any)) == 0 {
				t.Fatalf("local run %s, outputs %v: %s", local.Status, local.Outputs, local.Error)
			}
			// Event ids number the events in the order the calendar got
			// them, which concurrent items do not fix.
			for _, o := range []*temporal.FlowOutput{local, &remote} {
				ids, _ := o.Outputs["created"].([]any)
				slices.SortFunc(ids, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
			got, want := comparable(&remote), comparable(local)
			if got != want {
				t.Fatalf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
			}
			t.Logf("both: %s", got)
			(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, runID, run.GetRunID()))
			for s, a := range audits {
				if err := a.o.SyncAudit(ctx); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(a.path)
				if err != nil || !strings.Contains(string(b), `"run":"`+runID+`"`) {
					t.Errorf("the %s worker's audit log has no record of run %s (%v)", s, runID, err)
				}
			}
		})
	}
}

// newAudited is an orchestrator over servers with an audit log, and the
// log's path.
func newAudited(t *testing.T, servers ...orchestrator.ServerConfig) (*orchestrator.Orchestrator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o, err := orchestrator.New(orchestrator.Options{Servers: servers, AuditPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, path
}
