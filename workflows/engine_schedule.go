package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// frame is one instance of a steps list: the top level, one item of a
// for_each group, one parallel branch, or a plain nested group. Expressions
// see the results of the frame's own steps and of every enclosing frame.
type frame struct {
	parent *frame
	// path is the runtime path prefix of the frame's steps: "" at top
	// level, "batch[3]" under an item, "par.branch" in a branch.
	path    string
	hasItem bool
	item    any
	index   int
	// inputs, on the top frame of a sub-flow's run, are its .inputs.
	inputs map[string]any
	// outcome is .run.status in the frame of the finally steps (and the
	// frames under it); "" elsewhere.
	outcome string

	mu      sync.Mutex
	results map[string]*stepResult
	// triggered holds the on_error handlers a failure in this frame or one
	// nested in it asked for.
	triggered map[string]bool
}

// trigger marks handler as wanted in this frame and every enclosing one;
// the handler runs in whichever of them holds it, and only there.
func (f *frame) trigger(handler string) {
	for fr := f; fr != nil; fr = fr.parent {
		fr.mu.Lock()
		if fr.triggered == nil {
			fr.triggered = map[string]bool{}
		}
		fr.triggered[handler] = true
		fr.mu.Unlock()
	}
}

func (f *frame) wasTriggered(handler string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.triggered[handler]
}

func (f *frame) childPath(id string) string {
	if f.path == "" {
		return id
	}
	return f.path + "/" + id
}

func (f *frame) set(id string, r *stepResult) {
	f.mu.Lock()
	f.results[id] = r
	f.mu.Unlock()
}

// lookup finds a step's result in this frame or an enclosing one.
func (f *frame) lookup(id string) *stepResult {
	for fr := f; fr != nil; fr = fr.parent {
		fr.mu.Lock()
		r, ok := fr.results[id]
		fr.mu.Unlock()
		if ok {
			return r
		}
	}
	return nil
}

// stepResult is a finished step as later expressions see it.
type stepResult struct {
	status string
	// view is .steps.<id>; nil when no expression references the step.
	view map[string]any
	// result is .steps.<id>.result, kept for a parent group's result even
	// when the view is not.
	result any
	err    error
	// reused is set when the result came from the journal (resume).
	reused bool
}

