package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/itchyny/gojq"

	"github.com/mediatorhq/mediator/internal/problem"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// Expression evaluation limits. Expressions are Turing-complete jq, so every
// evaluation runs under a budget of jq VM steps and a cap on the size of
// what it yields. The budget counts instructions, not wall-clock time: the
// same expression over the same data always succeeds or always fails,
// however loaded the machine, which a replayed (Temporal) run needs. It
// cannot interrupt a single huge builtin such as `"x" * 1e9`, but
// expressions come from the flow's author, never from tool results (there
// is no textual templating). The caller's ctx still cancels.
const (
	// DefaultEvalSteps is about 0.1–1 s of jq; a selection over 10,000
	// items takes around 200,000.
	DefaultEvalSteps = 10_000_000
	// DefaultMaxOutputBytes caps the JSON-encoded size of one result.
	DefaultMaxOutputBytes = 4 << 20
)

// ErrEvalBudget is returned (wrapped) by Eval when an expression runs out
// of DefaultEvalSteps. It is deterministic: evaluating again fails again.
var ErrEvalBudget = errors.New("expression exceeded its evaluation budget")

// stepBudget is a context that gojq's VM consults (Done) once per
// instruction: after n instructions it reports itself done. It is used by
// one evaluation on one goroutine only.
type stepBudget struct {
	context.Context
	left int
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (b *stepBudget) Done() <-chan struct{} {
	b.left--
	if b.left < 0 {
		return closedChan
	}
	return b.Context.Done()
}

func (b *stepBudget) Err() error {
	if b.left < 0 {
		return ErrEvalBudget
	}
	return b.Context.Err()
}

// ScopeKeys are the only top-level names an expression's input has:
// `.inputs`, `.steps`, `.item`, `.index`, `.run`.
var scopeKeys = []string{"inputs", "steps", "item", "index", "run"}

// runKeys are the fields of .run (RunFieldID, RunFieldName,
// RunFieldStatus).
var runKeys = []string{RunFieldID, RunFieldName, RunFieldStatus}

// The fields of .run, which the engine fills.
const (
	RunFieldID   = "id"
	RunFieldName = "name"
	// RunFieldStatus is the run's outcome so far: "running" in its steps,
	// and succeeded, failed, cancelled or timed_out in its finally steps.
	RunFieldStatus = "status"
)

func prefixAll(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

// bannedFuncs make a run depend on something other than its inputs and tool
// results (time, the environment, the process, stdin), or write outside the
// data path. The same expressions run inside replayed workflow code, so they
// must be deterministic.
var bannedFuncs = map[string]string{
	"now":               "the clock",
	"localtime":         "the machine's time zone",
	"strflocaltime":     "the machine's time zone",
	"input":             "stdin",
	"inputs":            "stdin",
	"input_filename":    "the process",
	"input_line_number": "the process",
	"env":               "the environment",
	"$ENV":              "the environment",
	"debug":             "stderr",
	"stderr":            "stderr",
	"halt":              "the process",
	"halt_error":        "the process",
	"get_search_list":   "the file system",
	"get_prog_origin":   "the file system",
	"get_jq_origin":     "the file system",
	"$__prog_args":      "the process",
}

// CompileExpr compiles the jq source of one expression (the text between
// `${` and `}`) outside any file. Positions in the result are relative to
// the source. The error, if any, is Problems.
func CompileExpr(source string) (*Expr, error) {
	start := Pos{Line: 1, Column: 1}
	e, probs := compileExpr(source, start, start, "")
	if len(probs) > 0 {
		return nil, probs
	}
	return e, nil
}

// compileExpr parses, checks and compiles src. pos is where the value
// (its `${`) is written, srcPos where src itself starts; syntax errors point
// into src, every other problem at the value.
func compileExpr(src string, pos, srcPos Pos, field string) (*Expr, Problems) {
	return compileExprRoots(src, pos, srcPos, field, nil)
}

// compileExprRoots is compileExpr for an expression whose scope also has
// the keys roots.
func compileExprRoots(src string, pos, srcPos Pos, field string, roots []string) (*Expr, Problems) {
	fail := func(p Pos, format string, args ...any) Problems {
		return Problems{{Pos: p, Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	if strings.TrimSpace(src) == "" {
		return nil, fail(pos, "empty expression ${ }; write a jq expression, e.g. ${ .inputs.name }")
	}
	q, err := gojq.Parse(src)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			return nil, fail(offsetPos(srcPos, src, pe.Offset-len(pe.Token)), "jq syntax error: %v", err)
		}
		return nil, fail(pos, "jq syntax error: %v", err)
	}
	if len(q.Imports) > 0 || q.Meta != nil {
		return nil, fail(pos, "jq modules (import/include) are not allowed in flow expressions")
	}
	a := &analyzer{pos: pos, field: field, roots: roots}
	a.query(q, absValue{root: true}, nil)
	if v := a.result; v.root {
		a.escape()
	}
	// Banned builtins first: gojq leaves some undefined (debug, stderr)
	// and would call them unknown rather than forbidden. Then compile
	// errors, which may explain the analyser's other complaints.
	if len(a.banned) > 0 {
		return nil, a.banned
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fail(pos, "jq: %v", err)
	}
	if len(a.problems) > 0 {
		problem.Sort(a.problems)
		return nil, a.problems
	}
	e := &Expr{Source: strings.TrimSpace(src), Pos: pos, code: code, query: q}
	refs := map[string]bool{}
	for _, p := range a.paths {
		if len(p) >= 2 && p[0] == "steps" {
			refs[p[1]] = true
		}
	}
	for id := range refs {
		e.References = append(e.References, id)
	}
	sort.Strings(e.References)
	e.Paths = dedupePaths(a.paths)
	return e, nil
}

// offsetPos moves pos by a byte offset into src, counting lines and runes.
func offsetPos(pos Pos, src string, off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(src) {
		off = len(src)
	}
	for _, r := range src[:off] {
		if r == '\n' {
			pos.Line++
			pos.Column = 1
			continue
		}
		pos.Column++
	}
	return pos
}

func dedupePaths(ps [][]string) [][]string {
	seen := map[string]bool{}
	var out [][]string
	for _, p := range ps {
		k := strings.Join(p, "\x00")
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.Join(out[i], "\x00") < strings.Join(out[j], "\x00")
	})
	return out
}

// SimplePath returns the path of an expression that is nothing but a chain
// of constant keys from the scope, such as .steps.forecast.result.location
// (["steps","forecast","result","location"]); otherwise nil. Such an
// expression moves one field unchanged, so its type can be checked against
// the upstream tool's outputSchema.
func (e *Expr) SimplePath() []string {
	if e == nil || e.query == nil {
		return nil
	}
	q := e.query
	if q.Term == nil || q.Left != nil || q.Right != nil || len(q.FuncDefs) > 0 {
		return nil
	}
	t := q.Term
	if t.Type != gojq.TermTypeIndex {
		return nil
	}
	var path []string
	key, ok := staticKey(t.Index)
	if !ok {
		return nil
	}
	path = append(path, key)
	for _, s := range t.SuffixList {
		if s.Index == nil || s.Optional || s.Iter {
			return nil
		}
		key, ok := staticKey(s.Index)
		if !ok {
			return nil
		}
		path = append(path, key)
	}
	return path
}

// staticKey is the constant key of an index like .name or ."name" or
// .["name"].
func staticKey(x *gojq.Index) (string, bool) {
	switch {
	case x == nil || x.IsSlice:
		return "", false
	case x.Name != "":
		return x.Name, true
	case x.Str != nil && len(x.Str.Queries) == 0:
		return x.Str.Str, true
	case x.Start != nil && x.End == nil:
		if t := x.Start.Term; t != nil && x.Start.Left == nil && t.Type == gojq.TermTypeString &&
			t.Str != nil && len(t.Str.Queries) == 0 && len(t.SuffixList) == 0 {
			return t.Str.Str, true
		}
	}
	return "", false
}

// absValue abstracts what a jq value may be made of: the whole scope (root)
// and/or data read at the listed static paths.
type absValue struct {
	root bool
}

// analyzer walks a jq AST once, rejecting banned builtins and collecting the
// static scope paths an expression reads. The abstract value tracks only one
// thing: whether a value may still be the whole scope object. The scope may
// only be narrowed by constant keys (.steps.<id>, .inputs, .item, ...);
// anything else that consumes it (`.`, `..`, keys, .steps[$x]) would read
// steps the validator cannot see, which would defeat dependency inference
// and the data-flow policy.
type analyzer struct {
	pos      Pos
	field    string
	paths    [][]string
	problems Problems
	banned   Problems
	result   absValue
	escaped  bool
	// roots are scope keys beyond scopeKeys that this expression may
	// read (an until's view of its own call, untilRoots).
	roots []string
}

func (a *analyzer) add(format string, args ...any) {
	a.problems = append(a.problems, Problem{Pos: a.pos, Field: a.field, Message: fmt.Sprintf(format, args...)})
}

func (a *analyzer) ban(format string, args ...any) {
	a.banned = append(a.banned, Problem{Pos: a.pos, Field: a.field, Message: fmt.Sprintf(format, args...)})
}

func (a *analyzer) escape() {
	if a.escaped {
		return
	}
	a.escaped = true
	a.add("expression reads the whole scope; read named parts of it instead: .inputs, .steps.<id>, .item, .index or .run (dependencies and data flows are derived from those names)")
}

// use marks v as consumed by an operation other than constant indexing.
func (a *analyzer) use(v absValue) {
	if v.root {
		a.escape()
	}
}

type absEnv struct {
	vars  map[string]absValue
	funcs map[string]bool // user-defined "name/arity"
	outer *absEnv
}

func (e *absEnv) lookupVar(name string) (absValue, bool) {
	for ; e != nil; e = e.outer {
		if v, ok := e.vars[name]; ok {
			return v, true
		}
	}
	return absValue{}, false
}

func (e *absEnv) lookupFunc(key string) bool {
	for ; e != nil; e = e.outer {
		if e.funcs[key] {
			return true
		}
	}
	return false
}

func (e *absEnv) child() *absEnv {
	return &absEnv{vars: map[string]absValue{}, funcs: map[string]bool{}, outer: e}
}

// query analyses q applied to input in; the result is left in a.result.
func (a *analyzer) query(q *gojq.Query, in absValue, env *absEnv) absValue {
	if q == nil {
		a.result = absValue{}
		return a.result
	}
	if len(q.FuncDefs) > 0 {
		env = env.child()
		for _, fd := range q.FuncDefs {
			env.funcs[fd.Name+"/"+strconv.Itoa(len(fd.Args))] = true
			body := env.child()
			for _, arg := range fd.Args {
				if strings.HasPrefix(arg, "$") {
					body.vars[arg] = absValue{}
				} else {
					body.funcs[arg+"/0"] = true
				}
			}
			// A function body sees only its input, its arguments and
			// outer variables, so analysing it on a non-scope input is
			// enough: a call on the scope itself is caught at the call.
			a.use(a.query(fd.Body, absValue{}, body))
		}
	}
	var out absValue
	switch {
	case q.Term != nil:
		out = a.term(q.Term, in, env)
	case q.Op == gojq.OpPipe && len(q.Patterns) > 0:
		// E as $x | body: body runs on the original input.
		v := a.query(q.Left, in, env)
		a.use(v)
		body := env.child()
		for _, p := range q.Patterns {
			a.pattern(p, body, in, env)
		}
		out = a.query(q.Right, in, body)
	case q.Op == gojq.OpPipe:
		out = a.query(q.Right, a.query(q.Left, in, env), env)
	case q.Left != nil || q.Right != nil:
		l := a.query(q.Left, in, env)
		r := a.query(q.Right, in, env)
		switch q.Op {
		case gojq.OpComma, gojq.OpAlt:
			// Values pass through unchanged; only a later consumer decides
			// whether the scope escaped.
			out = absValue{root: l.root || r.root}
		default:
			a.use(l)
			a.use(r)
			if q.Op >= gojq.OpAssign && in.root {
				// Assignment operators rebuild their input.
				a.escape()
			}
		}
	}
	a.result = out
	return out
}

// pattern binds the variables of a destructuring pattern.
func (a *analyzer) pattern(p *gojq.Pattern, env *absEnv, in absValue, outer *absEnv) {
	if p == nil {
		return
	}
	if p.Name != "" {
		env.vars[p.Name] = absValue{}
	}
	for _, e := range p.Array {
		a.pattern(e, env, in, outer)
	}
	for _, o := range p.Object {
		if o.Key != "" {
			env.vars[o.Key] = absValue{}
		}
		if o.KeyString != nil {
			a.str(o.KeyString, in, outer)
		}
		if o.KeyQuery != nil {
			a.use(a.query(o.KeyQuery, in, outer))
		}
		a.pattern(o.Val, env, in, outer)
	}
}

func (a *analyzer) str(s *gojq.String, in absValue, env *absEnv) {
	if s == nil {
		return
	}
	for _, q := range s.Queries {
		a.use(a.query(q, in, env))
	}
}

// inputFree builtins never pass their input on; their arguments are
// analysed like any other query.
var inputFree = map[string]bool{
	"empty/0": true, "range/1": true, "range/2": true, "range/3": true,
	"first/1": true, "last/1": true, "limit/2": true, "nth/2": true,
	"isempty/1": true, "error/1": true, "all/2": true, "any/2": true,
	"add/1": true, "null/0": true, "infinite/0": true, "nan/0": true,
	"builtins/0": true, "$__loc__/0": true, "not/0": false,
}

func (a *analyzer) term(t *gojq.Term, in absValue, env *absEnv) absValue {
	var v absValue
	suffixes := t.SuffixList
	switch t.Type {
	case gojq.TermTypeIdentity:
		v = in
	case gojq.TermTypeRecurse:
		a.use(in)
	case gojq.TermTypeIndex:
		v, suffixes = a.index(in, t.Index, t.SuffixList, env)
	case gojq.TermTypeFunc:
		v = a.call(t.Func, in, env)
	case gojq.TermTypeObject:
		for _, kv := range t.Object.KeyVals {
			if kv.KeyQuery != nil {
				a.use(a.query(kv.KeyQuery, in, env))
			}
			a.str(kv.KeyString, in, env)
			if kv.Val != nil {
				a.use(a.query(kv.Val, in, env))
				continue
			}
			// {name} is {name: .name}, {$x} is {x: $x}.
			switch {
			case strings.HasPrefix(kv.Key, "$"):
				a.call(&gojq.Func{Name: kv.Key}, in, env)
			case kv.Key != "":
				a.use(a.indexKey(in, kv.Key))
			case kv.KeyString != nil:
				if len(kv.KeyString.Queries) == 0 {
					a.use(a.indexKey(in, kv.KeyString.Str))
				} else {
					a.use(in)
				}
			}
		}
	case gojq.TermTypeArray:
		if t.Array.Query != nil {
			a.use(a.query(t.Array.Query, in, env))
		}
	case gojq.TermTypeUnary:
		a.use(a.term(t.Unary.Term, in, env))
	case gojq.TermTypeFormat:
		if t.Str != nil {
			a.str(t.Str, in, env)
		} else {
			a.use(in)
		}
	case gojq.TermTypeString:
		a.str(t.Str, in, env)
	case gojq.TermTypeIf:
		a.use(a.query(t.If.Cond, in, env))
		r := a.query(t.If.Then, in, env)
		for _, el := range t.If.Elif {
			a.use(a.query(el.Cond, in, env))
			r.root = a.query(el.Then, in, env).root || r.root
		}
		if t.If.Else != nil {
			r.root = a.query(t.If.Else, in, env).root || r.root
		} else {
			r.root = r.root || in.root
		}
		v = r
	case gojq.TermTypeTry:
		v = a.query(t.Try.Body, in, env)
		if t.Try.Catch != nil {
			v.root = a.query(t.Try.Catch, absValue{}, env).root || v.root
		}
	case gojq.TermTypeReduce:
		v = a.fold(t.Reduce.Query, t.Reduce.Patterns, t.Reduce.Start, t.Reduce.Update, nil, in, env)
	case gojq.TermTypeForeach:
		v = a.fold(t.Foreach.Query, t.Foreach.Patterns, t.Foreach.Start, t.Foreach.Update, t.Foreach.Extract, in, env)
	case gojq.TermTypeLabel:
		v = a.query(t.Label.Body, in, env)
	case gojq.TermTypeQuery:
		v = a.query(t.Query, in, env)
	}
	for _, s := range suffixes {
		v = a.suffix(v, s, in, env)
	}
	return v
}

func (a *analyzer) fold(src *gojq.Query, pats []*gojq.Pattern, start, update, extract *gojq.Query, in absValue, env *absEnv) absValue {
	a.use(a.query(src, in, env))
	body := env.child()
	for _, p := range pats {
		a.pattern(p, body, in, env)
	}
	acc := a.query(start, in, env)
	a.use(acc)
	a.use(a.query(update, absValue{}, body))
	if extract != nil {
		a.use(a.query(extract, absValue{}, body))
	}
	return absValue{}
}

// index applies the first index of a TermTypeIndex term and as many
// constant suffixes as follow it, recording the static path read from the
// scope. It returns the remaining suffixes.
func (a *analyzer) index(in absValue, x *gojq.Index, suffixes []*gojq.Suffix, env *absEnv) (absValue, []*gojq.Suffix) {
	if !in.root {
		a.indexArgs(x, in, env)
		return in, suffixes
	}
	key, ok := staticKey(x)
	if !ok {
		a.indexArgs(x, in, env)
		a.escape()
		return absValue{}, suffixes
	}
	path := []string{key}
	rest := suffixes
	for len(rest) > 0 {
		s := rest[0]
		if s.Index == nil {
			break
		}
		k, ok := staticKey(s.Index)
		if !ok {
			break
		}
		path = append(path, k)
		rest = rest[1:]
	}
	a.record(path)
	return absValue{}, rest
}

// indexKey is .key applied to in.
func (a *analyzer) indexKey(in absValue, key string) absValue {
	if in.root {
		a.record([]string{key})
	}
	return absValue{}
}

func (a *analyzer) indexArgs(x *gojq.Index, in absValue, env *absEnv) {
	if x == nil {
		return
	}
	a.str(x.Str, in, env)
	if x.Start != nil {
		a.use(a.query(x.Start, in, env))
	}
	if x.End != nil {
		a.use(a.query(x.End, in, env))
	}
}

func (a *analyzer) suffix(v absValue, s *gojq.Suffix, in absValue, env *absEnv) absValue {
	switch {
	case s.Index != nil:
		if v.root {
			if k, ok := staticKey(s.Index); ok {
				return a.indexKey(v, k)
			}
			a.escape()
		}
		a.indexArgs(s.Index, in, env)
		return absValue{}
	case s.Iter:
		a.use(v)
		return absValue{}
	}
	return v
}

// record notes a static path read from the scope and checks its root.
func (a *analyzer) record(path []string) {
	if a.roots != nil && path[0] == "steps" {
		a.add(".steps is not in scope here: the scope is %s; a condition on another step belongs in that step's if", untilScopeText)
		return
	}
	switch path[0] {
	case "steps":
		if len(path) < 2 {
			a.add(".steps needs a step id: .steps.<id>")
			return
		}
	case "run":
		// The engine fills only these; anything else would be null at run
		// time, a typo nobody would notice.
		if len(path) >= 2 && !slices.Contains(runKeys, path[1]) {
			a.add(".run.%s does not exist%s; .run has %s", path[1], didYouMean(path[1], runKeys), strings.Join(prefixAll(".run.", runKeys), " and "))
			return
		}
	case "inputs", "item", "index":
	default:
		if slices.Contains(a.roots, path[0]) {
			break
		}
		if a.roots != nil {
			a.add(".%s is not in scope%s; the scope is %s", path[0], didYouMean(path[0], append(append([]string(nil), a.roots...), scopeKeys...)), untilScopeText)
			return
		}
		a.add(".%s is not in scope%s; the scope is .inputs, .steps.<id>, .item, .index and .run", path[0], didYouMean(path[0], scopeKeys))
		return
	}
	a.paths = append(a.paths, path)
}

func (a *analyzer) call(f *gojq.Func, in absValue, env *absEnv) absValue {
	key := f.Name + "/" + strconv.Itoa(len(f.Args))
	if strings.HasPrefix(f.Name, "$") {
		if why, bad := bannedFuncs[f.Name]; bad {
			a.ban("%s is not allowed in flow expressions: it reads %s, and a run's data must depend only on its inputs and tool results", f.Name, why)
			return absValue{}
		}
		v, _ := env.lookupVar(f.Name)
		return v
	}
	userDefined := env.lookupFunc(key)
	if why, bad := bannedFuncs[f.Name]; bad && !userDefined {
		a.ban("%s is not allowed in flow expressions: it reads %s, and a run's data must depend only on its inputs and tool results", f.Name, why)
		return absValue{}
	}
	for _, arg := range f.Args {
		// Closure arguments run on the same input as the call.
		a.use(a.query(arg, in, env))
	}
	if userDefined && len(f.Args) == 0 && !strings.Contains(key, "$") {
		// A closure parameter (or zero-arity def) applied to the scope.
		a.use(in)
		return absValue{}
	}
	if !inputFree[key] {
		a.use(in)
	}
	return absValue{}
}

// Eval runs e against scope and returns its single result. scope is the
// object {inputs, steps, item, index, run} and must hold only the types gojq
// works with (see Normalize); callers normalise each tool result once when
// it is stored rather than the whole scope per evaluation. An expression
// yielding no value returns nil; yielding more than one is an error (wrap it
// in [ ... ] to collect). Eval fails with ErrEvalBudget after
// DefaultEvalSteps jq steps, and when the result's JSON encoding would
// exceed DefaultMaxOutputBytes.
func Eval(ctx context.Context, e *Expr, scope any) (any, error) {
	return evalSteps(ctx, e, scope, DefaultEvalSteps)
}

func evalSteps(ctx context.Context, e *Expr, scope any, steps int) (any, error) {
	if e == nil || e.code == nil {
		return nil, errors.New("evaluate expression: not compiled (build Exprs with Parse or CompileExpr)")
	}
	budget := &stepBudget{Context: ctx, left: steps}
	iter := e.code.RunWithContext(budget, scope)
	first, ok := iter.Next()
	if !ok {
		return nil, nil
	}
	if err := evalError(e, first, steps); err != nil {
		return nil, err
	}
	if second, ok := iter.Next(); ok {
		if err := evalError(e, second, steps); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %s yields more than one value; wrap it in [ ... ] to collect them", e.Pos, e)
	}
	if n := jsonSize(first, DefaultMaxOutputBytes); n > DefaultMaxOutputBytes {
		return nil, fmt.Errorf("%s: %s yields more than %d bytes of JSON", e.Pos, e, DefaultMaxOutputBytes)
	}
	return first, nil
}

func evalError(e *Expr, v any, steps int) error {
	err, ok := v.(error)
	if !ok {
		return nil
	}
	if errors.Is(err, ErrEvalBudget) {
		return fmt.Errorf("%s: %s did not finish within %d jq steps: %w", e.Pos, e, steps, err)
	}
	return fmt.Errorf("%s: %s: %w", e.Pos, e, err)
}

// EvalValue evaluates every expression in v and returns the plain JSON
// value (map[string]any, []any, scalars). A nil v yields nil.
func EvalValue(ctx context.Context, v *Value, scope any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch v.Kind {
	case KindExpr:
		return Eval(ctx, v.Expr, scope)
	case KindObject:
		m := make(map[string]any, len(v.Object))
		for _, k := range v.Keys {
			x, err := EvalValue(ctx, v.Object[k], scope)
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		return m, nil
	case KindArray:
		s := make([]any, len(v.Array))
		for i, e := range v.Array {
			x, err := EvalValue(ctx, e, scope)
			if err != nil {
				return nil, err
			}
			s[i] = x
		}
		return s, nil
	}
	return v.Literal, nil
}

// jsonSize estimates the JSON-encoded size of v, stopping once it passes
// limit so that a huge value costs no more than the limit to measure.
func jsonSize(v any, limit int) int {
	n := 0
	var walk func(any)
	walk = func(v any) {
		if n > limit {
			return
		}
		switch v := v.(type) {
		case nil:
			n += 4
		case bool:
			n += 5
		case string:
			n += len(v) + 2
		case int:
			n += 20
		case float64:
			n += 24
		case *big.Int:
			n += len(v.String())
		case []any:
			n += 2
			for _, e := range v {
				walk(e)
				n++
			}
		case map[string]any:
			n += 2
			for k, e := range v {
				n += len(k) + 4
				walk(e)
			}
		default:
			n += 16
		}
	}
	walk(v)
	return n
}

// Normalize converts a JSON-shaped Go value into the types gojq works with:
// map[string]any, []any, string, bool, nil, int, float64 and *big.Int.
// json.Number becomes int when it is an integer that fits, *big.Int when it
// is a larger integer, else float64; other integer and float kinds are
// widened; typed maps, slices and structs go through a JSON round trip.
// Values already in gojq's types are returned without copying, so
// normalising a decoded tool result once is cheap.
func Normalize(v any) any {
	out, _ := normalize(v)
	return out
}

// normalize returns the normalised value and whether it differs from v.
func normalize(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, string, int, *big.Int:
		return v, false
	case float64:
		return x, false
	case json.Number:
		return normalizeNumber(string(x)), true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			n, changed := normalize(e)
			if changed && out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			if out != nil {
				out[k] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range x {
			n, changed := normalize(e)
			if changed && out == nil {
				out = make([]any, len(x))
				copy(out, x)
			}
			if out != nil {
				out[i] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return normalizeNumber(fmt.Sprint(x)), true
	case float32:
		return float64(x), true
	case json.RawMessage:
		return decodeJSON(x), true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Not JSON-shaped: gojq will report its type if it is ever read.
		return v, false
	}
	return decodeJSON(b), true
}

func decodeJSON(b []byte) any {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil
	}
	n, _ := normalize(out)
	return n
}

func normalizeNumber(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && i >= math.MinInt && i <= math.MaxInt {
		return int(i)
	}
	if b, ok := new(big.Int).SetString(s, 10); ok {
		return b
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return f
}

// didYouMean suggests the closest of known to s, formatted as a clause to
// append to a message ("; did you mean \"x\"?"), or "" when nothing is close.
func didYouMean(s string, known []string) string {
	if best := suggest.Stem(s, known); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
