package argcheck

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrUncheckable is the cause of every error saying that a value cannot be
// checked against a schema within bounds: a $ref cycle that never reaches
// into the value (the check would never end), alternatives nested so that
// checking one value would take exponential work, or a value that would
// take such a schema past the work budget.
var ErrUncheckable = errors.New("cannot be checked safely")

// Budget is the work one check may do, in units of about a byte handled
// (a few nanoseconds): each schema applied to a value costs a fixed amount
// plus what its keywords do with the value (compare, hash, measure, match,
// print it in a failure message), and a failure message costs again at
// every level that wraps it. The bound is an upper one: it assumes every
// keyword is applied and fails. Ordinary tool arguments take thousands of
// units, a megabyte of text against a union of five object schemas about
// forty million; at the budget jsonschema-go runs for a fraction of a
// second at worst.
const Budget = 50_000_000

// maxNesting bounds how deeply schemas may apply within one another
// (in place or to ever deeper parts of the value).
const maxNesting = 1000

// visitCost is the fixed part of applying one schema to one value.
const visitCost = 64

// UncheckableError explains why a value cannot be checked safely.
type UncheckableError struct {
	Reason string
}

func (e *UncheckableError) Error() string { return e.Reason }
func (e *UncheckableError) Unwrap() error { return ErrUncheckable }

func uncheckable(format string, args ...any) error {
	return &UncheckableError{Reason: fmt.Sprintf(format, args...)}
}

// vet rejects what no value could be checked against safely: a cycle of
// in-place edges reachable from the root (jsonschema-go would recurse until
// the stack overflows, which kills the process), and a schema whose
// in-place alternatives alone exceed the budget for any value.
func (g *graph) vet() error {
	// What the root can reach.
	reach := map[*node]bool{g.root: true}
	todo := []*node{g.root}
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		visit := func(c *node) {
			if c != nil && !reach[c] {
				reach[c] = true
				todo = append(todo, c)
			}
		}
		for _, c := range n.inPlace {
			visit(c)
		}
		for _, c := range n.props {
			visit(c)
		}
		for _, c := range n.prefix {
			visit(c)
		}
		for _, c := range n.each {
			visit(c)
		}
		for _, c := range n.keys {
			visit(c)
		}
	}
	if err := g.inPlaceCycle(reach); err != nil {
		return err
	}
	// With the cycles gone, the in-place work of every reachable schema on
	// a scalar value is finite; it must also fit the budget.
	b := newBounder(context.Background(), nil)
	for _, n := range g.all {
		if !reach[n] {
			continue
		}
		switch _, err := b.cost(n, 0); err {
		case nil:
		case errOverBudget:
			return uncheckable("%s expands into more checks of a single value than the work budget allows (alternatives nested within alternatives: anyOf, oneOf, allOf, $ref)", pointerName(n.ptr))
		case errTooDeep:
			return uncheckable("%s applies schemas within one another more than %d deep", pointerName(n.ptr), maxNesting)
		default:
			return err
		}
	}
	return nil
}

// inPlaceCycle finds a cycle of in-place edges among the reachable nodes
// and describes it, or returns nil.
func (g *graph) inPlaceCycle(reach map[*node]bool) error {
	const (
		white = iota
		grey
		black
	)
	color := map[*node]int{}
	type frame struct {
		n    *node
		next int
	}
	for _, start := range g.all {
		if !reach[start] || color[start] != white {
			continue
		}
		stack := []frame{{n: start}}
		color[start] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(f.n.inPlace) {
				color[f.n] = black
				stack = stack[:len(stack)-1]
				continue
			}
			c := f.n.inPlace[f.next]
			f.next++
			switch color[c] {
			case white:
				color[c] = grey
				stack = append(stack, frame{n: c})
			case grey:
				var path []string
				for i := range stack {
					if stack[i].n == c || len(path) > 0 {
						path = append(path, pointerName(stack[i].n.ptr))
					}
				}
				path = append(path, pointerName(c.ptr))
				return uncheckable("$ref cycle %s never reaches into the value, so checking it would never end", strings.Join(path, " → "))
			}
		}
	}
	return nil
}

// loc is one location in the checked value: the value itself, an item, a
// member value, or a member name (which propertyNames checks).
type loc struct {
	size  uint64           // the size of the value, as printed
	str   bool             // a string
	names uint64           // the size of its member names
	kids  []int32          // item or member values
	named map[string]int32 // member values by name, for properties
	keys  []int32          // member names, as string values
}

// bounder computes an upper bound of the work jsonschema-go does to check
// a value, stopping as soon as the bound passes the budget or ctx ends.
// The bound is computed over (schema, location) pairs, each once, so the
// bounder itself does work proportional to the budget at most, however
// exponential the validator's own walk would be.
type bounder struct {
	ctx   context.Context
	locs  []loc
	memo  map[memoKey]work
	steps uint64
	depth int
	err   error
}

type memoKey struct {
	n *node
	l int32
}

// work is what applying a schema to a location costs: all is every
// keyword applied on the way, msg the size of the failure message at
// most. The message matters because each enclosing application copies
// it to add its own location, and anyOf reports the failure of every
// alternative, so nested anyOfs multiply it.
type work struct{ all, msg uint64 }