// runGroup runs a steps list: every step gets a task that first waits for
// the tasks of the steps it depends on, so independent steps run
// concurrently and the order follows the data. It returns the first
// failure no on_error absorbed; that failure also cancels the rest of the
// list, whose in-flight calls get MCP cancellation.
func (e *engine) runGroup(ctx context.Context, fr *frame, steps []*flow.Step) error {
	deps, err := groupDeps(steps)
	if err != nil {
		return fmt.Errorf("%s: %w", steps[0].Pos, err)
	}
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		firstErr error
	)
	failed := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel(err)
	}
	tasks := make(map[string]Task, len(steps))
	// Start tasks in dependency order so each one finds the tasks of its
	// dependencies already created.
	for _, s := range topoOrder(steps, deps) {
		waitFor := make([]Task, 0, len(deps[s.ID]))
		for _, d := range deps[s.ID] {
			waitFor = append(waitFor, tasks[d])
		}
		tasks[s.ID] = e.rt.Go(gctx, func(ctx context.Context) {
			for _, t := range waitFor {
				t.Wait(ctx)
			}
			if err := e.settle(ctx, fr, s); err != nil {
				failed(err)
			}
		})
	}
	for _, t := range tasks {
		t.Wait(ctx)
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// settle runs one step once its dependencies are done, deciding first
// whether it runs at all. It returns the step's failure when on_error does
// not absorb it.
func (e *engine) settle(ctx context.Context, fr *frame, s *flow.Step) error {
	path := fr.childPath(s.ID)
	if ctx.Err() != nil {
		e.finish(ctx, fr, s, path, &stepResult{status: StatusCancelled, err: context.Cause(ctx)})
		return nil
	}
	if e.handlers[s.ID] && !fr.wasTriggered(s.ID) {
		// A handler runs only when a step naming it in on_error failed.
		e.finish(ctx, fr, s, path, &stepResult{status: StatusSkipped})
		return nil
	}
	if s.ForEach == nil {
		e.emit(ctx, Event{Kind: EventStepStarted, Path: path, Step: s})
	}
	r := e.runStep(ctx, fr, s, path)
	e.finish(ctx, fr, s, path, r)
	if r.status != StatusFailed {
		return nil
	}
	switch s.OnError {
	case "", "fail":
		err := r.err
		if err == nil {
			err = errors.New("failed")
		}
		return &StepError{Path: path, Err: err}
	case "continue":
	default:
		// The handler's task waits on this step (or on the group holding
		// it) and runs once it sees the trigger.
		fr.trigger(s.OnError)
	}
	return nil
}

func (e *engine) finish(ctx context.Context, fr *frame, s *flow.Step, path string, r *stepResult) {
	if e.retained[s.ID] {
		r.view = fillView(r.view, e.viewFields(s), r)
	} else {
		r.view = nil
	}
	fr.set(s.ID, r)
	e.emit(ctx, Event{Kind: EventStepFinished, Path: path, Step: s, Status: r.status, Err: r.err, Reused: r.reused})
}

// StepError is a step failure that ended the run.
type StepError struct {
	Path string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s failed: %v", e.Path, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// groupDeps returns, for every step of a list, the IDs of its siblings it
// must wait for (flow.Dependencies), refusing a cycle, which would hang
// the run.
func groupDeps(steps []*flow.Step) (map[string][]string, error) {
	deps := flow.Dependencies(steps)
	state := map[string]int{}
	var visit func(id string, trail []string) error
	visit = func(id string, trail []string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("steps depend on each other in a cycle: %s -> %s", strings.Join(trail, " -> "), id)
		case 2:
			return nil
		}
		state[id] = 1
		for _, d := range deps[id] {
			if err := visit(d, append(trail, id)); err != nil {
				return err
			}
		}
		state[id] = 2
		return nil
	}
	for _, s := range steps {
		if err := visit(s.ID, nil); err != nil {
			return nil, err
		}
	}
	return deps, nil
}

// collectRefs appends the step IDs referenced by a value's expressions.
func collectRefs(v *flow.Value, refs *[]string) {
	if v == nil {
		return
	}
	switch v.Kind {
	case flow.KindExpr:
		if v.Expr != nil {
			*refs = append(*refs, v.Expr.References...)
		}
	case flow.KindObject:
		for _, c := range v.Object {
			collectRefs(c, refs)
		}
	case flow.KindArray:
		for _, c := range v.Array {
			collectRefs(c, refs)
		}
	}
}

func topoOrder(steps []*flow.Step, deps map[string][]string) []*flow.Step {
	byID := make(map[string]*flow.Step, len(steps))
	for _, s := range steps {
		byID[s.ID] = s
	}
	done := map[string]bool{}
	out := make([]*flow.Step, 0, len(steps))
	var visit func(s *flow.Step)
	visit = func(s *flow.Step) {
		if done[s.ID] {
			return
		}
		done[s.ID] = true
		for _, d := range deps[s.ID] {
			visit(byID[d])
		}
		out = append(out, s)
	}
	for _, s := range steps {
		visit(s)
	}
	return out
}

// runStep runs one step in fr and returns its result.
func (e *engine) runStep(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	if s.Server() != "" && !e.decides {
		// The data-flow policy first, when the runtime does not decide it
		// at the request: a refused call (or read) evaluates nothing, not
		// even its for_each or if.
		if err := e.checkFlow(s, path); err != nil {
			return e.failBeforeCall(ctx, s, path, "", "", err)
		}
	}
	if s.ForEach != nil {
		return e.runForEach(ctx, fr, s, path)
	}
	return e.runInstance(ctx, fr, s, path, false)
}

// runInstance runs a step once in fr (fr carries .item under for_each):
// the if condition, then the call, the nested group or the branches.
func (e *engine) runInstance(ctx context.Context, fr *frame, s *flow.Step, path string, perItem bool) *stepResult {
	if s.If != nil {
		scope := e.scope(fr, s.If.References)
		ok, err := e.evalBool(ctx, s.If, scope)
		if err != nil {
			return exprFailed(ctx, err)
		}
		if !ok {
			if s.Call != nil {
				e.planConditional(ctx, fr, s, path)
			}
			return &stepResult{status: StatusSkipped}
		}
	}
	switch {
	case s.Call != nil:
		return e.runCall(ctx, fr, s, path)
	case s.Read != nil:
		return e.runRead(ctx, fr, s, path)
	case s.Uses != nil:
		return e.runUses(ctx, fr, s, path)
	case len(s.Parallel) > 0:
		return e.runParallel(ctx, fr, s, path)
	default:
		child := &frame{parent: fr, path: path, hasItem: fr.hasItem, item: fr.item, index: fr.index, results: map[string]*stepResult{}}
		if perItem {
			// The item frame is already the group's own frame.
			child = fr
		}
		return e.groupResult(ctx, child, s.Steps)
	}
}

// groupResult runs a nested steps list and folds its results into one. The
// group failed when a child failure was not absorbed by the child's
// on_error; the group's own on_error then decides.
func (e *engine) groupResult(ctx context.Context, fr *frame, steps []*flow.Step) *stepResult {
	err := e.runGroup(ctx, fr, steps)
	results := map[string]any{}
	views := map[string]any{}
	cancelled := false
	for _, c := range steps {
		r := fr.results[c.ID]
		if r == nil {
			continue
		}
		results[c.ID] = r.result
		if r.view != nil {
			views[c.ID] = r.view
		} else {
			views[c.ID] = fillView(nil, e.viewFields(c), r)
		}
		if r.status == StatusCancelled {
			cancelled = true
		}
	}
	status := StatusSucceeded
	switch {
	case err != nil:
		status = StatusFailed
	case cancelled:
		status = StatusCancelled
		err = context.Cause(ctx)
	}
	view := map[string]any{flow.FieldStatus: status, flow.FieldResult: results, flow.FieldSteps: views, flow.FieldError: errorView(err, "")}
	return &stepResult{status: status, view: view, result: results, err: err}
}

// runParallel runs named branches concurrently; the step is done when all
// are.
func (e *engine) runParallel(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	order := s.BranchOrder
	if len(order) == 0 {
		for name := range s.Parallel {
			order = append(order, name)
		}
		slices.Sort(order)
	}
	type branchOut struct {
		name string
		r    *stepResult
	}
	outs := make([]branchOut, len(order))
	tasks := make([]Task, len(order))
	// A failed branch cancels the others: the step has failed already,
	// and its error is that branch's, the first to fail.
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu          sync.Mutex
		firstFailed = -1
	)
	for i, name := range order {
		bf := &frame{parent: fr, path: path + "." + name, hasItem: fr.hasItem, item: fr.item, index: fr.index, results: map[string]*stepResult{}}
		tasks[i] = e.rt.Go(pctx, func(ctx context.Context) {
			r := e.groupResult(ctx, bf, s.Parallel[name])
			outs[i] = branchOut{name: name, r: r}
			if r.status == StatusFailed {
				mu.Lock()
				if firstFailed < 0 {
					firstFailed = i
				}
				mu.Unlock()
				cancel(fmt.Errorf("branch %s failed", name))
			}
		})
	}
	for _, t := range tasks {
		t.Wait(ctx)
	}
	branches := map[string]any{}
	results := map[string]any{}
	status := StatusSucceeded
	var firstErr error
	for _, o := range outs {
		branches[o.name] = o.r.view
		results[o.name] = o.r.result
		if o.r.status == StatusCancelled && status == StatusSucceeded {
			status = StatusCancelled
			firstErr = o.r.err
		}
	}
	if firstFailed >= 0 {
		o := outs[firstFailed]
		status, firstErr = StatusFailed, fmt.Errorf("branch %s: %w", o.name, o.r.err)
	}
	view := map[string]any{flow.FieldStatus: status, flow.FieldResult: results, flow.FieldBranches: branches, flow.FieldError: errorView(firstErr, "")}
	return &stepResult{status: status, view: view, result: results, err: firstErr}
}

