package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Runnable returns the catalog's workflow of that name when it can run;
// otherwise an *Error with CodeNotFound or CodeWorkflowInvalid. It is the
// check every run manager makes before a submission.
func (c *Catalog) Runnable(name string) (*Workflow, error) {
	w := c.Get(name)
	if w == nil {
		var names []string
		if c != nil {
			names = c.names
		}
		return nil, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no workflow %q; workflows are: %s", name, strings.Join(names, ", "))}
	}
	if !w.Valid() {
		return nil, &Error{Code: CodeWorkflowInvalid, Message: fmt.Sprintf("workflow %s does not validate and cannot run; fix %s", name, w.Path), Details: w.Problems}
	}
	return w, nil
}

// NormalizeInputs returns a submission's inputs as JSON reads them (nil
// is none) and their digest, which tells a resubmission with the same
// Idempotency-Key and other inputs apart.
func NormalizeInputs(inputs map[string]any) (map[string]any, string) {
	if inputs == nil {
		inputs = map[string]any{}
	}
	given := flow.Normalize(inputs).(map[string]any)
	return given, workflows.ArgsDigest(given)
}

// CheckInputs checks given (NormalizeInputs') against w's inputs schema
// and returns them with the defaults filled in, as the run starts with
// them; every problem is in an *Error with CodeInvalidInputs, each
// masked by redact.
func CheckInputs(ctx context.Context, w *Workflow, given map[string]any, redact func(string) string) (map[string]any, error) {
	prepared, err := workflows.PrepareInputs(ctx, w.Flow, given)
	if err != nil {
		return nil, &Error{Code: CodeInvalidInputs, Message: fmt.Sprintf("the inputs of workflow %s are not valid", w.Name), Details: inputProblems(err, redact)}
	}
	return prepared, nil
}

// inputProblems splits PrepareInputs' error into its problems, redacted.
func inputProblems(err error, redact func(string) string) []string {
	var out []string
	if inner := errors.Unwrap(err); inner != nil {
		if j, ok := inner.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				out = append(out, redact(e.Error()))
			}
			return out
		}
	}
	return []string{redact(err.Error())}
}

// KeyHash is how an Idempotency-Key is kept: its hex SHA-256, never the
// key ("" for none).
func KeyHash(key string) string { return keyHash(key) }
