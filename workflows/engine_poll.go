package workflows

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// ClassPollTimeout is a call step whose until did not hold before its
// poll.max passed.
const ClassPollTimeout = "poll_timeout"

// EventPolling reports that a call step's until did not hold: Attempt is
// the attempt just made, Delay the wait before the next.
const EventPolling EventKind = "polling"

// pollWait is one call path's wait for its until: every attempt of the
// call is one poll, and the wait ends when the condition holds on a
// successful result or when the next attempt would start after start +
// poll.max.
type pollWait struct {
	e    *engine
	fr   *frame
	s    *flow.Step
	path string
	// start is when the wait began: its first journalled attempt, which
	// a resume finds in the journal, so a resumed wait keeps its bound.
	start time.Time
}

// newPollWait begins (or, on resume, continues) the wait of call step s
// at path.
func (e *engine) newPollWait(ctx context.Context, fr *frame, s *flow.Step, path string) (*pollWait, error) {
	w := &pollWait{e: e, fr: fr, s: s, path: path, start: e.rt.Now(ctx)}
	if e.resume != nil && e.journal != nil {
		t, ok, err := e.journal.waitStart(ctx, e.runID, path)
		if err != nil {
			return nil, err
		}
		if ok {
			w.start = t
		}
	}
	return w, nil
}

// holds evaluates the until on a successful result of the call, as the
// step's view of attempt sees it. An expression that fails (or yields no
// boolean) is an error of class expression.
func (w *pollWait) holds(ctx context.Context, res *mcp.CallToolResult, attempt int) (bool, error) {
	scope := w.e.scope(w.fr, nil)
	for k, v := range callView(StatusSucceeded, res, attempt, nil, "", true) {
		scope[k] = v
	}
	v, err := flow.Eval(ctx, w.s.Until, scope)
	if err != nil {
		return false, &exprError{what: "until", err: err}
	}
	b, ok := v.(bool)
	if !ok {
		return false, &exprError{what: "until", err: fmt.Errorf("%s: %s must yield a boolean (true when the wait is over), got %s", w.s.Until.Pos, w.s.Until, describe(v))}
	}
	return b, nil
}

// next decides what follows the successful attempt rec (whose answer is
// res): the step's result when the wait is over (the condition holds, it
// failed, or poll.max would pass before the next attempt), else the delay
// until the next attempt, every poll.every from the start of the last.
// A wait that times out turns rec into a failed attempt of class
// poll_timeout in the journal, which ends the wait there: a resume of
// the run begins a new one.
func (w *pollWait) next(ctx context.Context, res *mcp.CallToolResult, rec *AttemptRecord, keep, commit bool) (*stepResult, time.Duration) {
	attempt := rec.Attempt
	if d, dry := w.e.rt.(*DryRun); dry {
		// A dry run shows the first call of the wait and waits for
		// nothing: its results may be samples, which say nothing of
		// the condition.
		d.notePoll(w.path, w.s)
		return callSucceeded(res, attempt, keep), 0
	}
	ok, err := w.holds(ctx, res, attempt)
	switch {
	case err != nil && cutShort(err):
		return &stepResult{status: StatusCancelled, err: context.Cause(ctx), view: callView(StatusCancelled, res, attempt, err, ClassCancelled, keep)}, 0
	case err != nil:
		return callFailedClass(res, err, ClassExpression, attempt, keep), 0
	case ok:
		return callSucceeded(res, attempt, keep), 0
	}
	at := rec.StartedAt.Add(w.s.Poll.Every)
	if at.After(w.start.Add(w.s.Poll.Max)) {
		err := &CallError{Class: ClassPollTimeout, Err: w.timeout(ctx, res, attempt)}
		rec.State, rec.Error, rec.ErrorClass = AttemptFailed, err.Error(), ClassPollTimeout
		if w.e.journal != nil {
			if jerr := w.e.journal.RecordAttempt(rec, commit); jerr != nil {
				return callFailedClass(res, fmt.Errorf("%w (%v)", err, jerr), ClassPollTimeout, attempt, keep), 0
			}
		}
		return callFailedClass(res, err, ClassPollTimeout, attempt, keep), 0
	}
	delay := max(at.Sub(w.e.rt.Now(ctx)), 0)
	w.e.emit(ctx, Event{Kind: EventPolling, Path: w.path, Step: w.s, Attempt: attempt, Delay: delay})
	return nil, delay
}

// timeout says that the wait is over: the condition, for how long it was
// waited for, and what it read of the last result.
func (w *pollWait) timeout(ctx context.Context, res *mcp.CallToolResult, attempts int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s still false after %s (poll.max %s, %d attempt(s))", w.s.Until, w.e.rt.Now(ctx).Sub(w.start).Round(time.Millisecond), flow.FormatDuration(w.s.Poll.Max), attempts)
	view := callView(StatusSucceeded, res, attempts, nil, "", true)
	var read []string
	for _, p := range w.s.Until.Paths {
		v, ok := pathValue(view, p)
		if !ok {
			continue
		}
		read = append(read, "."+strings.Join(p, ".")+" = "+clip(compactJSON(v), 120))
		if len(read) == 3 {
			break
		}
	}
	if len(read) == 0 {
		read = append(read, ".result = "+clip(compactJSON(view[flow.FieldResult]), 120))
	}
	fmt.Fprintf(&b, "; the last result had %s", strings.Join(read, ", "))
	return fmt.Errorf("%s", b.String())
}

// PollingText describes an EventPolling for a progress line: "polling:
// attempt 3 not done, next in 10s".
func PollingText(ev Event) string {
	return fmt.Sprintf("polling: attempt %d not done, next in %s", ev.Attempt, ev.Delay.Round(time.Millisecond))
}

// pathValue reads a static path of an until's scope in the step's view.
func pathValue(view map[string]any, p []string) (any, bool) {
	var cur any = view
	for _, k := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// waitStart is when the wait of call path began: its earliest attempt
// after the last one that ended a wait by timing out. ok is false when
// the path has no such attempt.
func (j *Journal) waitStart(ctx context.Context, runID, path string) (time.Time, bool, error) {
	var started sql.NullInt64
	err := j.db.QueryRowContext(ctx, `SELECT MIN(started_at) FROM attempts WHERE run_id = ? AND path = ? AND attempt >
		COALESCE((SELECT MAX(attempt) FROM attempts WHERE run_id = ? AND path = ? AND error_class = ?), 0)`,
		runID, path, runID, path, ClassPollTimeout).Scan(&started)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the wait of %s from the run journal: %w", path, err)
	}
	if !started.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, started.Int64), true, nil
}

// notePoll marks the planned call at path as the first of a wait.
func (d *DryRun) notePoll(path string, s *flow.Step) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.plan) - 1; i >= 0; i-- {
		if d.plan[i].Path == path {
			d.plan[i].Until = fmt.Sprintf("%s, every %s for at most %s", s.Until, flow.FormatDuration(s.Poll.Every), flow.FormatDuration(s.Poll.Max))
			return
		}
	}
}

// pollResumed reports whether a resume reuses the journalled success res
// of a call with an until: only when the condition holds on it. One that
// does not (the run stopped mid-wait) continues the wait.
func (w *pollWait) resumed(ctx context.Context, res *mcp.CallToolResult, attempt int) bool {
	if res == nil {
		// Marked done by the operator: the wait is over.
		return true
	}
	ok, err := w.holds(ctx, res, attempt)
	return ok && err == nil
}
