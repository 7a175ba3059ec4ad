package flow

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// FinallyPath prefixes the paths of a flow's finally steps ("finally/notify",
// "finally/cleanup/drop"), in the journal, the live view and --rerun.
const FinallyPath = "finally/"

// InFinally reports whether s is one of the flow's finally steps or nested
// in one.
func (s *Step) InFinally() bool { return s.finally }

// finally parses the top-level `finally:` list: steps like those of
// `steps:`, whose paths start with FinallyPath.
func (p *parser) finally(n *yaml.Node) []*Step {
	p.inFinally = true
	defer func() { p.inFinally = false }()
	steps := p.steps(n, "finally", nil, "")
	if nn := p.deref(n); nn.Kind == yaml.SequenceNode && len(nn.Content) == 0 {
		p.errf(n, "finally", "finally needs at least one step, or leave it out")
	}
	return steps
}

// FinallyDepth is how many finally lists of f's tree may have to run one
// after another once a run is cancelled: a sub-flow's, then its caller's,
// each with FinallyTimeout of its own. 0 when no file of the tree has
// finally steps.
func (f *Flow) FinallyDepth() int {
	d := 0
	for _, s := range f.AllSteps() {
		if s.Uses != nil && s.Uses.Flow != nil {
			d = max(d, s.Uses.Flow.FinallyDepth())
		}
	}
	if len(f.Finally) > 0 {
		d++
	}
	return d
}

// finallyTarget explains why step s (nil for the outputs) may not name
// step t, across the line between a flow's steps and its finally steps, or
// returns "". Finally steps run once the steps have ended and may read any
// of them; the steps, and the outputs, which are computed before finally
// runs, may not read a finally step. An on_error handler runs in its
// failing step's own part of the flow.
func finallyTarget(s, t *Step, what string) string {
	verb := map[string]string{"needs": "depend on it", "on_error": "use it as on_error handler", "read": "read it"}[what]
	switch {
	case t.finally && s == nil:
		return "outputs are computed before the finally steps run, so they cannot read finally step \"" + t.ID + "\""
	case t.finally && !s.finally:
		return "step \"" + t.ID + "\" is a finally step, which runs after every step has ended; only finally steps may " + verb
	case what == "on_error" && s.finally && !t.finally:
		return "step \"" + t.ID + "\" is not a finally step; a finally step's on_error handler must be a finally step too"
	}
	return ""
}

// readsRunStatus reports whether e reads .run.status (or all of .run).
func readsRunStatus(e *Expr) bool {
	for _, path := range e.Paths {
		if path[0] == "run" && (len(path) == 1 || path[1] == RunFieldStatus) {
			return true
		}
	}
	return false
}

// runStatus is the node of .run.status as finally steps read it: the
// run's outcome, which a failure of any top-level step that does not
// absorb it decides, so it carries what decided those failures.
func (p *Provenance) runStatus() int {
	if p.status > 0 {
		return p.status - 1
	}
	n := p.node(pnode{server: -1, ctl: true})
	p.status = n + 1
	for _, t := range p.f.Steps {
		if failing(t.OnError) {
			p.edge(n, p.view[t], fmt.Sprintf("a failure of step %q (line %d), which would make the run fail", t.ID, t.Pos.Line), hopFailure)
		}
	}
	return n
}

// finallyLaneLabel titles the finally steps' lane in a drawn graph.
const finallyLaneLabel = "finally: after the steps, whatever the outcome"

// hasFinally reports whether the flow itself (not a sub-flow) has finally
// steps.
func (g *Graph) hasFinally() bool {
	for _, n := range g.Nodes {
		if n.Finally && n.Flow == "" {
			return true
		}
	}
	return false
}

// laneCalls are the flow's own call nodes (not a sub-flow's) of server
// srv in the finally lane or out of it.
func (g *Graph) laneCalls(srv string, finally bool) []*GraphNode {
	var out []*GraphNode
	for _, n := range g.Nodes {
		if n.Kind == NodeCall && n.Server == srv && n.Finally == finally && n.Flow == "" {
			out = append(out, n)
		}
	}
	return out
}
