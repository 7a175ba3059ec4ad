package workflows

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// ErrOutcomeUnknown is wrapped by the error of an attempt that ended
// without anyone knowing whether the server acted: under Temporal, the
// worker making the call was lost mid-call. A Resolver holds such a call
// for a decision when the retry rule does not let the flow send it again.
var ErrOutcomeUnknown = errors.New("whether the call took effect is unknown")

// ErrNotSent is wrapped by the error of an attempt that failed before
// anything reached the server (under Temporal, no worker took the call
// from its queue): the step's declared retry applies to it whatever the
// tool does, as it does to a tool lookup.
var ErrNotSent = errors.New("the call was not sent")

// Resolve actions, as `mediator resume --rerun` and `--mark-done`.
const (
	ResolveRerun    = "rerun"
	ResolveMarkDone = "mark-done"
)

// EventBlocked reports a call waiting on a Resolver's decision (Path,
// Step, Attempt, Err: why its outcome is unknown); EventResolved, the
// decision taken (Status: ResolveRerun or ResolveMarkDone).
const (
	EventBlocked  EventKind = "blocked"
	EventResolved EventKind = "resolved"
)

// Resolver is a Runtime that can hold a call for an operator's decision
// instead of failing its step: a call whose attempt ended with
// ErrOutcomeUnknown and that the retry rule does not let the flow send
// again (neither read-only nor idempotent, no idempotency_key, no
// retry_unsafe), as a local run killed mid-call blocks its resume until
// `--rerun` or `--mark-done` settles the call. The local runtime is not
// one: its process is the one that dies.
type Resolver interface {
	// AwaitResolution waits until call is decided, and returns
	// ResolveRerun (send it again) or ResolveMarkDone (it took effect: the
	// step succeeds with a null result). names are what may designate the
	// call (its path, its step's path, its step's id), as --rerun and
	// --mark-done match them. When ctx ends first it returns ctx's error.
	AwaitResolution(ctx context.Context, call BlockedCall, names []string) (string, error)
}

// awaitResolution holds the call at path, whose attempt failed with err
// of unknown outcome, for r's decision. It returns nil to send the call
// again, or the step's result: marked done, cancelled, or failed with err
// when r could not wait.
func (e *engine) awaitResolution(ctx context.Context, r Resolver, s *flow.Step, path string, attempt int, digest string, err error, keep bool) *stepResult {
	call := BlockedCall{Path: path, Server: s.Call.Server, Tool: s.Call.Tool, State: AttemptStarted, Attempt: attempt}
	e.emit(ctx, Event{Kind: EventBlocked, Path: path, Step: s, Attempt: attempt, Err: err})
	action, werr := r.AwaitResolution(ctx, call, []string{path, e.staticPath(s), s.ID})
	if werr != nil {
		if ctx.Err() != nil {
			return &stepResult{status: StatusCancelled, err: context.Cause(ctx), view: callView(StatusCancelled, nil, attempt, err, ClassCancelled, keep)}
		}
		return callFailedClass(nil, fmt.Errorf("%w (not sent again, and no decision can be waited for: %v)", err, werr), classify(ctx, err), attempt, keep)
	}
	e.emit(ctx, Event{Kind: EventResolved, Path: path, Step: s, Attempt: attempt, Status: action})
	if action == ResolveRerun {
		return nil
	}
	if e.journal != nil {
		now := e.rt.Now(ctx)
		rec := &AttemptRecord{RunID: e.runID, Path: path, Attempt: attempt + 1, Step: e.staticPath(s), Server: s.Call.Server, Tool: s.Call.Tool,
			State: AttemptMarkedDone, ArgsDigest: digest, StartedAt: now, FinishedAt: now}
		if jerr := e.journal.RecordAttempt(rec, true); jerr != nil {
			return callFailed(jerr, attempt)
		}
	}
	r2 := callSucceeded(nil, attempt+1, keep)
	r2.reused = true
	return r2
}
