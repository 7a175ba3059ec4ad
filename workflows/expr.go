package workflows

import (
	"context"
	"errors"
	"time"
)

// Expression evaluation limits. Expressions are Turing-complete jq, so every
// evaluation runs under a deadline and a cap on the size of what it yields.
const (
	DefaultEvalTimeout = 100 * time.Millisecond
	// DefaultMaxOutputBytes caps the JSON-encoded size of one result.
	DefaultMaxOutputBytes = 4 << 20
)

// Eval runs e against scope and returns its single result. scope is the
// object {inputs, steps, item, index, run}; it is passed through Normalize,
// so values decoded by encoding/json (including json.Number) are accepted.
// An expression yielding no value returns nil; yielding more than one is an
// error (wrap it in [ ... ] to collect). Eval applies DefaultEvalTimeout
// unless ctx has an earlier deadline.
func Eval(ctx context.Context, e *Expr, scope any) (any, error) {
	return nil, errors.New("expression evaluation is not implemented yet")
}

// Normalize converts a JSON-shaped Go value into the types gojq works with:
// map[string]any, []any, string, bool, nil, int and float64. json.Number
// becomes int when integral and in range, else float64; other integer and
// float kinds are widened; typed maps and slices are converted recursively
// via a JSON round trip.
func Normalize(v any) any {
	return v
}
