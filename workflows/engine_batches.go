package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// ItemsRunner is an optional Runtime that runs a large for_each step's
// items in batches elsewhere: under Temporal each batch is a child
// workflow with a history of its own, so a list far longer than one
// history holds still runs. The engine asks it for every for_each of a
// run without a journal (one in a sub-flow, a finally step or another
// for_each's items included), and runs the
// batches one after another; each batch runs with RunItems, and every
// item then ends as it would have in place: its status, error class,
// view, fail-fast and tolerate_failures across batches, and the on_error
// handlers it triggers.
type ItemsRunner interface {
	// ItemsBatchSize is how many items each batch of step s's items
	// holds (s at runtime path path); 0 runs them in place.
	ItemsBatchSize(ctx context.Context, s *flow.Step, path string, items []any) int
	// RunItems runs one batch with RunItems and returns its result. When
	// ctx ends it cancels the batch and still returns what the batch
	// returned; an error means the batch's items did not run and fail
	// with it, unless it wraps ErrRunInPlace: then the engine runs them
	// in place.
	RunItems(ctx context.Context, b ItemsBatch) (*ItemsResult, error)
}

// ErrRunInPlace is wrapped by an ItemsRunner's error for a batch it did
// not start and whose items the engine is to run in place (one it cannot
// carry elsewhere, such as an input too large to send).
var ErrRunInPlace = errors.New("the batch runs in place")

// ItemsBatch is one batch of a for_each step's items: everything RunItems
// needs besides the flow and the run's options.
type ItemsBatch struct {
	RunID string `json:"run_id"`
	// StepPath is the step's static path (Step.Path, in its flow) and
	// Path its runtime path ("each", "group/each", "sync.uses/each").
	StepPath string `json:"step_path"`
	Path     string `json:"path"`
	// Uses are the static paths of the uses steps whose sub-flows hold
	// the step, each in its flow, outermost first; empty for a step of the
	// run's own flow.
	Uses []string `json:"uses,omitempty"`
	// Outcome is .run.status for a step among finally steps (the
	// outcome they run after), empty elsewhere.
	Outcome string `json:"outcome,omitempty"`
	// From is the index of Items[0] among the step's Total items.
	From  int   `json:"from"`
	Items []any `json:"items"`
	Total int   `json:"total"`
	// FailedBefore is how many items of the earlier batches failed (for
	// fail-fast and tolerate_failures).
	FailedBefore int `json:"failed_before,omitempty"`
	// Outer are the results of the steps outside the for_each that its
	// expressions read, by step id, and Inputs the inputs (the run's, or
	// in a sub-flow the sub-flow run's, defaults filled in) that they
	// read: a list the for_each took from an input does not travel with
	// every batch.
	Outer  map[string]OuterResult `json:"outer,omitempty"`
	Inputs map[string]any         `json:"inputs,omitempty"`
}

// OuterResult is a finished step as a batch's expressions read it.
type OuterResult struct {
	Status string         `json:"status"`
	View   map[string]any `json:"view,omitempty"`
}

// ItemsResult is how a batch's items ended, in order, and the on_error
// handlers (step ids) their failures triggered.
type ItemsResult struct {
	Items     []ItemOutcome `json:"items"`
	Triggered []string      `json:"triggered,omitempty"`
}

// ItemOutcome is how one item ended: its status, its error's message and
// class, its view (.steps.<id>.items[i], when some expression reads the
// items) and whether its result came from the journal.
type ItemOutcome struct {
	Status string         `json:"status"`
	Error  string         `json:"error,omitempty"`
	Class  string         `json:"class,omitempty"`
	Item   map[string]any `json:"item,omitempty"`
	Reused bool           `json:"reused,omitempty"`
}

func itemOutcome(r *stepResult, iv map[string]any) ItemOutcome {
	o := ItemOutcome{Status: r.status, Item: iv, Reused: r.reused}
	if r.err != nil {
		o.Error, o.Class = r.err.Error(), ErrorClass(r.err)
	}
	return o
}

// batchError is an item's error as a batch returned it: its message, and
// its class for ErrorClass.
func batchError(o ItemOutcome) error {
	switch {
	case o.Error == "":
		return nil
	case o.Class == "":
		return errors.New(o.Error)
	}
	return &CallError{Class: o.Class, Err: errors.New(o.Error)}
}

