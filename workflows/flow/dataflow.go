package flow

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Provenance is the static information-flow analysis of a flow: for every
// expression, step view and call, the servers whose data it may carry
// (data) or that may decide whether and how often it runs (control).
// Validate and the engine both ask it (Undeclared), so `validate` and `run`
// cannot disagree on what a flow sends where. When unsure it counts a
// source rather than miss one. What counts as data and control, and the one
// channel left open: docs/workflow-engine.md, "Data-flow policy".
//
// A Provenance is read-only once built and safe for concurrent use.
type Provenance struct {
	f       *Flow
	servers []string       // by bit
	bit     map[string]int // server -> bit
	nodes   []pnode
	view    map[*Step]int
	ctl     map[*Step]int
	expr    map[*Expr]int
	// sets[n] is every server reachable from node n.
	sets []bitset
	// subs are the analyses of the flows uses steps run; reach is the
	// summary of f as a sub-flow (see dataflow_uses.go).
	subs  map[*Flow]*Provenance
	reach map[string][]string
	// status is the node of .run.status in finally steps, plus one; 0
	// until one reads it (runStatus).
	status int
}

// pnode is one thing whose provenance is a set of servers: a step's view,
// a step's control (ctl), or an expression (expr). server is the bit of
// the server a call step's view holds directly, or -1.
type pnode struct {
	server int
	ctl    bool
	expr   *Expr
	edges  []pedge
}

// pedge says that from's provenance includes to's. label explains the hop
// in messages ("" for hops that need no words); kind says what sort of
// hop it is, for choosing the plainest explanation.
type pedge struct {
	to    int
	label string
	kind  hopKind
}

// hopKind orders the ways data moves from the plainest to explain to the
// least: reading it, deciding on it (if, for_each), failing on it.
type hopKind int

const (
	hopData hopKind = iota
	hopDecision
	hopFailure
)

// NewProvenance analyses f. Unknown step ids (which Validate reports)
// contribute nothing.
func NewProvenance(f *Flow) *Provenance {
	p := &Provenance{f: f, bit: map[string]int{}, view: map[*Step]int{}, ctl: map[*Step]int{}, expr: map[*Expr]int{}, subs: map[*Flow]*Provenance{}}
	all := f.AllSteps()
	byID := map[string]*Step{}
	for _, s := range all {
		if _, dup := byID[s.ID]; !dup {
			byID[s.ID] = s
		}
		p.view[s] = p.node(pnode{server: -1})
		p.ctl[s] = p.node(pnode{server: -1, ctl: true})
		if srv := s.Server(); srv != "" {
			p.nodes[p.view[s]].server = p.serverBit(srv)
		}
		for _, r := range stepExprs(s) {
			p.expr[r.e] = p.node(pnode{server: -1, expr: r.e})
		}
	}
	for _, name := range f.OutputOrder {
		valueExprs(f.Outputs[name], "", func(_ string, e *Expr) { p.expr[e] = p.node(pnode{server: -1, expr: e}) })
	}

	// What expressions read.
	exprEdges := func(s *Step, e *Expr, ownForEach bool) {
		n := p.expr[e]
		for _, id := range e.References {
			if t, ok := byID[id]; ok {
				p.edge(n, p.view[t], ".steps."+id, hopData)
			}
		}
		p.inputEdges(n, e)
		if s != nil && s.finally && readsRunStatus(e) {
			p.edge(n, p.runStatus(), ".run."+RunFieldStatus, hopFailure)
		}
		if s == nil || !readsItem(e) {
			return
		}
		b := s
		if ownForEach {
			b = s.Parent
		}
		for ; b != nil && b.ForEach == nil; b = b.Parent {
		}
		if b != nil {
			p.edge(n, p.expr[b.ForEach], itemLabel(e), hopData)
		}
	}
	for _, name := range f.OutputOrder {
		valueExprs(f.Outputs[name], "", func(_ string, e *Expr) { exprEdges(nil, e, false) })
	}

	triggers := map[string][]*Step{}
	for _, s := range all {
		if !failing(s.OnError) && s.OnError != "continue" {
			triggers[s.OnError] = append(triggers[s.OnError], s)
		}
	}
	for _, s := range all {
		v, c := p.view[s], p.ctl[s]
		// The view: the step's expressions, its control and its children.
		for _, r := range stepExprs(s) {
			exprEdges(s, r.e, r.ownForEach)
			p.edge(v, p.expr[r.e], "", hopData)
		}
		p.edge(v, c, "", hopData)
		for _, ch := range children(s) {
			p.edge(v, p.view[ch], "", hopData)
		}
		p.usesView(s)

		// The control.
		if s.If != nil {
			p.edge(c, p.expr[s.If], fmt.Sprintf("the if of step %q at line %d", s.ID, s.If.Pos.Line), hopDecision)
		}
		if s.ForEach != nil {
			p.edge(c, p.expr[s.ForEach], fmt.Sprintf("the for_each of step %q at line %d", s.ID, s.ForEach.Pos.Line), hopDecision)
			if failing(s.OnError) {
				// An item fails when its call fails, or a step of its
				// group that does not absorb its own failure; its if is
				// in c already.
				earlier := fmt.Sprintf("a failure in an earlier item of for_each %q (line %d), which stops the later items under on_error: fail", s.ID, s.Pos.Line)
				if s.Server() != "" || s.Uses != nil {
					p.edge(c, v, earlier, hopFailure)
				}
				for _, y := range children(s) {
					if failing(y.OnError) {
						p.edge(c, p.view[y], earlier, hopFailure)
					}
				}
			}
		}
		if s.Parent != nil {
			p.edge(c, p.ctl[s.Parent], "", hopData)
		}
		for _, t := range triggers[s.ID] {
			p.edge(c, p.view[t], fmt.Sprintf("a failure of step %q (line %d), which runs it as on_error handler", t.ID, t.Pos.Line), hopFailure)
		}
	}
	p.cancellations(f)
	p.solve()
	p.finishUses()
	return p
}

