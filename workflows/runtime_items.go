package workflows

import (
	"context"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// ItemsChecker is an optional Runtime: before a for_each step makes its
// first call, the engine hands it the step, its runtime path, its items
// and the size of the batches they will run in (ItemsRunner; 0 for in
// place), and a non-nil error fails the step with that error
// (its on_error applies) without running any item. A runtime whose run
// history is bounded (Temporal's) refuses there a list it cannot hold,
// rather than the run being ended halfway through it. The local runtime
// does not implement it.
type ItemsChecker interface {
	CheckItems(ctx context.Context, s *flow.Step, path string, items []any, batch int) error
}

// checkItems asks the runtime, when it is an ItemsChecker, whether the
// items of s at path may run, in batches of batch (0: in place).
func (e *engine) checkItems(ctx context.Context, s *flow.Step, path string, items []any, batch int) error {
	c, ok := e.rt.(ItemsChecker)
	if !ok {
		return nil
	}
	return c.CheckItems(ctx, s, path, items, batch)
}
