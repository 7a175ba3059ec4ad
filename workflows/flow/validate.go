package flow

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/argcheck"
	"github.com/mediatorhq/mediator/internal/problem"
)

// Catalog looks up the tools a flow calls, for the checks that need the
// live servers (`validate --connect`). An error means the tool cannot be
// called: the server is unreachable, the tool does not exist, or the
// server's allow-list excludes it; its message is shown as the problem.
type Catalog interface {
	Tool(ctx context.Context, server, tool string) (*mcp.Tool, error)
}

// ValidateOptions configures Validate.
type ValidateOptions struct {
	// PolicyFlows are cross-server flows allowed by the global config
	// (policy.flows), in addition to the file's own flows:.
	PolicyFlows []FlowEdge
	// Catalog, when set, enables the checks against live tool lists:
	// existence, input schemas, output-to-input types and retry safety.
	Catalog Catalog
	// TrustAnnotations says whether a server's tool annotations
	// (readOnlyHint, idempotentHint) may exempt a tool from the retry
	// safety rule. Annotations are only hints from the server, so trust
	// is per-server configuration; nil trusts none.
	TrustAnnotations func(server string) bool
	// RetryAtRunTime says the flow is about to run: the engine applies
	// the retry rule before every call with the live annotations, so
	// Validate without a Catalog does not warn that it cannot.
	RetryAtRunTime bool
	// Server, when set, tells whether a server named in call: can be used
	// (nil) or why not (the config does not have it); Validate reports
	// the error at the call. Nil checks no server names.
	Server func(name string) error
	// ReadFile reads the file of a uses step's sub-flow (UsesFile names
	// it), which Validate then parses and validates with these options
	// and sets as Uses.Flow. Nil reads nothing: a sub-flow not loaded yet
	// is a problem.
	ReadFile func(path string) ([]byte, error)

	// uses is the state of loading a tree of sub-flows.
	uses *usesState
}

// Check parses data and validates the result in one pass, returning every
// problem found, sorted by position. The flow is nil only when the YAML
// could not be read at all. It does no I/O except through opts.Catalog.
func Check(ctx context.Context, name string, data []byte, opts ValidateOptions) (*Flow, Problems) {
	f, err := Parse(name, data)
	var probs Problems
	if err != nil {
		probs, _ = err.(Problems)
	}
	if f != nil {
		probs = append(probs, Validate(ctx, f, opts)...)
	}
	probs = dedupeProblems(probs)
	problem.Sort(probs)
	if len(probs) > 0 {
		return f, probs
	}
	return f, nil
}