// children lists s's nested steps, every branch's included.
func children(s *Step) []*Step {
	out := append([]*Step(nil), s.Steps...)
	for _, b := range s.BranchOrder {
		out = append(out, s.Parallel[b]...)
	}
	return out
}

// failing reports whether on_error value v lets a failure end the
// step's list (and move up to the enclosing step).
func failing(v string) bool { return v == "" || v == "fail" }

// absorbedAbove reports whether a failure in s's list stops, on its way
// up, at an enclosing step whose on_error continues or runs a handler, so
// the run goes on after it.
func absorbedAbove(s *Step) bool {
	for a := s.Parent; a != nil; a = a.Parent {
		if !failing(a.OnError) {
			return true
		}
	}
	return false
}

// cancellations adds the failures that cancel a step before it starts.
// A step that fails with on_error: fail cancels what is left of its list
// (of every branch, under a parallel step). A step waiting for it, directly
// or through others, never starts: its control includes that failure
// whatever happens after (node waits, one per step, keeps this linear in
// the dependencies). When the failure is absorbed by an enclosing step's
// on_error and the run goes on, every step of the list it could cancel, in
// any order, counts it, except the steps it waits for itself.
func (p *Provenance) cancellations(f *Flow) {
	cancels := func(y *Step) string {
		return fmt.Sprintf("a failure of step %q (line %d), which would cancel it", y.ID, y.Pos.Line)
	}
	waits := map[*Step]int{}
	reach := map[*Step]bitset{} // steps of its list each step waits for, by index
	index := map[*Step]int{}
	forEachList(f, func(parent *Step, list []*Step) {
		deps := Dependencies(list)
		byID := make(map[string]*Step, len(list))
		for i, x := range list {
			byID[x.ID] = x
			index[x] = i
			waits[x] = p.node(pnode{server: -1, ctl: true})
		}
		for _, x := range list {
			p.edge(p.ctl[x], waits[x], "", hopFailure)
			for _, id := range deps[x.ID] {
				z := byID[id]
				p.edge(waits[x], waits[z], "", hopFailure)
				if failing(z.OnError) {
					p.edge(waits[x], p.view[z], cancels(z), hopFailure)
				}
			}
		}
		if parent == nil || !absorbedAbove(list[0]) {
			return
		}
		var visit func(x *Step) bitset
		visit = func(x *Step) bitset {
			if r, ok := reach[x]; ok {
				return r // nil while in progress: a cycle, reported elsewhere
			}
			reach[x] = nil
			r := make(bitset, (len(list)+63)/64)
			for _, id := range deps[x.ID] {
				z := byID[id]
				r.add(index[z])
				r.or(visit(z))
			}
			reach[x] = r
			return r
		}
		for _, x := range list {
			visit(x)
		}
	})
	// Absorbed failures: every sibling, any branch, that does not wait for
	// the step.
	for _, s := range f.AllSteps() {
		if s.Parent == nil || !absorbedAbove(s) {
			continue
		}
		for _, y := range children(s.Parent) {
			if y == s || !failing(y.OnError) {
				continue
			}
			if y.branch == s.branch && reach[y].has(index[s]) {
				continue // y starts only once s is done: it cannot stop it
			}
			p.edge(p.ctl[s], p.view[y], cancels(y), hopFailure)
		}
	}
}

