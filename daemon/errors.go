package daemon

import "github.com/mediatorhq/mediator/workflows"

// ValueFreeClass reports whether errors of class (workflows.Class*) are
// mediator's own words, naming steps, servers and rules but no value:
// a refusal, a cancellation, a timeout. Any other error's message may
// quote what a server answered or a value an expression met, so the
// daemon's log and page show it only with audit.include_values.
func ValueFreeClass(class string) bool {
	switch class {
	case workflows.ClassRefused, workflows.ClassCancelled, workflows.ClassTimedOut, workflows.ClassTimeout:
		return true
	}
	return false
}
