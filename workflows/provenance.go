package workflows

import (
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Run-time data-flow policy: before a call step does anything (evaluates
// its for_each, if or arguments) the engine asks flow.Provenance, as
// `validate` does, whether the step's sources may flow to the server it
// calls, and refuses it (class refused) before anything is sent otherwise.
// See docs/workflow-engine.md, "Data-flow policy".

// refusals computes, once per run, the first undeclared flow of every
// call step, keyed by step.
func refusals(fl *flow.Flow, prov *flow.Provenance, policy []flow.FlowEdge) map[*flow.Step]flow.Violation {
	out := map[*flow.Step]flow.Violation{}
	for _, s := range fl.AllSteps() {
		if vs := prov.Undeclared(s, policy); len(vs) > 0 {
			out[s] = vs[0]
		}
	}
	return out
}

// checkFlow refuses step s (at call path path) when the data-flow policy
// forbids its call.
func (e *engine) checkFlow(s *flow.Step, path string) error {
	v, refused := e.refused[s]
	if !refused {
		return nil
	}
	pe := &policyError{Step: path, From: v.From, To: v.To, v: v}
	if len(v.Fields) > 0 {
		pe.Field = v.Fields[0]
	}
	return pe
}

// policyError is a call refused at run time by the data-flow policy.
type policyError struct {
	// Step is the call path; Field the first argument field carrying the
	// data, or "" when the data decides whether to call.
	Step, Field, From, To string
	v                     flow.Violation
}

func (e *policyError) Error() string {
	return e.v.Pos.String() + ": step " + e.Step + " " + e.v.Message()
}