// forEachList calls fn for every steps list of f: the top level (parent
// nil), each group's and each parallel branch's.
func forEachList(f *Flow, fn func(parent *Step, list []*Step)) {
	if len(f.Steps) > 0 {
		fn(nil, f.Steps)
	}
	if len(f.Finally) > 0 {
		fn(nil, f.Finally)
	}
	walkSteps(append(append([]*Step(nil), f.Steps...), f.Finally...), func(s *Step) {
		if len(s.Steps) > 0 {
			fn(s, s.Steps)
		}
		for _, b := range s.BranchOrder {
			if len(s.Parallel[b]) > 0 {
				fn(s, s.Parallel[b])
			}
		}
	})
}

func (p *Provenance) node(n pnode) int {
	p.nodes = append(p.nodes, n)
	return len(p.nodes) - 1
}

func (p *Provenance) edge(from, to int, label string, kind hopKind) {
	p.nodes[from].edges = append(p.nodes[from].edges, pedge{to: to, label: label, kind: kind})
}

func (p *Provenance) serverBit(name string) int {
	if b, ok := p.bit[name]; ok {
		return b
	}
	p.bit[name] = len(p.servers)
	p.servers = append(p.servers, name)
	return len(p.servers) - 1
}

// solve computes every node's set of reachable servers in one pass over
// the strongly connected components (Tarjan's algorithm finishes a
// component only after every component it reaches).
func (p *Provenance) solve() {
	n := len(p.nodes)
	p.sets = make([]bitset, n)
	index := make([]int, n) // 0: not visited yet
	low := make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	next := 1
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range p.nodes[v].edges {
			switch w := e.to; {
			case index[w] == 0:
				visit(w)
				low[v] = min(low[v], low[w])
			case onStack[w]:
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var members []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			members = append(members, w)
			if w == v {
				break
			}
		}
		set := make(bitset, (len(p.servers)+63)/64)
		for _, m := range members {
			if s := p.nodes[m].server; s >= 0 {
				set.add(s)
			}
			for _, e := range p.nodes[m].edges {
				set.or(p.sets[e.to]) // nil inside this component
			}
		}
		for _, m := range members {
			p.sets[m] = set
		}
	}
	for v := range p.nodes {
		if index[v] == 0 {
			visit(v)
		}
	}
}

func (p *Provenance) names(n int, ok bool) []string {
	if !ok {
		return nil
	}
	var out []string
	for _, b := range p.sets[n].members() {
		if !isInputSource(p.servers[b]) {
			out = append(out, p.servers[b])
		}
	}
	sort.Strings(out)
	return out
}

