package temporal

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// limitedRuntime is a run's Runtime under Limits: before a for_each step
// makes its first call it checks the step's items against the history
// the run has made so far (workflows.ItemsChecker), keeping room for the
// flow's finally steps, and it runs a large for_each's items in child
// workflows (workflows.ItemsRunner, childflow.go).
type limitedRuntime struct {
	*Runtime
	limits Limits
	// flowOf is the flow (the run's or a sub-flow) each step is in, whose
	// defaults decide its retries.
	flowOf map[*flow.Step]*flow.Flow
	// reserve is the events of the run's finally steps.
	reserve int
	// in is the run's input, for its batches' child workflows; child is
	// set in a batch's own workflow, which runs no batches of its own.
	in    FlowInput
	child bool
}

var (
	_ workflows.ItemsChecker = (*limitedRuntime)(nil)
	_ workflows.ItemsRunner  = (*limitedRuntime)(nil)
)

// limited checks that a run of in (whose flow is fl) fits the run's
// limits (runLimits), and returns rt wrapped to check each for_each
// step's items during the run and run large ones in child workflows.
func (f *Flows) limited(ctx workflow.Context, fl *flow.Flow, in FlowInput, rt *Runtime) (workflows.Runtime, error) {
	l := f.runLimits(ctx)
	if _, err := checkFlowFits(context.Background(), fl, in, l); err != nil {
		return nil, err
	}
	return newLimited(context.Background(), l, fl, in, rt), nil
}

// versionLimitsRecorded is the workflow.GetVersion change id of recording
// a run's limits in its history.
const versionLimitsRecorded = "mediator.limits-recorded"

// runLimits are the limits a run goes by: f.Limits when it started,
// recorded in its history (a side effect) since they decide commands
// (a step refused, items in child workflows), so that a flow worker
// configured otherwise replays it alike. A run recorded before they were
// goes by f.Limits, and never batches (versionForEachBatches).
func (f *Flows) runLimits(ctx workflow.Context) Limits {
	l := f.Limits.orDefaults()
	if workflow.GetVersion(ctx, versionLimitsRecorded, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return l
	}
	var rec Limits
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return l }).Get(&rec); err != nil {
		return l
	}
	return rec.orDefaults()
}

// newLimited is rt under limits l for a run of in.
func newLimited(ctx context.Context, l Limits, fl *flow.Flow, in FlowInput, rt *Runtime) *limitedRuntime {
	lr := &limitedRuntime{Runtime: rt, limits: l.orDefaults(), flowOf: map[*flow.Step]*flow.Flow{}, in: in}
	var index func(fl *flow.Flow)
	index = func(fl *flow.Flow) {
		for _, s := range fl.AllSteps() {
			if _, seen := lr.flowOf[s]; seen {
				continue
			}
			lr.flowOf[s] = fl
			if s.Uses != nil && s.Uses.Flow != nil {
				index(s.Uses.Flow)
			}
		}
	}
	index(fl)
	c := &counter{ctx: ctx, tools: map[[2]string]bool{}}
	for _, s := range fl.Finally {
		lr.reserve += c.step(fl, s, nil, s.Path, nil)
	}
	lr.reserve += len(c.tools) * eventsPerActivity
	return lr
}

// CheckItems refuses n items of s when the history so far, the items'
// estimate and the finally steps' would pass the limits; past a warning
// threshold it logs a warning.
func (r *limitedRuntime) CheckItems(ctx context.Context, s *flow.Step, path string, items []any, batch int) error {
	n := len(items)
	w := workflowContext(ctx)
	info := workflow.GetInfo(w)
	have, size := info.GetCurrentHistoryLength(), int64(info.GetCurrentHistorySize())
	fl := r.flowOf[s]
	if fl == nil {
		return nil
	}
	c := &counter{ctx: ctx, tools: map[[2]string]bool{}}
	per := c.instance(fl, s, nil, s.Path)
	need := n*per + len(c.tools)*eventsPerActivity + r.reserve
	var extra int64
	if batch > 0 {
		need = batchEvents(n, batch) + r.reserve
		extra = batchBytes(items)
	}
	perEvent := r.limits.BytesPerEvent
	if have > 0 && size/int64(have) > perEvent {
		perEvent = size / int64(have)
	}
	l := r.limits
	events, bytes := have+need, size+int64(need)*perEvent+extra
	if events <= l.Events && bytes <= l.Bytes {
		if events > l.WarnEvents || bytes > l.WarnBytes {
			workflow.GetLogger(w).Warn("a for_each step brings the run's history past Temporal's warning threshold",
				"step", path, "items", n, "events", events, "bytes", bytes)
		}
		return nil
	}
	each, unit, how := per, 1, fmt.Sprintf("up to %d events each", per)
	if batch > 0 {
		each, unit, how = eventsPerChild, batch, fmt.Sprintf("in child workflows of %d items, %d events each", batch, eventsPerChild)
	}
	room := 0
	if each > 0 {
		room = unit * max(0, min((l.Events-have-r.reserve)/each, int((l.Bytes-size-int64(r.reserve)*perEvent)/(int64(each)*perEvent))))
	}
	return fmt.Errorf("its %d items would not fit in the run's Temporal history: %s, %d in all with the finally steps, beside the %d events (%s) the history holds; Temporal ends a run at %d events or %s. At most %d items fit here: split the list over several runs, or lower the step's retry max_attempts",
		n, how, need, have, mib(size), l.Events, mib(l.Bytes), room)
}

// fitOutput is out, or when its JSON would pass the payload limit (its
// outputs are too large for the workflow's result, which would then fail
// to complete over and over) out without its outputs, failed, saying so.
// It emits no command: the worker's own limit decides.
func (f *Flows) fitOutput(out *FlowOutput) *FlowOutput {
	err := f.Limits.orDefaults().payloadError("the run's result (its outputs)", out)
	if err == nil {
		return out
	}
	o := *out
	o.Outputs, o.Status, o.ErrorClass = nil, workflows.RunFailed, ""
	o.Error = fmt.Sprintf("%v: the run's steps ended %s, but its outputs cannot be returned; output less (a summary, or fields of the results)", err, out.Status)
	return &o
}
