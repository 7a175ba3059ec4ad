package temporal_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// batchRuns is BenchmarkBatch's batch size; docs/scale.md's figures are
// of -batch.runs 1000.
var batchRuns = flag.Int("batch.runs", 100, "runs in each of BenchmarkBatch's batches")

// batchDomains are the benchmark's two credential domains, one server
// each.
var batchDomains = temporal.Domains{"payments": {"a"}, "office": {"b"}}

// batchFlow makes two calls, one in each domain, the second reading the
// first's result.
const batchFlow = `version: 1
name: batch
flows: [a -> b]
inputs:
  n: {type: number}
steps:
  - id: one
    call: {server: a, tool: add}
    with: {a: ${ .inputs.n }, b: 1}
  - id: two
    call: {server: b, tool: add}
    with: {a: ${ .steps.one.result.sum }, b: 1}
outputs:
  sum: ${ .steps.two.result.sum }
`

// BenchmarkBatch starts a batch of runs of batchFlow at once on each
// engine, in the same process, and reports runs per second and the p50
// and p99 of a run's time from the batch's start to its result. Every call
// goes through an orchestrator, as in production: locally one holding
// both servers; under Temporal (the test server) a flow worker holding
// none, and two domain workers, each on its domain's queue with an
// orchestrator holding only its domain's server.
//
//	go test -run '^$' -bench Batch -benchtime 1x ./workflows/temporal/ -args -batch.runs 1000
func BenchmarkBatch(b *testing.B) {
	runs := *batchRuns
	for _, engine := range []string{"local", "temporal"} {
		b.Run(fmt.Sprintf("%s/%d-runs", engine, runs), func(b *testing.B) {
			for range b.N {
				lat := batch(b, engine, runs)
				slices.Sort(lat)
				total := lat[len(lat)-1]
				b.ReportMetric(float64(runs)/total.Seconds(), "runs/s")
				b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
			}
		})
	}
}

// batchServer is test service name's server as an orchestrator's.
func batchServer(name string) orchestrator.ServerConfig {
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, Timeout: 30 * time.Second}, NewTransport: orchestrator.InProcess(newTestService(name).server())}
}

// batchOrchestrator is an orchestrator over servers, without an audit
// log (the same on both engines).
func batchOrchestrator(b *testing.B, servers ...string) *orchestrator.Orchestrator {
	b.Helper()
	var cfgs []orchestrator.ServerConfig
	for _, s := range servers {
		cfgs = append(cfgs, batchServer(s))
	}
	o, err := orchestrator.New(orchestrator.Options{Servers: cfgs})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	return o
}

// batch runs n runs at once on engine and returns each one's time.
func batch(b *testing.B, engine string, n int) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	fl, probs := flow.Check(ctx, "batch.flow.yaml", []byte(batchFlow), flow.ValidateOptions{RetryAtRunTime: true})
	if errs := probs.Errors(); len(errs) > 0 {
		b.Fatal(errs)
	}
	var runOne func(i int) error
	switch engine {
	case "local":
		rt := workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: batchOrchestrator(b, "a", "b")})
		runOne = func(i int) error {
			res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: rt, Inputs: map[string]any{"n": i}, TrustAnnotations: func(string) bool { return true }})
			if err == nil && res.Outputs["sum"] != float64(i+2) {
				err = fmt.Errorf("run %d: %s, sum %v (%v)", i, res.Status, res.Outputs["sum"], res.Err)
			}
			return err
		}
	case "temporal":
		if serverErr != nil {
			b.Skip(serverErr)
		}
		prefix := fmt.Sprintf("%s-%d.", slug(b.Name()), rigs.Add(1))
		flows := &temporal.Flows{Queue: func(s string) string { return prefix + batchDomains.Queue(s) }, Decides: true}
		fw := worker.New(testClient, prefix+"flows", worker.Options{})
		flows.Register(fw)
		start(b, fw)
		for _, d := range batchDomains.Names() {
			aw := worker.New(testClient, prefix+temporal.DomainQueue(d), worker.Options{})
			(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: batchOrchestrator(b, batchDomains.Servers(d)...)}}).Register(aw)
			start(b, aw)
		}
		id := fmt.Sprintf("batch-%d", time.Now().UnixNano())
		runOne = func(i int) error {
			run, err := testClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", id, i), TaskQueue: prefix + "flows"},
				temporal.WorkflowRunFlow, temporal.FlowInput{Path: "batch.flow.yaml", Source: []byte(batchFlow), Inputs: map[string]any{"n": i}, TrustedServers: []string{"a", "b"}})
			if err != nil {
				return err
			}
			var out temporal.FlowOutput
			if err := run.Get(ctx, &out); err != nil {
				return err
			}
			if out.Outputs["sum"] != float64(i+2) {
				return fmt.Errorf("run %d: %s, sum %v (%s)", i, out.Status, out.Outputs["sum"], out.Error)
			}
			return nil
		}
	}
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			errs[i] = runOne(i)
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return lat
}
