package workflows

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// attemptContext is the context of one attempt of step s (a call or a
// read): the step's timeout, when it has one, is the attempt's whole bound
// (the connector would otherwise end it at the server's timeout, when
// shorter), and the server's progress reports reach the step's row.
func (e *engine) attemptContext(ctx context.Context, s *flow.Step, path string, timeout time.Duration) (context.Context, context.CancelFunc) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		actx, cancel = context.WithTimeout(connectors.WithCallTimeout(ctx, timeout), timeout)
	}
	return e.withProgress(actx, s, path), cancel
}

// endAttempt journals how the attempt rec ended: succeeded (err nil),
// cancelled (class ClassCancelled) or failed, err and its class, and the
// answer res when there is one. wait is RecordAttempt's: whether the record
// must be committed before the run moves on. It returns err, or the
// journal's error when the attempt succeeded.
func endAttempt[R any](e *engine, rec *AttemptRecord, res *R, err error, class string, wait bool) error {
	rec.FinishedAt = e.rt.Now()
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
