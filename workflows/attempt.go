package workflows

import (
	"context"
	"encoding/json"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// attemptContext is the context of one attempt of step s (a call or a
// read): the server's progress reports reach the step's row. The step's
// timeout is the runtime's to apply (CallRequest.Timeout), so that a
// replay classifies the same way.
func (e *engine) attemptContext(ctx context.Context, s *flow.Step, path string) context.Context {
	return e.withProgress(ctx, s, path)
}

// endAttempt journals how the attempt rec ended: succeeded (err nil),
// cancelled (class ClassCancelled) or failed, err and its class, and the
// answer res when there is one. wait is RecordAttempt's: whether the record
// must be committed before the run moves on. It returns err, or the
// journal's error when the attempt succeeded.
func endAttempt[R any](ctx context.Context, e *engine, rec *AttemptRecord, res *R, err error, class string, wait bool) error {
	rec.FinishedAt = e.rt.Now(ctx)
	switch {
	case err == nil:
		rec.State = AttemptSucceeded
	case class == ClassCancelled:
		rec.State = AttemptCancelled
	default:
		rec.State = AttemptFailed
	}
	if err != nil {
		rec.Error, rec.ErrorClass = err.Error(), class
	}
	if e.journal == nil {
		return err
	}
	if res != nil {
		rec.Result, _ = json.Marshal(res)
	}
	if jerr := e.journal.RecordAttempt(rec, wait); jerr != nil && err == nil {
		return jerr
	}
	return err
}

// finished is the result of a step that succeeded or failed with view as
// its .steps.<id>.
func finished(status string, err error, view map[string]any) *stepResult {
	return &stepResult{status: status, err: err, view: view, result: view[flow.FieldResult]}
}