// ExprServers returns the servers whose data e, an expression of the
// flow, can carry, sorted.
func (p *Provenance) ExprServers(e *Expr) []string {
	n, ok := p.expr[e]
	return p.names(n, ok)
}

// ViewServers returns the servers whose data .steps.<id> of s can carry.
func (p *Provenance) ViewServers(s *Step) []string {
	n, ok := p.view[s]
	return p.names(n, ok)
}

// OutputServers returns the servers whose data the flow's outputs can
// carry, sorted: the provenance of what a run returns. Outputs are read
// after every step settled, so this is the union of their expressions'
// servers; a literal output carries none.
func (p *Provenance) OutputServers() []string {
	set := map[string]bool{}
	for _, name := range p.f.OutputOrder {
		valueExprs(p.f.Outputs[name], "", func(_ string, e *Expr) {
			for _, srv := range p.ExprServers(e) {
				set[srv] = true
			}
		})
	}
	return sortedSet(set)
}

// ControlServers returns the servers whose data can decide whether, and
// how often, s runs.
func (p *Provenance) ControlServers(s *Step) []string {
	n, ok := p.ctl[s]
	return p.names(n, ok)
}

// CallSources returns the servers whose data the call of step s may
// carry (in its arguments and idempotency key) or that may decide whether
// and how often it is made, sorted: the provenance the engine hands the
// runtime with each of its calls, the same sources Undeclared checks.
// It returns nil for a step that calls nothing.
func (p *Provenance) CallSources(s *Step) []string {
	if s.Server() == "" {
		return nil
	}
	set := map[string]bool{}
	for _, r := range stepExprs(s) {
		for _, srv := range p.names(p.expr[r.e], true) {
			set[srv] = true
		}
	}
	for _, srv := range p.names(p.ctl[s], true) {
		set[srv] = true
	}
	return sortedSet(set)
}

// Violation is one undeclared cross-server flow into a call: data from
// server From in argument fields of the call, or (no Fields) the decision
// whether and how often to make the call.
type Violation struct {
	Step     *Step
	From, To string
	// Fields are the argument fields carrying the data, relative to the
	// step ("with.title", "idempotency_key"); empty for a control flow.
	Fields []string
	// Via says how the data gets there, one entry per distinct way, e.g.
	// ".steps.mid (from .steps.src)" or "the if of step \"x\" at line 9
	// (from .steps.src)".
	Via []string
	// Pos is where to look: the first field's expression, the step's own
	// if or for_each when that decides, else the step.
	Pos Pos
	// field is the problem field path, e.g. "steps[1].with.title".
	field string
}

// Control reports whether v is about the decision to call, not an
// argument.
func (v Violation) Control() bool { return len(v.Fields) == 0 }

// Edge is the flow that would allow v, to add to flows:.
func (v Violation) Edge() FlowEdge { return FlowEdge{From: v.From, To: v.To} }

// Message says what v sends where, how, and what to declare; it reads
// after the step's name ("step \"sink\" " + Message()).
func (v Violation) Message() string {
	add := fmt.Sprintf("this flow is not declared: add %q to flows: (or, for every flow, to policy.flows in the config)", v.Edge().String())
	req := v.Step.Request()
	if v.Step.Uses != nil {
		req = fmt.Sprintf("server %q through %s", v.To, req)
		if v.Control() {
			return fmt.Sprintf("runs %s, which calls server %q, under the control of data from server %q (via %s), so whether and how often it calls tells server %q about that data; %s",
				v.Step.Request(), v.To, v.From, strings.Join(v.Via, ", "), v.To, add)
		}
	}
	if v.Control() {
		return fmt.Sprintf("calls %s under the control of data from server %q (via %s), so whether and how often it calls tells server %q about that data; %s",
			req, v.From, strings.Join(v.Via, ", "), v.To, add)
	}
	return fmt.Sprintf("sends data from server %q (via %s) to %s in %s; %s",
		v.From, strings.Join(v.Via, ", "), req, plural("field", v.Fields), add)
}

