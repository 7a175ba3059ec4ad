package workflows

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// A uses step runs its sub-flow with an engine of its own (one per uses
// step and run, shared by the step's items), over the same runtime,
// journal and resume state: its steps' paths are the step's path, then
// flow.UsesPathSep, then their own ("sync.uses/remind[3]"), so the journal
// keys and a resume work across the boundary. Its calls carry the sources
// of the sub-flow's analysis with its inputs replaced by the caller's
// sources for them, and the sub-flow's own flows: plus, for data from the
// caller, the flows the caller (or its callers) declared. See
// docs/workflow-engine.md, "Sub-flows".

// usesLink ties the engine of a sub-flow to its caller's.
type usesLink struct {
	parent *engine
	step   *flow.Step
	// prefix starts the static paths of the sub-flow's steps.
	prefix string
	// inputs are the caller's sources for each input given in with:, and
	// control those of the step's control, which decides every call.
	inputs  map[string][]string
	control []string
}

// staticPath is s's path in the journal: its Path, under the uses steps
// that run its flow.
func (e *engine) staticPath(s *flow.Step) string {
	if e.uses == nil {
		return s.Path
	}
	return e.uses.prefix + s.Path
}

// inputsAt are the .inputs of an expression in fr: the sub-flow run's
// (on its top frame), else the run's.
func (e *engine) inputsAt(fr *frame) map[string]any {
	for x := fr; x != nil; x = x.parent {
		if x.inputs != nil {
			return x.inputs
		}
	}
	return e.inputs
}

// resolve turns an analysis' answer (servers, and inputs of e's flow) into
// servers: an input stands for its caller's sources, and in a sub-flow
// the caller's control of the uses step decides everything.
func (e *engine) resolve(servers, inputs []string) []string {
	out := slices.Clone(servers)
	if e.uses != nil {
		for _, in := range inputs {
			out = append(out, e.uses.inputs[in]...)
		}
		out = append(out, e.uses.control...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// allows reports whether e's flow, or a flow that runs it, declares
// from -> to.
func (e *engine) allows(from, to string) bool {
	for x := e; ; x = x.uses.parent {
		if x.flow.Allows(from, to, nil) {
			return true
		}
		if x.uses == nil {
			return false
		}
	}
}

// callFlows are the flows a call of s hands the runtime: the file's own,
// and in a sub-flow the callers' declarations for data that came from
// them.
func (e *engine) callFlows(s *flow.Step) []flow.FlowEdge {
	if e.uses == nil {
		return e.flow.Flows
	}
	out := slices.Clone(e.flow.Flows)
	to := s.Server()
	injected := e.resolve(nil, e.prov.CallInputs(s))
	for _, from := range injected {
		if from != to && !e.flow.Allows(from, to, nil) && e.uses.parent.allows(from, to) {
			out = append(out, flow.FlowEdge{From: from, To: to})
		}
	}
	return out
}

// subEngine returns the engine of uses step s's sub-flow, made on first
// use.
func (e *engine) subEngine(s *flow.Step) (*engine, error) {
	e.subsMu.Lock()
	defer e.subsMu.Unlock()
	if c, ok := e.subs[s]; ok {
		return c, nil
	}
	c, err := newEngine(s.Uses.Flow, e.opts, nil)
	if err != nil {
		return nil, err
	}
	link := &usesLink{parent: e, step: s, prefix: e.staticPath(s) + flow.UsesPathSep, inputs: map[string][]string{},
		control: e.resolve(e.prov.ControlServers(s), e.prov.ControlInputs(s))}
	for in, exprs := range flow.WithInputs(s) {
		for _, x := range exprs {
			link.inputs[in] = append(link.inputs[in], e.resolve(e.prov.ExprServers(x), e.prov.ExprInputs(x))...)
		}
	}
	c.uses = link
	c.runID = e.runID
	for _, cs := range c.flow.AllSteps() {
		if cs.Server() != "" {
			c.sources[cs] = c.resolve(c.prov.CallSources(cs), c.prov.CallInputs(cs))
		}
	}
	if e.resume != nil {
		r := *e.resume
		r.prefix = link.prefix
		c.resume = &r
	}
	if e.subs == nil {
		e.subs = map[*flow.Step]*engine{}
	}
	e.subs[s] = c
	return c, nil
}

// runUses runs uses step s once in fr: its with: evaluated and checked
// as `run` checks a flow's inputs, then the sub-flow as Run runs a flow:
// its steps within its own timeout:, its outputs, and its finally steps
// whatever the outcome, under the step's path. The step's result is the
// outputs by name; it succeeds when the sub-flow's run did and its
// finally steps too. A sub-flow that timed out fails the step (class
// timed_out); one that failed or was cancelled gives the step its
// status and error. See docs/workflow-engine.md, "Sub-flows".
func (e *engine) runUses(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	if !e.decides {
		// The runtime does not decide the policy at each call: refuse here
		// what the caller passes or decides that it has not declared.
		if err := e.checkFlow(s, path); err != nil {
			return &stepResult{status: StatusFailed, err: err}
		}
	}
	var refs []string
	collectRefs(s.With, &refs)
	args, err := e.composeArgs(ctx, s, path, e.scope(fr, refs))
	if err != nil {
		return exprFailed(ctx, err)
	}
	inputs, err := PrepareInputs(ctx, s.Uses.Flow, args)
	if err != nil {
		return exprFailed(ctx, &exprError{what: "with", err: err})
	}
	c, err := e.subEngine(s)
	if err != nil {
		return &stepResult{status: StatusFailed, err: err}
	}
	top := &frame{path: path + ".uses", inputs: inputs, results: map[string]*stepResult{}}
	status, deadline, err := c.runSteps(ctx, top)
	var out map[string]any
	if status == RunSucceeded {
		outputs, oerr := c.evalOutputs(ctx, top)
		if oerr != nil {
			status, err = RunFailed, oerr
		} else {
			out = make(map[string]any, len(outputs))
			for k, v := range outputs {
				out[k] = v
			}
		}
	}
	res := &stepResult{status: usesStatus(status), err: err}
	if len(c.flow.Finally) > 0 && status != RunBlocked {
		fin := c.finallySteps(ctx, top, status, deadline)
		switch {
		case fin.Err == nil:
		case res.status == StatusSucceeded:
			res.status, res.err = fin.Status, fin.Err
		default:
			res.err = fmt.Errorf("%w; then %v", res.err, fin.Err)
		}
	}
	if res.status == StatusSucceeded {
		res.result = out
	}
	res.view = map[string]any{flow.FieldStatus: res.status, flow.FieldError: errorView(res.err, ""), flow.FieldResult: res.result}
	return res
}

// usesStatus is the status of a uses step whose sub-flow's run ended
// with run status st.
func usesStatus(st string) string {
	switch st {
	case RunSucceeded:
		return StatusSucceeded
	case RunCancelled:
		return StatusCancelled
	}
	return StatusFailed
}
