package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// FinallyRunning is RunRecord.Finally while a run's finally steps run.
const FinallyRunning = "running"

// RunTimeoutError is why a run whose time (the flow's timeout:, or what
// resume --extend gave it) passed was cancelled.
type RunTimeoutError struct {
	RunID   string
	Timeout time.Duration
}

func (e *RunTimeoutError) Error() string {
	return fmt.Sprintf("run %s timed out after %s", e.RunID, e.Timeout)
}

// ResumeNeedsTimeError refuses to resume a timed-out run without more
// time: it would time out again at once, or get an unbounded run.
type ResumeNeedsTimeError struct {
	RunID   string
	Timeout time.Duration
}

func (e *ResumeNeedsTimeError) Error() string {
	return fmt.Sprintf("run %s timed out after %s; give the resumed run time of its own: mediator resume %s --extend 10m (or as long as it needs)",
		e.RunID, e.Timeout, e.RunID)
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

// withRunTimeout bounds ctx by the run's time budget, if any; the cause
// of the cancellation is then a *RunTimeoutError.
func (e *engine) withRunTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	e.deadline = e.rt.Now().Add(e.timeout)
	return context.WithTimeoutCause(ctx, e.timeout, &RunTimeoutError{RunID: e.runID, Timeout: e.timeout})
}

// timedOut reports whether the run's timeout ended its steps: it passed
// before a failure ended them (ctx's cause is the first), and cut some
// step short or failed one. One that passes as the last step ends does
// not count.
func timedOut(ctx context.Context, top *frame, steps []*flow.Step, failed bool) bool {
	var te *RunTimeoutError
	if !errors.As(context.Cause(ctx), &te) {
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

// finallyContext is the context finally steps run under. After a timeout
// or a cancellation they get flow.FinallyTimeout of their own; after a
// success or failure, what is left of the run's time, but at least that.
func (e *engine) finallyContext(parent context.Context, status string) (context.Context, context.CancelFunc) {
	switch {
	case status == RunTimedOut || status == RunCancelled:
		return context.WithTimeout(context.WithoutCancel(parent), flow.FinallyTimeout)
	case e.deadline.IsZero():
		return context.WithCancel(parent)
	}
	until := e.deadline
	if least := e.rt.Now().Add(flow.FinallyTimeout); least.After(until) {
		until = least
	}
	return context.WithDeadline(parent, until)
}

// runFinally runs the flow's finally steps once the run's steps ended
// with status, in a frame under top (so they read every step's result)
// where .run.status is status. The run record says so while they run, so
// that a resume after a crash in them knows the run's outcome and runs
// what they left undone (the journal has the calls they completed).
func (e *engine) runFinally(parent context.Context, top *frame, status string, rec *RunRecord) (*FinallyResult, error) {
	rec.Finally, rec.FinallyError = FinallyRunning, ""
	if e.journal != nil {
		rec.UpdatedAt = e.rt.Now()
		if err := e.journal.UpdateRun(rec); err != nil {
			return nil, err
		}
	}
	ctx, cancel := e.finallyContext(parent, status)
	defer cancel()
	fr := &frame{parent: top, path: "finally", outcome: status, results: map[string]*stepResult{}}
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
	rec.Finally = fin.Status
	if fin.Err != nil {
		rec.FinallyError = fin.Err.Error()
	}
	return fin, nil
}

// finallyDone reports whether nothing of the run's finally steps is left
// to do: the flow has none, or they succeeded.
func (r *RunRecord) finallyDone() bool {
	return r.Finally == "" || r.Finally == StatusSucceeded
}