// Undeclared returns every flow into the call of step s that neither the
// file's flows: nor policy allows (Flow.Allows decides each edge): for each
// source server, the argument fields (and idempotency key, which is sent
// too) whose values can carry its data, then each server whose data
// decides whether and how often s calls. It returns nil for a step that
// calls nothing.
func (p *Provenance) Undeclared(s *Step, policy []FlowEdge) []Violation {
	if s.Uses != nil {
		return p.undeclaredUses(s, policy)
	}
	to := s.Server()
	if to == "" {
		return nil
	}
	return p.undeclaredTo(s, to, policy, func(exprRef) bool { return true })
}

// undeclaredTo is Undeclared for the requests of s to server to: the
// data in the arguments args selects, then the control.
func (p *Provenance) undeclaredTo(s *Step, to string, policy []FlowEdge, args func(exprRef) bool) []Violation {
	var out []Violation
	byFrom := map[string]int{}
	for _, r := range stepExprs(s) {
		if r.arg == "for_each" || r.arg == "if" || !args(r) {
			continue // decisions, checked below with the rest of the control
		}
		n := p.expr[r.e]
		for _, from := range p.names(n, true) {
			if p.f.Allows(from, to, policy) {
				continue
			}
			i, ok := byFrom[from]
			if !ok {
				i = len(out)
				byFrom[from] = i
				out = append(out, Violation{Step: s, From: from, To: to, Pos: r.e.Pos, field: r.field})
			}
			v := &out[i]
			if f := shortField(r.field, s); !contains(v.Fields, f) {
				v.Fields = append(v.Fields, f)
			}
			if via, _ := p.explain(n, from); !contains(v.Via, via) {
				v.Via = append(v.Via, via)
			}
		}
	}
	c := p.ctl[s]
	for _, from := range p.names(c, true) {
		if p.f.Allows(from, to, policy) {
			continue
		}
		if _, sent := byFrom[from]; sent {
			continue // already refused for the data itself, with the same remedy
		}
		via, first := p.explain(c, from)
		v := Violation{Step: s, From: from, To: to, Via: []string{via}, Pos: s.Pos, field: s.field}
		switch {
		case first == nil:
		case first == s.If:
			v.Pos, v.field = s.If.Pos, s.field+".if"
		case first == s.ForEach:
			v.Pos, v.field = s.ForEach.Pos, s.field+".for_each"
		}
		out = append(out, v)
	}
	return out
}

// explain finds a shortest way from node start to a call of server from
// and renders it for a message: the first hop, every decision on the way,
// and the step the data comes from (".steps.mid (from .steps.src)"). Of
// the ways there it prefers reading to deciding, and deciding to failing.
// first is the expression the first hop leads into, if any.
func (p *Provenance) explain(start int, from string) (via string, first *Expr) {
	want := p.bit[from]
	var path []pedge
	for _, most := range []hopKind{hopData, hopDecision, hopFailure} {
		if path = p.search(start, want, most); path != nil {
			break
		}
	}
	if len(path) > 0 {
		first = p.nodes[path[0].to].expr
	}
	fi, li := -1, -1
	for i, e := range path {
		if e.label != "" {
			if fi < 0 {
				fi = i
			}
			li = i
		}
	}
	if fi < 0 {
		return "", first
	}
	kept := []string{path[fi].label}
	for i := fi + 1; i < li; i++ {
		if path[i].kind != hopData {
			kept = append(kept, path[i].label)
		}
	}
	if li != fi {
		kept = append(kept, path[li].label)
	}
	if len(kept) == 1 {
		return kept[0], first
	}
	return kept[0] + " (from " + strings.Join(kept[1:], ", from ") + ")", first
}