// runForEach runs a step once per element of its for_each list, at most
// max_concurrency at a time, keeping item results (in input order) only
// when some expression reads the step. A runtime that is an ItemsRunner
// may run the items in batches elsewhere (engine_batches.go).
func (e *engine) runForEach(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	scope := e.scope(fr, s.ForEach.References)
	v, err := flow.Eval(ctx, s.ForEach, scope)
	if err != nil {
		return exprFailed(ctx, &exprError{what: "for_each", err: err})
	}
	list, ok := v.([]any)
	if !ok {
		return &stepResult{status: StatusFailed, err: &exprError{what: "for_each",
			err: fmt.Errorf("%s: %s must yield an array, got %s", s.ForEach.Pos, s.ForEach, describe(v))}}
	}
	n := len(list)
	e.emit(ctx, Event{Kind: EventStepStarted, Path: path, Step: s, Total: n})
	size := e.batchSize(ctx, fr, s, list)
	if err := e.checkItems(ctx, s, path, list, size); err != nil {
		return &stepResult{status: StatusFailed, err: err}
	}

	agg := newItemsAgg(s, n, e.itemsNeeded[s.ID])
	itemCtx, cancelItems := context.WithCancelCause(ctx)
	defer cancelItems(nil)
	if size > 0 {
		e.runBatches(itemCtx, fr, s, path, list, size, agg, cancelItems)
	} else {
		e.runItems(itemCtx, fr, s, path, list, 0, agg, cancelItems)
	}
	return agg.result(s)
}

