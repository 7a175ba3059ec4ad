package temporal_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// batchFlow makes two calls on two servers, the second reading the first.
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
// engine and reports runs per second and the p50 and p99 of a run's time
// from start to result: the local engine in this process, and Temporal
// (the test server, a flow worker and one activity worker per server).
// Run with -bench Batch -benchtime 1x; docs/scale.md has the figures.
func BenchmarkBatch(b *testing.B) {
	const runs = 200
	for _, engine := range []string{"local", "temporal"} {
		b.Run(fmt.Sprintf("%s/%d-runs", engine, runs), func(b *testing.B) {
			for range b.N {
				lat := batch(b, engine, runs)
				slices.Sort(lat)
				var total time.Duration
				for _, d := range lat {
					total = max(total, d)
				}
				b.ReportMetric(float64(runs)/total.Seconds(), "runs/s")
				b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
			}
		})
	}
}

// batch runs n runs at once on engine and returns each one's time.
func batch(b *testing.B, engine string, n int) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := newWorld(b, "a", "b")
	fl, probs := flow.Check(ctx, "batch.flow.yaml", []byte(batchFlow), flow.ValidateOptions{RetryAtRunTime: true})
	if errs := probs.Errors(); len(errs) > 0 {
		b.Fatal(errs)
	}
	var start func(i int) error
	switch engine {
	case "local":
		rt := workflows.NewLocalRuntime(w.caller())
		start = func(i int) error {
			res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: rt, Inputs: map[string]any{"n": i}, TrustAnnotations: func(string) bool { return true }})
			if err == nil && res.Outputs["sum"] != float64(i+2) {
				err = fmt.Errorf("run %d: sum %v", i, res.Outputs["sum"])
			}
			return err
		}
	case "temporal":
		if serverErr != nil {
			b.Skip(serverErr)
		}
		r := newRig(b, testClient, w)
		id := fmt.Sprintf("batch-%d", time.Now().UnixNano())
		start = func(i int) error {
			run, err := testClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", id, i), TaskQueue: r.prefix + "flows"},
				temporal.WorkflowRunFlow, temporal.FlowInput{Path: "batch.flow.yaml", Source: []byte(batchFlow), Inputs: map[string]any{"n": i}, TrustedServers: []string{"a", "b"}})
			if err != nil {
				return err
			}
			var out temporal.FlowOutput
			if err := run.Get(ctx, &out); err != nil {
				return err
			}
			if out.Outputs["sum"] != float64(i+2) {
				return fmt.Errorf("run %d: %s, sum %v", i, out.Status, out.Outputs["sum"])
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
			errs[i] = start(i)
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