// search is a breadth-first search from start to a node calling server
// bit want, through nodes that reach it and hops of kind most at most; a
// plain data search does not enter control nodes either.
func (p *Provenance) search(start, want int, most hopKind) []pedge {
	type step struct {
		prev int
		edge pedge
	}
	seen := map[int]step{start: {prev: -1}}
	queue := []int{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if p.nodes[n].server == want {
			var path []pedge
			for x := n; x != start; x = seen[x].prev {
				path = append(path, seen[x].edge)
			}
			for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
				path[i], path[j] = path[j], path[i]
			}
			return path
		}
		for _, e := range p.nodes[n].edges {
			if _, ok := seen[e.to]; ok || !p.sets[e.to].has(want) {
				continue
			}
			if e.kind > most || (most == hopData && p.nodes[e.to].ctl) {
				continue
			}
			seen[e.to] = step{prev: n, edge: e}
			queue = append(queue, e.to)
		}
	}
	return nil
}

// itemLabel names what e reads of its for_each: ".item", or ".index"
// when that is all.
func itemLabel(e *Expr) string {
	for _, path := range e.Paths {
		if path[0] == "item" {
			return ".item"
		}
	}
	return ".index"
}

func readsItem(e *Expr) bool {
	for _, path := range e.Paths {
		if path[0] == "item" || path[0] == "index" {
			return true
		}
	}
	return false
}

// bitset is a set of small integers, sized for every server of the flow.
type bitset []uint64

func (b bitset) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) add(i int) { b[i/64] |= 1 << (i % 64) }

func (b bitset) or(o bitset) {
	for i, w := range o {
		b[i] |= w
	}
}

func (b bitset) members() []int {
	var out []int
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			out = append(out, i*64+t)
			w &^= 1 << t
		}
	}
	return out
}

// Allows reports whether data from server from may flow into a call to
// server to under the file's flows: and the global policy. A server's own
// data may always go back to it.
func (f *Flow) Allows(from, to string, policy []FlowEdge) bool {
	if from == to {
		return true
	}
	for _, list := range [][]FlowEdge{f.Flows, policy} {
		for _, e := range list {
			if e.From == from && e.To == to {
				return true
			}
		}
	}
	return false
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stepIndex memoises the servers of each step, so drawing a large flow
// stays linear.
type stepIndex struct {
	servers map[*Step][]string
}

func newStepIndex(*Flow) *stepIndex {
	return &stepIndex{servers: map[*Step][]string{}}
}

// stepServers returns the servers whose results make up .steps.<id> of s:
// its own call's server, or for a group every server called inside it.
func (x *stepIndex) stepServers(s *Step) []string {
	if srv, ok := x.servers[s]; ok {
		return srv
	}
	set := map[string]bool{}
	if srv := s.Server(); srv != "" {
		set[srv] = true
	}
	if s.Uses != nil && s.Uses.Flow != nil {
		for _, srv := range s.Uses.Flow.Servers() {
			set[srv] = true
		}
	}
	children := append([]*Step(nil), s.Steps...)
	for _, b := range s.BranchOrder {
		children = append(children, s.Parallel[b]...)
	}
	for _, c := range children {
		for _, srv := range x.stepServers(c) {
			set[srv] = true
		}
	}
	srv := sortedSet(set)
	x.servers[s] = srv
	return srv
}

// flows checks that every server flows: names is called (warning of an
// edge from a server to itself, which changes nothing), and every call's
// arguments (and idempotency key, which is sent to the server too) and
// control (Provenance) against the declared cross-server flows.
func (v *validator) flows() {
	called := map[string]bool{}
	for _, srv := range v.f.Servers() {
		called[srv] = true
	}
	servers := sortedSet(called)
	for i, e := range v.f.Flows {
		field := e.field
		if field == "" {
			field = fmt.Sprintf("flows[%d]", i)
		}
		for _, name := range []string{e.From, e.To} {
			if !called[name] {
				v.add(e.Pos, field, "no step calls server %q%s", name, didYouMean(name, servers))
			}
			if e.From == e.To {
				break
			}
		}
		if err := e.Redundant(); err != nil {
			v.warn(e.Pos, field, "%v", err)
		}
	}
	for _, s := range v.all {
		for _, u := range v.prov.Undeclared(s, v.opts.PolicyFlows) {
			v.add(u.Pos, u.field, "step %q %s", s.ID, u.Message())
		}
	}
}