// itemsAgg gathers a for_each step's items as they finish.
type itemsAgg struct {
	n    int
	keep bool

	mu       sync.Mutex
	items    []any
	counts   map[string]int
	firstErr error
	// outcomes, when set (a batch run elsewhere: RunItems), receives
	// each item's outcome, at its index less offset.
	outcomes []ItemOutcome
	offset   int
}

func newItemsAgg(s *flow.Step, n int, keep bool) *itemsAgg {
	a := &itemsAgg{n: n, keep: keep, counts: map[string]int{StatusSucceeded: 0, StatusFailed: 0, StatusSkipped: 0, StatusCancelled: 0}}
	if keep {
		a.items = make([]any, n)
	}
	return a
}

// add records item i's result r (and its view iv, when kept) and reports
// whether the remaining items are to be cancelled (fail fast).
func (a *itemsAgg) add(s *flow.Step, i int, r *stepResult, iv map[string]any) (stop bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts[r.status]++
	if a.items != nil {
		a.items[i] = iv
	}
	if r.status == StatusFailed && a.firstErr == nil {
		a.firstErr = fmt.Errorf("item %d: %w", i, r.err)
	}
	if a.outcomes != nil {
		a.outcomes[i-a.offset] = itemOutcome(r, iv)
	}
	return r.status == StatusFailed && itemsStop(s, a.counts[StatusFailed], a.n)
}

// runItems runs the items of list (whose first is item offset of the
// step) with max_concurrency workers, recording each in agg; a failure
// that stops the step cancels the rest through cancelItems.
func (e *engine) runItems(itemCtx context.Context, fr *frame, s *flow.Step, path string, list []any, offset int, agg *itemsAgg, cancelItems context.CancelCauseFunc) {
	var (
		mu   sync.Mutex
		next int
	)
	n := len(list)
	workers := s.MaxConcurrency
	if workers <= 0 {
		workers = DefaultMaxConcurrency
	}
	workers = min(workers, n)

	work := func(ctx context.Context) {
		for {
			mu.Lock()
			j := next
			next++
			mu.Unlock()
			if j >= n {
				return
			}
			i := offset + j
			ipath := fmt.Sprintf("%s[%d]", path, i)
			var r *stepResult
			if ctx.Err() != nil {
				r = &stepResult{status: StatusCancelled, err: context.Cause(ctx)}
			} else {
				ifr := &frame{parent: fr, path: ipath, hasItem: true, item: list[j], index: i, results: map[string]*stepResult{}}
				r = e.runInstance(ctx, ifr, s, ipath, true)
			}
			var iv map[string]any
			if agg.keep {
				iv = itemView(s, list[j], i, r)
			}
			stop := agg.add(s, i, r, iv)
			e.emit(ctx, Event{Kind: EventItemFinished, Path: ipath, Step: s, Status: r.status, Err: r.err, Reused: r.reused})
			if stop {
				// Fail fast: the remaining items are cancelled, not run.
				cancelItems(fmt.Errorf("item %s failed", ipath))
			}
		}
	}
	tasks := make([]Task, workers)
	for w := range workers {
		tasks[w] = e.rt.Go(itemCtx, work)
	}
	for _, t := range tasks {
		t.Wait(itemCtx) // the waiting task is the step's; itemCtx carries it
	}
}