// batchSize is the size of the batches s's items run in, 0 to run them
// in place.
func (e *engine) batchSize(ctx context.Context, fr *frame, s *flow.Step, items []any) int {
	br, ok := e.rt.(ItemsRunner)
	if !ok || e.journal != nil || e.resume != nil {
		return 0
	}
	size := br.ItemsBatchSize(ctx, s, fr.childPath(s.ID), items)
	if size <= 0 || size >= len(items) {
		return 0
	}
	return size
}

// usesChain is the static paths of the uses steps that run e's flow,
// outermost first (ItemsBatch.Uses); nil for the run's own engine.
func (e *engine) usesChain() []string {
	var chain []string
	for x := e; x.uses != nil; x = x.uses.parent {
		chain = append([]string{x.uses.step.Path}, chain...)
	}
	return chain
}

// outcomeAt is .run.status in fr when fr is among finally steps, else "".
func (fr *frame) outcomeAt() string {
	for x := fr; x != nil; x = x.parent {
		if x.outcome != "" {
			return x.outcome
		}
	}
	return ""
}

// stepAt is fl's step (any, finally steps and nested ones included) at
// static path path that match accepts.
func stepAt(fl *flow.Flow, path string, match func(*flow.Step) bool) *flow.Step {
	for _, x := range fl.AllSteps() {
		if x.Path == path && match(x) {
			return x
		}
	}
	return nil
}

// runBatches runs the items of list in batches of size through the
// runtime's ItemsRunner, one batch after another, recording each item in
// agg as runItems does.
func (e *engine) runBatches(itemCtx context.Context, fr *frame, s *flow.Step, path string, list []any, size int, agg *itemsAgg, cancelItems context.CancelCauseFunc) {
	br := e.rt.(ItemsRunner)
	outer, inputs := e.outerScope(fr, s)
	for lo := 0; lo < len(list); lo += size {
		hi := min(len(list), lo+size)
		var (
			res *ItemsResult
			err error
		)
		if itemCtx.Err() == nil {
			agg.mu.Lock()
			failed := agg.counts[StatusFailed]
			agg.mu.Unlock()
			res, err = br.RunItems(itemCtx, ItemsBatch{RunID: e.runID, StepPath: s.Path, Path: path, Uses: e.usesChain(), Outcome: fr.outcomeAt(), From: lo, Items: list[lo:hi],
				Total: len(list), FailedBefore: failed, Outer: outer, Inputs: inputs})
			if errors.Is(err, ErrRunInPlace) {
				e.runItems(itemCtx, fr, s, path, list[lo:hi], lo, agg, cancelItems)
				continue
			}
			if err == nil && (res == nil || len(res.Items) != hi-lo) {
				err = fmt.Errorf("the batch returned no outcome for some of its %d items", hi-lo)
			}
		}
		if res != nil {
			for _, h := range res.Triggered {
				fr.trigger(h)
			}
		}
		for i := lo; i < hi; i++ {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			var (
				r  *stepResult
				iv map[string]any
			)
			switch {
			case itemCtx.Err() != nil && (res == nil || err != nil || res.Items[i-lo].Status == StatusCancelled):
				r = &stepResult{status: StatusCancelled, err: context.Cause(itemCtx)}
			case err != nil:
				r = &stepResult{status: StatusFailed, err: fmt.Errorf("items %d to %d: %w", lo, hi-1, err)}
			default:
				o := res.Items[i-lo]
				r = &stepResult{status: o.Status, err: batchError(o), reused: o.Reused}
				iv = o.Item
			}
			if agg.keep && iv == nil {
				iv = itemView(s, list[i], i, r)
			}
			stop := agg.add(s, i, r, iv)
			e.emit(itemCtx, Event{Kind: EventItemFinished, Path: ipath, Step: s, Status: r.status, Err: r.err, Reused: r.reused})
			if stop {
				cancelItems(fmt.Errorf("item %s failed", ipath))
			}
		}
	}
}

