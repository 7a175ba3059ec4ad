package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// FinallyRunning is RunRecord.Finally while a run's finally steps run.
const FinallyRunning = "running"

// RunTimeoutError is why a run whose time (the flow's timeout:, or what
// resume --extend gave it) passed was cancelled, or, with SubFlow set, why
// a run of a sub-flow whose own timeout: passed failed its uses step.
type RunTimeoutError struct {
	RunID   string
	Timeout time.Duration
	// SubFlow is the uses: path of the sub-flow that timed out; "" for
	// the run.
	SubFlow string
}

func (e *RunTimeoutError) Error() string {
	if e.SubFlow != "" {
		return fmt.Sprintf("sub-flow %s timed out after %s", e.SubFlow, flow.FormatDuration(e.Timeout))
	}
	return fmt.Sprintf("run %s timed out after %s", e.RunID, flow.FormatDuration(e.Timeout))
}

// ResumeNeedsTimeError refuses to resume a timed-out run without more
// time: it would time out again at once, or get an unbounded run.
type ResumeNeedsTimeError struct {
	RunID   string
	Timeout time.Duration
}

func (e *ResumeNeedsTimeError) Error() string {
	return fmt.Sprintf("run %s timed out after %s; give the resumed run time of its own: mediator resume %s --extend 10m (or as long as it needs)",
		e.RunID, flow.FormatDuration(e.Timeout), e.RunID)
}

// FinallyResult is how a flow's finally steps ended, reported beside the
// run's own status, never instead of it.
type FinallyResult struct {
	// Status is succeeded, failed or cancelled (StatusSucceeded, ...).
	Status string
	// Steps holds the final status of every top-level finally step by ID.
	Steps map[string]string
	// Err is why they failed or were cancelled.
	Err error
}

// runStatus is .run.status for an expression of s: the run's outcome in a
// finally step, RunRunning in the others.
func (e *engine) runStatus(fr *frame) string {
	for ; fr != nil; fr = fr.parent {
		if fr.outcome != "" {
			return fr.outcome
		}
	}
	return RunRunning
}

// withRunTimeout bounds ctx by e's time: the run's, or a sub-flow's own
// timeout: for each run of it. The cause of that cancellation is limit
// (nil without a timeout), and deadline is when it passes.
func (e *engine) withRunTimeout(ctx context.Context) (_ context.Context, _ context.CancelFunc, limit *RunTimeoutError, deadline time.Time) {
	if e.timeout <= 0 {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil, time.Time{}
	}
	limit = &RunTimeoutError{RunID: e.runID, Timeout: e.timeout}
	if e.uses != nil {
		limit.SubFlow = e.uses.step.Uses.Path
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stopTimer := e.rt.AfterFunc(ctx, nil, e.timeout, func() { cancel(limit) })
	return ctx, func() { stopTimer(); cancel(nil) }, limit, e.rt.Now(ctx).Add(e.timeout)
}

// runSteps runs e's steps in top within e's time and says how they ended:
// a Run* status and the error that decided it. It is where the outcome of
// the run, and of each run of a sub-flow, is decided; the outputs are the
// caller's to evaluate.
func (e *engine) runSteps(parent context.Context, top *frame) (status string, deadline time.Time, err error) {
	tctx, stop, limit, deadline := e.withRunTimeout(parent)
	defer stop()
	ctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)
	failure := e.runGroup(ctx, top, e.flow.Steps)
	if failure != nil {
		// Whichever ended the steps first, the failure or the timeout,
		// is now ctx's cause.
		cancel(failure)
	}
	stop()
	var be *ResumeBlockedError
	switch {
	case timedOut(ctx, limit, top, e.flow.Steps, failure != nil) && parent.Err() == nil:
		return RunTimedOut, deadline, limit
	case errors.As(failure, &be):
		return RunBlocked, deadline, failure
	case failure != nil:
		return RunFailed, deadline, failure
	case parent.Err() != nil:
		what := "run " + e.runID
		if e.uses != nil {
			what = "sub-flow " + e.uses.step.Uses.Path
		}
		return RunCancelled, deadline, fmt.Errorf("%s cancelled: %w", what, context.Cause(parent))
	}
	return RunSucceeded, deadline, nil
}