func dedupeProblems(ps Problems) Problems {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		k := p.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// Validate checks what needs the whole parsed flow: unique step ids,
// references and needs that resolve and are visible, an acyclic dependency
// graph, on_error targets, input defaults against their schemas, and that
// every cross-server data flow is declared. With opts.Catalog it also checks
// each call against the live tool (see Catalog). Problems are sorted by
// position; Problems.Errors make the flow invalid, warnings do not.
//
// A step may read .steps.<id> of any step in its own list or in a list
// enclosing it; steps nested in a group are private to that group. Outputs
// may read top-level steps only.
//
// A uses step's sub-flow is loaded first (opts.ReadFile reads it; see
// LoadUses) and validated with the same options, its problems at their
// places in its own file.
//
// Retry safety needs tool annotations: with a Catalog Validate applies
// Flow.CheckRetrySafety; without one it warns of each step whose own retry
// it cannot judge, unless RetryAtRunTime.
func Validate(ctx context.Context, f *Flow, opts ValidateOptions) Problems {
	loaded := resolveUses(ctx, f, opts)
	v := &validator{f: f, opts: opts, byID: map[string]*Step{}, deps: map[*Step][]dep{}, prov: NewProvenance(f), probs: loaded}
	v.index()
	v.inputs()
	v.usesInputs(ctx)
	for _, s := range v.all {
		v.step(s)
	}
	v.outputs()
	v.cycles()
	v.flows()
	v.servers()
	v.polls()
	switch {
	case opts.Catalog != nil:
		v.connect(ctx)
	case !opts.RetryAtRunTime:
		v.offlineRetry()
		v.offlinePoll()
	}
	problem.Sort(v.probs)
	return v.probs
}

// servers checks each called server with opts.Server, reporting one that
// cannot be used once, at the first call naming it.
func (v *validator) servers() {
	if v.opts.Server == nil {
		return
	}
	seen := map[string]bool{}
	for _, s := range v.all {
		server := s.Server()
		if server == "" || seen[server] {
			continue
		}
		seen[server] = true
		if err := v.opts.Server(server); err != nil {
			pos, field := s.requestPos()
			v.add(pos, field+".server", "%v", err)
		}
	}
}

type dep struct {
	on     *Step
	reason string
}

type validator struct {
	f     *Flow
	opts  ValidateOptions
	probs Problems
	all   []*Step // every step, in file order
	byID  map[string]*Step
	ids   []string
	deps  map[*Step][]dep // lifted edges between siblings
	prov  *Provenance
}

func (v *validator) add(pos Pos, field, format string, args ...any) {
	v.probs = append(v.probs, Problem{Pos: pos, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(pos Pos, field, format string, args ...any) {
	v.probs = append(v.probs, Problem{Pos: pos, Field: field, Message: fmt.Sprintf(format, args...), Warning: true})
}

// walkSteps visits steps depth-first in file order.
func walkSteps(steps []*Step, fn func(*Step)) {
	for _, s := range steps {
		fn(s)
		walkSteps(s.Steps, fn)
		for _, b := range s.BranchOrder {
			walkSteps(s.Parallel[b], fn)
		}
	}
}

// AllSteps returns every step of f, nested ones included, in file order.
func (f *Flow) AllSteps() []*Step {
	var out []*Step
	walkSteps(f.Steps, func(s *Step) { out = append(out, s) })
	walkSteps(f.Finally, func(s *Step) { out = append(out, s) })
	return out
}

func (v *validator) index() {
	for _, s := range v.f.AllSteps() {
		v.all = append(v.all, s)
		if s.ID == "" {
			continue
		}
		if prev, dup := v.byID[s.ID]; dup {
			v.add(s.ValuePos("id"), s.field+".id", "duplicate step id %q (first used at line %d); ids are unique across the whole file, nested groups included", s.ID, prev.Pos.Line)
			continue
		}
		v.byID[s.ID] = s
		v.ids = append(v.ids, s.ID)
	}
}

func container(s *Step) string {
	if s.Parent == nil {
		return ""
	}
	return s.Parent.Path + "#" + s.branch
}

// visible reports whether step from may read step t. from == nil stands
// for the flow's outputs.
func visible(from, t *Step) bool {
	if from == nil {
		return t.Parent == nil
	}
	for x := from; x != nil; x = x.Parent {
		if container(x) == container(t) {
			return true
		}
	}
	return false
}

func isAncestor(a, s *Step) bool {
	for x := s.Parent; x != nil; x = x.Parent {
		if x == a {
			return true
		}
	}
	return false
}

// lift returns the ancestor of s (or s) that is a sibling of t.
func lift(s, t *Step) *Step {
	x := s
	for x != nil && container(x) != container(t) {
		x = x.Parent
	}
	return x
}

// exprRef is one expression of a step with where it sits.
type exprRef struct {
	field string // e.g. "steps[1].with.title"
	arg   string // top-level argument name for with values, else the key
	e     *Expr
	// own is true for a step's own for_each, which is evaluated outside
	// the step's items.
	ownForEach bool
}

// stepExprs lists s's expressions.
func stepExprs(s *Step) []exprRef {
	var out []exprRef
	if s.ForEach != nil {
		out = append(out, exprRef{field: s.field + ".for_each", arg: "for_each", e: s.ForEach, ownForEach: true})
	}
	if s.If != nil {
		out = append(out, exprRef{field: s.field + ".if", arg: "if", e: s.If})
	}
	if s.With != nil {
		for _, k := range s.With.Keys {
			valueExprs(s.With.Object[k], s.field+".with."+k, func(field string, e *Expr) {
				out = append(out, exprRef{field: field, arg: k, e: e})
			})
		}
	}
	if s.IdempotencyKey != nil {
		out = append(out, exprRef{field: s.field + ".idempotency_key", arg: "idempotency_key", e: s.IdempotencyKey})
	}
	if s.Read != nil && s.Read.URI != nil && s.Read.URI.Kind == KindExpr {
		out = append(out, exprRef{field: s.field + ".read.uri", arg: "uri", e: s.Read.URI.Expr})
	}
	return out
}

func valueExprs(v *Value, field string, fn func(string, *Expr)) {
	if v == nil {
		return
	}
	switch v.Kind {
	case KindExpr:
		fn(field, v.Expr)
	case KindObject:
		for _, k := range v.Keys {
			valueExprs(v.Object[k], field+"."+k, fn)
		}
	case KindArray:
		for i, e := range v.Array {
			valueExprs(e, fmt.Sprintf("%s[%d]", field, i), fn)
		}
	}
}

// itemBound reports whether .item is bound for an expression of s.
func itemBound(s *Step, ownForEach bool) bool {
	x := s
	if ownForEach {
		x = s.Parent
	}
	for ; x != nil; x = x.Parent {
		if x.ForEach != nil {
			return true
		}
	}
	return false
}

func (v *validator) inputs() {
	for _, name := range sortedInputNames(v.f.Inputs) {
		in := v.f.Inputs[name]
		rs, err := argcheck.Resolve(in.Schema)
		if err != nil {
			v.add(in.Pos, "inputs."+name, "invalid JSON Schema: %v", err)
			continue
		}
		if err := rs.CheckDefaults(); err != nil {
			v.add(in.Pos, "inputs."+name, "invalid schema or default: %v", err)
			continue
		}
		s := rs.Resolved().Schema()
		types := s.Types
		if s.Type != "" {
			types = append(types, s.Type)
		}
		for _, ty := range types {
			if !contains(jsonTypes, ty) {
				v.add(in.Pos, "inputs."+name, "invalid schema: unknown type %q%s; JSON Schema types are %s", ty, didYouMean(ty, jsonTypes), strings.Join(jsonTypes, ", "))
			}
		}
	}
}

var jsonTypes = []string{"string", "number", "integer", "boolean", "object", "array", "null"}

func sortedInputNames(m map[string]*Input) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v *validator) step(s *Step) {
	for _, r := range stepExprs(s) {
		v.paths(s, r)
	}
	for i, id := range s.Needs {
		pos := s.FieldPos("needs")
		if i < len(s.needsNodes) {
			pos = s.needsNodes[i]
		}
		field := fmt.Sprintf("%s.needs[%d]", s.field, i)
		if t := v.target(s, id, pos, field, "needs"); t != nil {
			v.addDep(s, t, "needs it")
		}
	}
	switch {
	case s.OnError == "" || s.OnError == "fail" || s.OnError == "continue":
	case !identRE.MatchString(s.OnError):
		// The parser has reported it.
	default:
		v.target(s, s.OnError, s.ValuePos("on_error"), s.field+".on_error", "on_error")
	}
}

// target resolves a step id named by needs or on_error.
func (v *validator) target(s *Step, id string, pos Pos, field, what string) *Step {
	t, ok := v.byID[id]
	switch {
	case !ok:
		v.add(pos, field, "unknown step %q%s", id, didYouMean(id, v.ids))
	case t == s:
		v.add(pos, field, "step %q names itself in %s", id, what)
	case isAncestor(t, s):
		v.add(pos, field, "step %q is the group enclosing this step, which finishes only after it", id)
	case finallyTarget(s, t, what) != "":
		v.add(pos, field, "%s", finallyTarget(s, t, what))
	case !visible(s, t):
		v.add(pos, field, "step %q is inside group %q and private to it%s", id, t.Parent.ID, v.visibleHint(s, t))
	default:
		return t
	}
	return nil
}

// visibleHint suggests the enclosing group of t that s can see.
func (v *validator) visibleHint(s, t *Step) string {
	for x := t.Parent; x != nil; x = x.Parent {
		if visible(s, x) {
			return fmt.Sprintf("; depend on %q instead", x.ID)
		}
	}
	return ""
}

func (v *validator) addDep(s, t *Step, reason string) {
	x := lift(s, t)
	if x == nil || x == t {
		return
	}
	if x != s {
		reason = fmt.Sprintf("its step %q %s", s.ID, reason)
	}
	for _, d := range v.deps[x] {
		if d.on == t {
			return
		}
	}
	v.deps[x] = append(v.deps[x], dep{on: t, reason: reason})
}

// paths checks the scope paths one expression reads.
func (v *validator) paths(s *Step, r exprRef) {
	e := r.e
	for _, p := range e.Paths {
		switch p[0] {
		case "steps":
			id := p[1]
			t, ok := v.byID[id]
			switch {
			case !ok:
				v.add(e.Pos, r.field, "unknown step %q in .steps.%s%s", id, id, didYouMean(id, v.ids))
				continue
			case t == s:
				v.add(e.Pos, r.field, "step %q reads its own result (.steps.%s)", id, id)
				continue
			case s != nil && isAncestor(t, s):
				v.add(e.Pos, r.field, "reads .steps.%s, the group enclosing this step, which finishes only after it; read the step's own .item or a sibling step instead", id)
				continue
			case finallyTarget(s, t, "read") != "":
				v.add(e.Pos, r.field, "%s", finallyTarget(s, t, "read"))
				continue
			case !visible(s, t):
				if s == nil {
					v.add(e.Pos, r.field, "outputs may read top-level steps only; %q is inside group %q%s", id, t.Parent.ID, v.visibleHint(s, t))
				} else {
					v.add(e.Pos, r.field, "step %q is inside group %q and private to it%s", id, t.Parent.ID, v.visibleHint(s, t))
				}
				continue
			}
			if len(p) >= 3 {
				v.viewField(e, r, t, p)
			}
			if s != nil {
				v.addDep(s, t, fmt.Sprintf("reads .steps.%s in %s", id, shortField(r.field, s)))
			}
		case "inputs":
			if len(p) >= 2 {
				if _, ok := v.f.Inputs[p[1]]; !ok {
					v.add(e.Pos, r.field, "undeclared input %q%s; declare it under inputs:", p[1], didYouMean(p[1], sortedInputNames(v.f.Inputs)))
				}
			}
		case "item", "index":
			if s == nil || !itemBound(s, r.ownForEach) {
				v.add(e.Pos, r.field, ".%s is bound only inside a for_each step (or the group it drives)", p[0])
			}
		}
	}
}

// viewField checks a path .steps.<id>.<field>... against the fields the
// engine gives t (Step.ViewFields), and for .steps and .branches the name
// that follows.
func (v *validator) viewField(e *Expr, r exprRef, t *Step, p []string) {
	id, field := t.ID, p[2]
	fields := t.ViewFields()
	if !contains(fields, field) {
		if field == FieldItems {
			v.add(e.Pos, r.field, "step %q has no for_each, so no .items; read .steps.%s.result", id, id)
			return
		}
		hint := didYouMean(field, fields)
		if t.ForEach != nil && contains(t.ItemFields(), field) {
			hint = fmt.Sprintf("; each item has it: .steps.%s.items[].%s", id, field)
		}
		v.add(e.Pos, r.field, "unknown field %q in .steps.%s.%s%s; a %s step has %s", field, id, field, hint, t.StepKind(), strings.Join(fields, ", "))
		return
	}
	if len(p) < 4 {
		return
	}
	switch field {
	case FieldSteps:
		var ids []string
		for _, c := range t.Steps {
			ids = append(ids, c.ID)
		}
		if !contains(ids, p[3]) {
			v.add(e.Pos, r.field, "group %q has no step %q in .steps.%s.steps.%s%s; its steps are %s", id, p[3], id, p[3], didYouMean(p[3], ids), strings.Join(ids, ", "))
		}
	case FieldResult:
		if t.Uses != nil && t.Uses.Flow != nil && t.ForEach == nil {
			v.usesOutput(e, r, t, p[3])
		}
	case FieldBranches:
		if _, ok := t.Parallel[p[3]]; !ok {
			v.add(e.Pos, r.field, "parallel step %q has no branch %q in .steps.%s.branches.%s%s; its branches are %s", id, p[3], id, p[3], didYouMean(p[3], t.BranchOrder), strings.Join(t.BranchOrder, ", "))
		}
	}
}

// shortField strips the step's own address from a field path.
func shortField(field string, s *Step) string {
	return strings.TrimPrefix(field, s.field+".")
}

func (v *validator) outputs() {
	for _, name := range v.f.OutputOrder {
		valueExprs(v.f.Outputs[name], "outputs."+name, func(field string, e *Expr) {
			v.paths(nil, exprRef{field: field, arg: name, e: e})
		})
	}
}

// cycles reports each dependency cycle once, naming its steps in order.
func (v *validator) cycles() {
	const (
		white = iota
		grey
		black
	)
	color := map[*Step]int{}
	var stack []*Step
	reported := map[string]bool{}
	var visit func(s *Step)
	visit = func(s *Step) {
		color[s] = grey
		stack = append(stack, s)
		for _, d := range v.deps[s] {
			switch color[d.on] {
			case white:
				visit(d.on)
			case grey:
				// The cycle is the stack from d.on to s.
				start := 0
				for i, x := range stack {
					if x == d.on {
						start = i
					}
				}
				cyc := append([]*Step(nil), stack[start:]...)
				v.reportCycle(cyc, reported)
			}
		}
		stack = stack[:len(stack)-1]
		color[s] = black
	}
	for _, s := range v.all {
		if color[s] == white {
			visit(s)
		}
	}
}

func (v *validator) reportCycle(cyc []*Step, reported map[string]bool) {
	// Rotate so the cycle starts at the step written first.
	first := 0
	for i, s := range cyc {
		if stepBefore(s, cyc[first]) {
			first = i
		}
	}
	cyc = append(cyc[first:], cyc[:first]...)
	ids := make([]string, len(cyc))
	for i, s := range cyc {
		ids[i] = s.ID
	}
	key := strings.Join(ids, ">")
	if reported[key] {
		return
	}
	reported[key] = true
	var why []string
	for i, s := range cyc {
		next := cyc[(i+1)%len(cyc)]
		for _, d := range v.deps[s] {
			if d.on == next {
				why = append(why, fmt.Sprintf("%s %s", s.ID, d.reason))
				break
			}
		}
	}
	v.add(cyc[0].Pos, cyc[0].field, "dependency cycle: %s -> %s (%s)", strings.Join(ids, " -> "), ids[0], strings.Join(why, "; "))
}

func stepBefore(a, b *Step) bool {
	if a.Pos.Line != b.Pos.Line {
		return a.Pos.Line < b.Pos.Line
	}
	return a.Pos.Column < b.Pos.Column
}

func plural(word string, items []string) string {
	if len(items) == 1 {
		return word + " " + items[0]
	}
	return word + "s " + strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