// outerScope is what the expressions of s's items (s's own but its
// list, and its nested steps') read from outside s, as seen from fr: the
// results of the steps outside it, and the inputs in scope (the run's,
// or in a sub-flow its run's).
func (e *engine) outerScope(fr *frame, s *flow.Step) (map[string]OuterResult, map[string]any) {
	var (
		refs      []string
		inputs    = map[string]any{}
		allInputs bool
	)
	expr := func(x *flow.Expr) {
		if x == nil {
			return
		}
		refs = append(refs, x.References...)
		for _, p := range x.Paths {
			switch {
			case len(p) == 0 || p[0] == "inputs" && len(p) == 1:
				allInputs = true
			case p[0] == "inputs":
				if v, ok := e.inputsAt(fr)[p[1]]; ok {
					inputs[p[1]] = v
				}
			}
		}
	}
	var value func(v *flow.Value)
	value = func(v *flow.Value) {
		if v == nil {
			return
		}
		expr(v.Expr)
		for _, c := range v.Object {
			value(c)
		}
		for _, c := range v.Array {
			value(c)
		}
	}
	var walk func(x *flow.Step, own bool)
	walk = func(x *flow.Step, own bool) {
		if !own {
			expr(x.ForEach)
		}
		for _, y := range []*flow.Expr{x.If, x.IdempotencyKey, x.Until} {
			expr(y)
		}
		value(x.With)
		if x.Read != nil {
			value(x.Read.URI)
		}
		for _, c := range x.Steps {
			walk(c, false)
		}
		for _, b := range x.Parallel {
			for _, c := range b {
				walk(c, false)
			}
		}
	}
	walk(s, true)
	if allInputs {
		inputs = e.inputsAt(fr)
	}
	slices.Sort(refs)
	out := map[string]OuterResult{}
	for _, id := range slices.Compact(refs) {
		if r := fr.lookup(id); r != nil {
			out[id] = OuterResult{Status: r.status, View: r.view}
		}
	}
	return out, inputs
}

// RunItems runs one batch of a for_each step of fl, as the engine of the
// run that sent it (ItemsRunner) would have run those items in place:
// opts are the run's (its Runtime the one this batch runs on; Inputs
// unused: the batch carries the inputs its items read), b the batch. The
// error is for a batch that could not run (a step not in fl).
func RunItems(ctx context.Context, fl *flow.Flow, b ItemsBatch, opts RunOptions) (*ItemsResult, error) {
	if opts.Runtime == nil {
		return nil, errors.New("run items: no runtime given")
	}
	opts.Journal, opts.Inputs = nil, nil
	inputs := b.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	e, err := newEngine(fl, opts, inputs)
	if err != nil {
		return nil, err
	}
	e.runID = b.RunID
	// The engine of the sub-flow holding the step, made as the run made
	// it, through the same uses steps.
	for _, up := range b.Uses {
		us := stepAt(e.flow, up, func(x *flow.Step) bool { return x.Uses != nil && x.Uses.Flow != nil })
		if us == nil {
			return nil, fmt.Errorf("run items: flow %s has no uses step %s", e.flow.Name, up)
		}
		if e, err = e.subEngine(us); err != nil {
			return nil, err
		}
	}
	s := stepAt(e.flow, b.StepPath, func(x *flow.Step) bool { return x.ForEach != nil })
	if s == nil {
		return nil, fmt.Errorf("run items: flow %s has no for_each step %s", e.flow.Name, b.StepPath)
	}
	top := &frame{results: map[string]*stepResult{}, outcome: b.Outcome}
	if len(b.Uses) > 0 {
		// A sub-flow's .inputs are its run's, on its top frame.
		top.inputs = inputs
	}
	for id, o := range b.Outer {
		top.results[id] = &stepResult{status: o.Status, view: o.View}
	}
	fr := &frame{parent: top, results: map[string]*stepResult{}}
	agg := &itemsAgg{n: b.Total, keep: e.itemsNeeded[s.ID], outcomes: make([]ItemOutcome, len(b.Items)), offset: b.From,
		counts: map[string]int{StatusSucceeded: 0, StatusFailed: b.FailedBefore, StatusSkipped: 0, StatusCancelled: 0}}
	itemCtx, cancelItems := context.WithCancelCause(ctx)
	defer cancelItems(nil)
	if len(b.Items) > 0 {
		e.runItems(itemCtx, fr, s, b.Path, b.Items, b.From, agg, cancelItems)
	}
	res := &ItemsResult{Items: agg.outcomes}
	for h := range top.triggered {
		res.Triggered = append(res.Triggered, h)
	}
	slices.Sort(res.Triggered)
	return res, nil
}
