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
// flow's finally steps.
type limitedRuntime struct {
	*Runtime
	limits Limits
	// flowOf is the flow (the run's or a sub-flow) each step is in, whose
	// defaults decide its retries.
	flowOf map[*flow.Step]*flow.Flow
	// reserve is the events of the run's finally steps.
	reserve int
}

var _ workflows.ItemsChecker = (*limitedRuntime)(nil)

// limited checks that a run of in (whose flow is fl) fits limits, and
// returns rt wrapped to check each for_each step's items during the run.
func (f *Flows) limited(ctx context.Context, fl *flow.Flow, in FlowInput, rt *Runtime) (workflows.Runtime, error) {
	if _, err := checkFlowFits(ctx, fl, in, f.Limits); err != nil {
		return nil, err
	}
	lr := &limitedRuntime{Runtime: rt, limits: f.Limits.orDefaults(), flowOf: map[*flow.Step]*flow.Flow{}}
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
	return lr, nil
}

// CheckItems refuses n items of s when the history so far, the items'
// estimate and the finally steps' would pass the limits; past a warning
// threshold it logs a warning.
func (r *limitedRuntime) CheckItems(ctx context.Context, s *flow.Step, path string, n int) error {
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
	perEvent := r.limits.BytesPerEvent
	if have > 0 && size/int64(have) > perEvent {
		perEvent = size / int64(have)
	}
	l := r.limits
	events, bytes := have+need, size+int64(need)*perEvent
	if events <= l.Events && bytes <= l.Bytes {
		if events > l.WarnEvents || bytes > l.WarnBytes {
			workflow.GetLogger(w).Warn("a for_each step brings the run's history past Temporal's warning threshold",
				"step", path, "items", n, "events", events, "bytes", bytes)
		}
		return nil
	}
	room := 0
	if per > 0 {
		room = max(0, min((l.Events-have-r.reserve)/per, int((l.Bytes-size-int64(r.reserve)*perEvent)/(int64(per)*perEvent))))
	}
	return fmt.Errorf("its %d items would not fit in the run's Temporal history: up to %d events each, %d in all with the finally steps, beside the %d events (%s) the history holds; Temporal ends a run at %d events or %s. At most %d items fit here: split the list over several runs, or lower the step's retry max_attempts",
		n, per, need, have, mib(size), l.Events, mib(l.Bytes), room)
}