// newBounder indexes v's locations; location 0 is v itself. A nil v (JSON
// null) is a scalar.
func newBounder(ctx context.Context, v any) *bounder {
	b := &bounder{ctx: ctx, memo: map[memoKey]work{}}
	b.index(reflect.ValueOf(v))
	return b
}

// index adds the location of v and its parts, as jsonschema-go walks them
// (through pointers and interfaces, into slices and string-keyed maps).
func (b *bounder) index(v reflect.Value) int32 {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		v = v.Elem()
	}
	id := int32(len(b.locs))
	b.locs = append(b.locs, loc{})
	var l loc
	switch {
	case !v.IsValid():
		l.size = 4
	case v.Kind() == reflect.String:
		l.size, l.str = uint64(v.Len())+2, true
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		l.size = 2
		for i := range v.Len() {
			k := b.index(v.Index(i))
			l.kids = append(l.kids, k)
			l.size += b.locs[k].size + 1
		}
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
		l.size = 2
		l.named = make(map[string]int32, v.Len())
		it := v.MapRange()
		for it.Next() {
			name := it.Key().String()
			k := b.index(it.Value())
			l.kids = append(l.kids, k)
			l.named[name] = k
			l.names += uint64(len(name))
			kl := int32(len(b.locs))
			b.locs = append(b.locs, loc{size: uint64(len(name)) + 2})
			l.keys = append(l.keys, kl)
			l.size += b.locs[k].size + uint64(len(name)) + 4
		}
	default:
		l.size = 24
	}
	b.locs[id] = l
	return id
}

// errOverBudget and errTooDeep stop the bounder; its callers say what
// they mean for the schema or the value.
var (
	errOverBudget = errors.New("over the work budget")
	errTooDeep    = errors.New("nested too deeply")
)

// check returns an *UncheckableError if checking the indexed value
// against n could take more work than the budget, and ctx's error if ctx
// ends first.
func (b *bounder) check(n *node) error {
	switch _, err := b.cost(n, 0); err {
	case nil:
		return nil
	case errOverBudget:
		return uncheckable("checking this value would take more work than the budget allows (the schema applies alternatives to it too many times)")
	case errTooDeep:
		return uncheckable("checking this value would apply schemas within one another more than %d deep", maxNesting)
	default:
		return err
	}
}

func (b *bounder) cost(n *node, l int32) (work, error) {
	if b.err != nil {
		return work{}, b.err
	}
	key := memoKey{n, l}
	if w, ok := b.memo[key]; ok {
		return w, nil
	}
	if b.depth >= maxNesting {
		b.err = errTooDeep
		return work{}, b.err
	}
	b.depth++
	defer func() { b.depth-- }()
	at := &b.locs[l]
	w := work{all: visitWeight(n, at), msg: messageWeight(n, at)}
	var (
		err     error
		longest uint64 // the longest message of a child whose failure is passed on alone
	)
	add := func(c *node, cl int32, sum bool) {
		if err != nil || c == nil {
			return
		}
		// Every edge taken is at least one application the validator
		// makes, which costs visitCost at least: so steps past
		// Budget/visitCost mean the bound is past the budget too.
		b.steps++
		if b.steps > Budget/visitCost {
			err = errOverBudget
			return
		}
		if b.steps%1024 == 0 && b.ctx != nil {
			if cerr := b.ctx.Err(); cerr != nil {
				err = cerr
				return
			}
		}
		cw, cerr := b.cost(c, cl)
		if cerr != nil {
			err = cerr
			return
		}
		w.all += cw.all
		if sum {
			w.msg += cw.msg
		} else {
			longest = max(longest, cw.msg)
		}
		if w.all > Budget || w.msg > Budget {
			err = errOverBudget
		}
	}
	for i, c := range n.inPlace {
		add(c, l, i < n.nAnyOf)
	}
	if at.named != nil {
		for name, c := range n.props {
			if cl, ok := at.named[name]; ok {
				add(c, cl, false)
			}
		}
	}
	for i, c := range n.prefix {
		if i < len(at.kids) && at.named == nil {
			add(c, at.kids[i], false)
		}
	}
	for _, c := range n.each {
		for _, cl := range at.kids {
			add(c, cl, false)
		}
	}
	for _, c := range n.keys {
		for _, cl := range at.keys {
			add(c, cl, false)
		}
	}
	if err != nil {
		b.err = err
		return work{}, err
	}
	// Copying the message into this level's own is work too.
	w.msg += longest
	w.all += w.msg
	if w.all > Budget {
		b.err = errOverBudget
		return work{}, b.err
	}
	b.memo[key] = w
	return w, nil
}

// messageWeight is the size of the failure message n's own keywords may
// write about the value at: its location, the value itself and n's enum
// or const.
func messageWeight(n *node, at *loc) uint64 {
	w := visitCost + uint64(len(n.ptr)) + n.cost.own
	if n.cost.value || at.str && n.cost.str > 0 {
		w += at.size
	}
	return w
}

// visitWeight is the cost of applying n's own keywords to the value at:
// the fixed part, its location (which a failure prints), the value where
// n compares, hashes or prints it, strings where n measures or matches
// them, and one unit per member or item iterated.
func visitWeight(n *node, at *loc) uint64 {
	c := &n.cost
	w := visitCost + uint64(len(n.ptr)) + c.own + uint64(len(at.kids))
	if c.value {
		w += at.size
	}
	if at.str {
		w += at.size * c.str
	}
	return w + at.names*c.memberName
}
