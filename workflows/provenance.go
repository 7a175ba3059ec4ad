package workflows

import (
	"errors"
	"fmt"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Run-time data-flow policy. The rule is decided where every call of
// mediator's is: in the orchestrator. Each call the engine makes carries
// its sources (flow.Provenance.CallSources, the analysis `validate` uses)
// and the file's flows: in its CallRequest, and a FlowDecider runtime
// (OrchestratorCaller) refuses it before anything is sent; the engine
// turns that refusal into the analysis's account of it (flowRefusal). For
// a runtime that does not decide, the engine refuses a call step itself,
// under RunOptions.PolicyFlows, before it evaluates anything (checkFlow).
// Either way the step fails with class refused. See
// docs/workflow-engine.md, "Data-flow policy".

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

// callSources computes, once per run, the sources of every call step.
func callSources(fl *flow.Flow, prov *flow.Provenance) map[*flow.Step][]string {
	out := map[*flow.Step][]string{}
	for _, s := range fl.AllSteps() {
		if src := prov.CallSources(s); len(src) > 0 {
			out[s] = src
		}
	}
	return out
}

// checkFlow refuses step s (at call path path) when the runtime does not
// decide the data-flow policy and the engine's own check forbids its call.
func (e *engine) checkFlow(s *flow.Step, path string) error {
	v, refused := e.refused[s]
	if !refused {
		return nil
	}
	return newPolicyError(path, v, nil)
}

// flowRefusal is the engine's account of a call of step s its runtime
// refused under the data-flow policy (err holds fr): the analysis's
// violation for the first refused source, which says where in the file,
// how the data gets there and what to declare; or, when the analysis
// finds none (the runtime's policy is stricter than the file's), the
// runtime's own words at the step.
func (e *engine) flowRefusal(s *flow.Step, path string, fr *FlowRefusedError, err error) error {
	vs := e.prov.Undeclared(s, nil)
	for c := e; c.uses != nil; c = c.uses.parent {
		// In a sub-flow, data its caller passed in is the caller's to declare.
		vs = append(vs, c.uses.parent.prov.Undeclared(c.uses.step, nil)...)
	}
	for _, from := range fr.From {
		for _, v := range vs {
			if v.From == from && v.To == fr.To {
				return newPolicyError(path, v, err)
			}
		}
	}
	pe := &policyError{Step: path, To: fr.To, pos: s.Pos, err: err}
	if len(fr.From) > 0 {
		pe.From = fr.From[0]
	}
	return pe
}

// policyError is a call refused at run time by the data-flow policy.
type policyError struct {
	// Step is the call path; Field the first argument field carrying the
	// data, or "" when the data decides whether to call.
	Step, Field, From, To string
	v                     flow.Violation
	// pos is where the refusal points when there is no violation (v.Step
	// is nil); err is the runtime's refusal, if it refused.
	pos flow.Pos
	err error
}

func newPolicyError(path string, v flow.Violation, err error) *policyError {
	pe := &policyError{Step: path, From: v.From, To: v.To, v: v, err: err}
	if len(v.Fields) > 0 {
		pe.Field = v.Fields[0]
	}
	return pe
}

func (e *policyError) Error() string {
	if e.v.Step == nil {
		return fmt.Sprintf("%s: step %s: %v", e.pos, e.Step, e.err)
	}
	return e.v.Pos.String() + ": step " + e.Step + " " + e.v.Message()
}

func (e *policyError) Unwrap() error { return e.err }

// asFlowRefusal reports whether err is a FlowDecider's refusal.
func asFlowRefusal(err error) (*FlowRefusedError, bool) {
	var fr *FlowRefusedError
	return fr, errors.As(err, &fr)
}