// timedOut reports whether limit ended the steps: it passed before a
// failure ended them (ctx's cause is the first), and cut some step short
// or failed one. One that passes as the last step ends does not count,
// nor does another timeout (an enclosing run's, or a sub-flow's whose
// step failed).
func timedOut(ctx context.Context, limit *RunTimeoutError, top *frame, steps []*flow.Step, failed bool) bool {
	if limit == nil || context.Cause(ctx) != error(limit) {
		return false
	}
	if failed {
		return true
	}
	for _, s := range steps {
		if r := top.results[s.ID]; r == nil || r.status == StatusCancelled {
			return true
		}
	}
	return false
}

// finallyContext is the context finally steps run under, detached from
// the cancellation of parent (what runs them: the run, or a sub-flow's
// uses step). After a timeout or a cancellation they get
// flow.FinallyTimeout of their own; after a success or failure, what is
// left of deadline (the run's or sub-flow's time), but at least that; and
// if parent is cancelled while they run, at most that from then on.
func (e *engine) finallyContext(parent context.Context, status string, deadline time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	least := e.rt.Now(ctx).Add(flow.FinallyTimeout)
	var until time.Time
	switch {
	case status == RunTimedOut || status == RunCancelled:
		until = least
	case !deadline.IsZero():
		until = deadline
		if least.After(until) {
			until = least
		}
	}
	stops := []func(){func() { cancel(nil) }}
	if !until.IsZero() {
		stops = append(stops, e.rt.AfterFunc(ctx, nil, until.Sub(e.rt.Now(ctx)), func() { cancel(context.DeadlineExceeded) }))
	}
	stops = append(stops, e.rt.AfterFunc(ctx, parent.Done(), flow.FinallyTimeout, func() {
		cancel(fmt.Errorf("finally steps still running %s after: %w", flow.FinallyTimeout, context.Cause(parent)))
	}))
	return ctx, func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}

// runFinally runs the flow's finally steps once the run's steps ended
// with status, as finallySteps does. The run record says so while they
// run, so that a resume after a crash in them knows the run's outcome and
// runs what they left undone (the journal has the calls they completed).
func (e *engine) runFinally(parent context.Context, top *frame, status string, deadline time.Time, rec *RunRecord) (*FinallyResult, error) {
	rec.Finally, rec.FinallyError = FinallyRunning, ""
	if e.journal != nil {
		rec.UpdatedAt = e.rt.Now(parent)
		if err := e.journal.UpdateRun(rec); err != nil {
			return nil, err
		}
	}
	fin := e.finallySteps(parent, top, status, deadline)
	rec.Finally = fin.Status
	if fin.Err != nil {
		rec.FinallyError = fin.Err.Error()
	}
	return fin, nil
}

// finallySteps runs e's finally steps once its steps ended with status
// (the run's, or a run of a sub-flow's), under finallyContext, in a frame
// under top (so they read every step's result) where .run.status is
// status, their paths top's then "finally/".
func (e *engine) finallySteps(parent context.Context, top *frame, status string, deadline time.Time) *FinallyResult {
	ctx, cancel := e.finallyContext(parent, status, deadline)
	defer cancel()
	fr := &frame{parent: top, path: top.childPath(strings.TrimSuffix(flow.FinallyPath, "/")), outcome: status, results: map[string]*stepResult{}}
	err := e.runGroup(ctx, fr, e.flow.Finally)
	fin := &FinallyResult{Status: StatusSucceeded, Steps: map[string]string{}}
	for _, s := range e.flow.Finally {
		r := fr.results[s.ID]
		if r == nil {
			continue
		}
		fin.Steps[s.ID] = r.status
		if r.status == StatusCancelled && fin.Status == StatusSucceeded {
			fin.Status, fin.Err = StatusCancelled, fmt.Errorf("finally cancelled: %w", context.Cause(ctx))
		}
	}
	if err != nil {
		fin.Status, fin.Err = StatusFailed, fmt.Errorf("finally failed: %w", err)
	}
	return fin
}

// finallyDone reports whether nothing of the run's finally steps is left
// to do: the flow has none, or they succeeded.
func (r *RunRecord) finallyDone() bool {
	return r.Finally == "" || r.Finally == StatusSucceeded
}
