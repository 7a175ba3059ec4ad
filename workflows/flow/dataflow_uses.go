package flow

import (
	"fmt"
	"sort"
	"strings"
)

// Sub-flows in the data-flow analysis. A flow's inputs are sources of
// their own in its Provenance (pseudo-servers, which no server-facing
// answer names), so that the flow, run as a sub-flow, can say which of its
// inputs reach the calls to which server (Reach). The caller composes
// that with what it passes in with: (undeclaredUses), and the uses step's
// view carries every server the sub-flow calls (its outputs, status and
// error may hold their data). See docs/workflow-engine.md, "Sub-flows".

// inputSourcePrefix starts the pseudo-server of an input; a server alias
// never starts with '.'.
const inputSourcePrefix = ".inputs."

func isInputSource(name string) bool { return strings.HasPrefix(name, inputSourcePrefix) }

// inputEdges makes expression node n read the inputs e reads.
func (p *Provenance) inputEdges(n int, e *Expr) {
	for _, path := range e.Paths {
		if path[0] != "inputs" {
			continue
		}
		names := sortedInputNames(p.f.Inputs)
		if len(path) >= 2 {
			names = path[1:2]
		}
		for _, name := range names {
			m := p.node(pnode{server: p.serverBit(inputSourcePrefix + name)})
			p.edge(n, m, ".inputs."+name, hopData)
		}
	}
}

// usesView makes the view of uses step s carry every server its sub-flow
// calls.
func (p *Provenance) usesView(s *Step) {
	if s.Uses == nil || s.Uses.Flow == nil {
		return
	}
	for _, srv := range s.Uses.Flow.Servers() {
		m := p.node(pnode{server: p.serverBit(srv)})
		p.edge(p.view[s], m, fmt.Sprintf("the sub-flow %s of step %q, which calls server %q", s.Uses.Path, s.ID, srv), hopData)
	}
}

// finishUses analyses the sub-flows of f's uses steps and summarises f as
// a sub-flow (Reach), once the sets are solved: afterwards p is read-only.
func (p *Provenance) finishUses() {
	for _, s := range p.f.AllSteps() {
		if g := usesFlow(s); g != nil && p.subs[g] == nil {
			p.subs[g] = NewProvenance(g)
		}
	}
	p.reach = p.computeReach()
}

func usesFlow(s *Step) *Flow {
	if s.Uses == nil {
		return nil
	}
	return s.Uses.Flow
}

// Sub returns the analysis of the sub-flow of uses step s, or nil.
func (p *Provenance) Sub(s *Step) *Provenance {
	if g := usesFlow(s); g != nil {
		return p.subs[g]
	}
	return nil
}

func (p *Provenance) inputs(n int, ok bool) []string {
	if !ok {
		return nil
	}
	var out []string
	for _, b := range p.sets[n].members() {
		if name := p.servers[b]; isInputSource(name) {
			out = append(out, strings.TrimPrefix(name, inputSourcePrefix))
		}
	}
	sort.Strings(out)
	return out
}

// ExprInputs returns the inputs of the flow whose data e may carry: when
// the flow runs as a sub-flow, its caller's data in them.
func (p *Provenance) ExprInputs(e *Expr) []string {
	n, ok := p.expr[e]
	return p.inputs(n, ok)
}

// ControlInputs returns the inputs whose data may decide whether, and how
// often, s runs.
func (p *Provenance) ControlInputs(s *Step) []string {
	n, ok := p.ctl[s]
	return p.inputs(n, ok)
}

// CallInputs is CallSources for inputs: the inputs whose data the call
// of s may carry or that may decide whether it is made.
func (p *Provenance) CallInputs(s *Step) []string {
	if s.Server() == "" {
		return nil
	}
	set := map[string]bool{}
	for _, r := range stepExprs(s) {
		for _, in := range p.ExprInputs(r.e) {
			set[in] = true
		}
	}
	for _, in := range p.ControlInputs(s) {
		set[in] = true
	}
	return sortedSet(set)
}

// WithInputs returns, for uses step s, the expressions under each of its
// with: keys, by key.
func WithInputs(s *Step) map[string][]*Expr {
	out := map[string][]*Expr{}
	for _, r := range stepExprs(s) {
		if isWithArg(s, r) {
			out[r.arg] = append(out[r.arg], r.e)
		}
	}
	return out
}

func isWithArg(s *Step, r exprRef) bool { return strings.HasPrefix(r.field, s.field+".with.") }

// Reach summarises the flow as a sub-flow: for every server its calls
// (its own sub-flows' included) go to, the inputs whose data may reach
// them, in arguments or in the decision to call. Every server the flow
// calls is a key, with no inputs when none reach it. Do not modify it.
func (p *Provenance) Reach() map[string][]string { return p.reach }

func (p *Provenance) computeReach() map[string][]string {
	set := map[string]map[string]bool{}
	add := func(to string, ins []string) {
		if set[to] == nil {
			set[to] = map[string]bool{}
		}
		for _, in := range ins {
			set[to][in] = true
		}
	}
	for _, s := range p.f.AllSteps() {
		if srv := s.Server(); srv != "" {
			add(srv, p.CallInputs(s))
		}
		sub := p.Sub(s)
		if sub == nil {
			continue
		}
		ctl := p.ControlInputs(s)
		with := WithInputs(s)
		for to, ins := range sub.Reach() {
			add(to, ctl)
			for _, in := range ins {
				for _, e := range with[in] {
					add(to, p.ExprInputs(e))
				}
			}
		}
	}
	reach := map[string][]string{}
	for to, ins := range set {
		reach[to] = sortedSet(ins)
	}
	return reach
}

// undeclaredUses is Undeclared for uses step s: for every server its
// sub-flow calls, the data the caller passes in the inputs that reach
// those calls, and the caller's control of the step, which decides
// whether they are made.
func (p *Provenance) undeclaredUses(s *Step, policy []FlowEdge) []Violation {
	sub := p.Sub(s)
	if sub == nil {
		return nil
	}
	reach := sub.Reach()
	targets := make([]string, 0, len(reach))
	for to := range reach {
		targets = append(targets, to)
	}
	sort.Strings(targets)
	var out []Violation
	for _, to := range targets {
		ins := reach[to]
		out = append(out, p.undeclaredTo(s, to, policy, func(r exprRef) bool {
			return isWithArg(s, r) && contains(ins, r.arg)
		})...)
	}
	return out
}