// result is the step's result once every item has finished.
func (a *itemsAgg) result(s *flow.Step) *stepResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	status := StatusSucceeded
	failure := forEachFailure(s, a.counts[StatusFailed], a.n, a.firstErr)
	switch {
	case failure != nil:
		status = StatusFailed
	case a.counts[StatusCancelled] > 0:
		status = StatusCancelled
	}
	view := map[string]any{flow.FieldStatus: status, flow.FieldCounts: countsView(a.n, a.counts), flow.FieldError: errorView(failure, "")}
	var result any
	if a.keep {
		view[flow.FieldItems] = a.items
		results := make([]any, a.n)
		for i, it := range a.items {
			if m, ok := it.(map[string]any); ok {
				results[i] = m[flow.FieldResult]
			}
		}
		view[flow.FieldResult] = results
		result = results
	}
	return &stepResult{status: status, view: view, result: result, err: failure}
}

// itemView is one element of .steps.<id>.items (Step.ItemFields).
func itemView(s *flow.Step, item any, index int, r *stepResult) map[string]any {
	v := make(map[string]any, len(r.view)+2)
	for k, x := range r.view {
		v[k] = x
	}
	v = fillView(v, s.InstanceViewFields(), r)
	v[flow.FieldItem] = item
	v[flow.FieldIndex] = index
	return v
}

// countsView is .steps.<id>.counts of a for_each step over total items.
func countsView(total int, counts map[string]int) map[string]any {
	v := map[string]any{"total": total}
	for _, st := range []string{StatusSucceeded, StatusFailed, StatusSkipped, StatusCancelled} {
		v[st] = counts[st]
	}
	return v
}

// forEachSummaryFields are what a for_each step's view keeps when no
// expression reads it item by item: items and result stay in the journal.
var forEachSummaryFields = []string{flow.FieldStatus, flow.FieldError, flow.FieldCounts}

// viewFields are the fields the engine keeps in s's view: s.ViewFields(),
// less items and result of a for_each step nothing reads item by item.
func (e *engine) viewFields(s *flow.Step) []string {
	if s.ForEach != nil && !e.itemsNeeded[s.ID] {
		return forEachSummaryFields
	}
	return s.ViewFields()
}

// fillView completes v, the view a step built while it ran (nil when it
// never ran: skipped, cancelled before it began, or its if failed), to
// exactly fields: what the step did not produce reads as empty, and status
// and error come from r.
func fillView(v map[string]any, fields []string, r *stepResult) map[string]any {
	if v == nil {
		v = make(map[string]any, len(fields))
	}
	for _, f := range fields {
		if _, ok := v[f]; ok {
			continue
		}
		switch f {
		case flow.FieldResult:
			v[f] = r.result
		case flow.FieldError:
			v[f] = errorView(r.err, "")
		case flow.FieldAttempts:
			v[f] = 0
		case flow.FieldCounts:
			v[f] = countsView(0, nil)
		case flow.FieldItems:
			v[f] = []any{}
		case flow.FieldSteps, flow.FieldBranches:
			v[f] = map[string]any{}
		default:
			v[f] = nil
		}
	}
	v[flow.FieldStatus] = r.status
	return v
}

// emptyView is the view of step id when it has no result in scope.
func (e *engine) emptyView(id, status string) map[string]any {
	r := &stepResult{status: status}
	if s, ok := e.byID[id]; ok {
		return fillView(nil, s.ViewFields(), r)
	}
	return fillView(nil, []string{flow.FieldStatus, flow.FieldResult, flow.FieldError}, r)
}
