package workflows

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Run-time data-flow policy.
//
// Every value the interpreter composes carries the set of servers its data
// came from. Tracking is per expression, not per byte, and the same static
// analysis validation uses (Flow.ExprSources) decides it, so `validate` and
// `run` cannot disagree; the run-time check exists because a flow may run
// without validation, under a different global policy, or with a
// ValidateOptions that skipped the check. An argument field's provenance is
// the union of
//   - the servers of every step the field's expression references
//     (.steps.<id>; a step's servers are the server it calls, or for a group
//     the servers of all calls inside it), and
//   - under for_each, the provenance of the for_each expression itself when
//     the field reads .item (or the whole scope), since the items came from
//     wherever that list came from.
//
// This over-approximates (an expression that mentions .steps.forecast but
// uses only its status still counts as carrying forecast's server) and it
// is transitive: a step's result carries its own server and every server
// whose data went into its arguments, because a tool may echo what it was
// sent. A -> B -> C with B relaying A's data therefore needs a -> c
// declared as well as each hop. Because the analysis is static it covers
// every run of the flow (a superset of what one run's values carry), so a
// run never sends what validation would have refused. Inputs carry no
// server.

// argSources caches, per expression of a call step, the servers its value
// can carry data from (Flow.ExprSources, which validation uses too), so the
// run-time check costs a map lookup per call rather than a walk of the flow.
type argSources struct {
	mu    sync.Mutex
	cache map[*flow.Expr][]string
}

func (a *argSources) servers(f *flow.Flow, s *flow.Step, e *flow.Expr) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if out, ok := a.cache[e]; ok {
		return out
	}
	var out []string
	for _, src := range f.ExprSources(s, e, false) {
		if !slices.Contains(out, src.Server) {
			out = append(out, src.Server)
		}
	}
	sort.Strings(out)
	if a.cache == nil {
		a.cache = map[*flow.Expr][]string{}
	}
	a.cache[e] = out
	return out
}

// checkFlow refuses to send the value of e (argument field of step s,
// journal path path) to server to unless every server it carries data from
// may flow there.
func (e *engine) checkFlow(s *flow.Step, path, field string, x *flow.Expr) error {
	to := s.Call.Server
	for _, from := range e.sources.servers(e.flow, s, x) {
		if !e.flow.Allows(from, to, e.opts.PolicyFlows) {
			return &policyError{Step: path, Field: field, From: from, To: to}
		}
	}
	return nil
}

// policyError is a call refused at run time by the data-flow policy.
type policyError struct {
	Step, Field, From, To string
}

func (e *policyError) Error() string {
	return fmt.Sprintf("step %s: field %s would carry data from server %q into a call to server %q, "+
		"which this flow does not allow; add %q to flows: (or to the global policy.flows) if that transfer is intended",
		e.Step, e.Field, e.From, e.To, e.From+" -> "+e.To)
}
