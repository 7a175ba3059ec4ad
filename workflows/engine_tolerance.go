package workflows

import (
	"fmt"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// itemsStop reports whether a for_each step cancels its remaining items
// once failed of its total items have failed. With tolerate_failures it
// stops when the bound can no longer hold, whatever the items still to
// finish do (whatever on_error says: on_error decides what the failed step
// does to the run); without, on the first failure unless on_error absorbs
// it (continue or a handler), which lets every item run.
func itemsStop(s *flow.Step, failed, total int) bool {
	if s.TolerateFailures != nil {
		return s.TolerateFailures.Hopeless(failed, total)
	}
	return failed > 0 && (s.OnError == "" || s.OnError == "fail")
}

// forEachFailure is a for_each step's failure once failed of its total
// items have failed: nil while tolerate_failures allows them, else the
// first item's failure, saying how far past the bound the step went.
func forEachFailure(s *flow.Step, failed, total int, first error) error {
	t := s.TolerateFailures
	switch {
	case t.Allows(failed, total):
		return nil
	case t == nil:
		return first
	}
	return fmt.Errorf("%d of %d items failed, more than tolerate_failures: %s allows; the first: %w", failed, total, t, first)
}
