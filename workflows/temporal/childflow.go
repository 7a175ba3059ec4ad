package temporal

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// WorkflowRunItems is the workflow type of one batch of a for_each
// step's items, a child workflow of the run (Flows.RunItems).
const WorkflowRunItems = "mediator.RunItems"

// versionForEachBatches is the workflow.GetVersion change id of running a
// large for_each's items in child workflows: a run recorded before it
// (DefaultVersion) keeps running its items in its own history.
const versionForEachBatches = "mediator.for_each-batches"

// ItemsInput is a batch's input: the run's (its flow, sub-flows, inputs
// and policy) and the batch.
type ItemsInput struct {
	Flow  FlowInput            `json:"flow"`
	Batch workflows.ItemsBatch `json:"batch"`
	// Limits are the run's (Flows.runLimits).
	Limits Limits `json:"limits"`
}

// ItemsBatchSize is how many of step s's items one child workflow runs
// (Limits.BatchItems, fewer when an item makes many events or the items
// are large), 0 to run
// them in the run's own history: inside a batch, for a step that fits
// in one, and in a run recorded before batches existed.
func (r *limitedRuntime) ItemsBatchSize(ctx context.Context, s *flow.Step, _ string, items []any) int {
	size := r.batchSize(ctx, s, items)
	if size == 0 {
		return 0
	}
	if workflow.GetVersion(workflowContext(ctx), versionForEachBatches, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return 0
	}
	return size
}

// batchSize is ItemsBatchSize without the version.
func (r *limitedRuntime) batchSize(ctx context.Context, s *flow.Step, items []any) int {
	if r.child {
		return 0
	}
	fl := r.flowOf[s]
	if fl == nil {
		return 0
	}
	c := &counter{ctx: ctx, tools: map[[2]string]bool{}}
	return r.limits.batchSize(c.instance(fl, s, nil, s.Path), items)
}

// RunItems runs batch b as a child workflow on the run's own queue, with
// an id of the run's id, the step's path and the items' range, and waits
// for it; when ctx ends first the child is cancelled (its calls in flight
// get MCP cancellation) and its result, the items it ran and those it
// cancelled, still waited for.
func (r *limitedRuntime) RunItems(ctx context.Context, b workflows.ItemsBatch) (*workflows.ItemsResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := workflowContext(ctx)
	info := workflow.GetInfo(w)
	id := fmt.Sprintf("%s/%s[%d:%d]", info.WorkflowExecution.ID, b.Path, b.From, b.From+len(b.Items))
	cw, cancel := workflow.WithCancel(w)
	defer cancel()
	cw = workflow.WithChildOptions(cw, workflow.ChildWorkflowOptions{
		WorkflowID:          id,
		TaskQueue:           info.TaskQueueName,
		WaitForCancellation: true,
	})
	// The batch carries the inputs its items read; the rest (a list the
	// step took from an input) stays in the run's history only.
	fin := r.in
	fin.Inputs = nil
	input := ItemsInput{Flow: fin, Batch: b, Limits: r.limits}
	if err := r.limits.payloadError("the batch's input", input); err != nil {
		// Its items, or the results of the steps outside the for_each
		// they read, are too large to send: they run here.
		workflow.GetLogger(w).Warn("a batch of items runs in the run's own workflow", "step", b.Path, "from", b.From, "reason", err)
		return nil, fmt.Errorf("%w: %w", workflows.ErrRunInPlace, err)
	}
	fut := workflow.ExecuteChildWorkflow(cw, WorkflowRunItems, input)
	_ = workflow.Await(w, func() bool { return fut.IsReady() || ctx.Err() != nil })
	if !fut.IsReady() {
		cancel()
		_ = workflow.Await(w, fut.IsReady)
	}
	var res workflows.ItemsResult
	if err := fut.Get(w, &res); err != nil {
		return nil, fmt.Errorf("child workflow %s: %w", id, err)
	}
	return &res, nil
}

// RunItems is the child workflow of one batch of a for_each step's items
// (WorkflowRunItems): the interpreter runs the batch's items as the run
// would have in place (workflows.RunItems), on a Runtime like the run's,
// and returns how each ended. Cancelling it cancels its items, which end
// cancelled as they would in the run.
func (f *Flows) RunItems(ctx workflow.Context, in ItemsInput) (*workflows.ItemsResult, error) {
	fl, probs := flow.Check(context.Background(), in.Flow.Path, in.Flow.Source, flowInputOptions(in.Flow))
	if errs := probs.Errors(); fl == nil || len(errs) > 0 {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("flow %s does not validate:\n%v", in.Flow.Path, errs), notStartedType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	root, _ := workflow.NewDisconnectedContext(ctx)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	workflow.Go(ctx, func(w workflow.Context) {
		w.Done().Receive(w, nil)
		cancel()
	})
	// A call of the batch that blocks (workflows.Resolver) waits here for
	// SignalResolve, which Resolve sends to the child the call waits in.
	resolutions, err := newResolutions(ctx)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{Queue: f.Queue, Decides: f.Decides, HeartbeatTimeout: f.HeartbeatTimeout, ScheduleToStartTimeout: f.ScheduleToStartTimeout,
		ServerTimeout: func(s string) time.Duration { return in.Flow.ServerTimeouts[s] }, resolutions: resolutions}
	lr := newLimited(context.Background(), in.Limits, fl, in.Flow, rt)
	lr.child = true
	res, err := workflows.RunItems(WithWorkflowContext(runCtx, root), fl, in.Batch, workflows.RunOptions{
		Runtime:          lr,
		PolicyFlows:      in.Flow.PolicyFlows,
		TrustAnnotations: trusted(in.Flow.TrustedServers),
		RunID:            in.Batch.RunID,
		FlowPath:         in.Flow.Path,
	})
	if err != nil {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("items of %s in %s did not start: %v", in.Batch.Path, in.Flow.Path, err), notStartedType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	if err := lr.limits.payloadError("the batch's result (each item's view, which an expression reads item by item)", res); err != nil {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%v: lower Limits.BatchItems", err), batchTooLargeType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return res, nil
}

// batchTooLargeType is the ApplicationError type of a batch whose result
// would not fit in one payload.
const batchTooLargeType = "mediator.BatchTooLarge"
