package workflows

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Error classes of a failed attempt. The first five are the ones a retry
// policy may list (the RetryOn* constants); the rest are never retried.
const (
	ClassTransport     = flow.RetryOnTransport
	ClassTimeout       = flow.RetryOnTimeout
	ClassRateLimited   = flow.RetryOnRateLimited
	ClassToolError     = flow.RetryOnToolError
	ClassInvalidOutput = flow.RetryOnInvalidOutput
	// ClassProtocol is a JSON-RPC error answer (unknown tool, bad params):
	// sending the same request again gets the same answer.
	ClassProtocol = "protocol"
	// ClassRefused is a call mediator itself refused (data-flow policy, tool
	// not allowed or changed, arguments not matching inputSchema).
	ClassRefused = "refused"
	// ClassCancelled is a call cut short because the run was cancelled.
	ClassCancelled = "cancelled"
	// ClassExpression is an expression that failed or yielded the wrong type.
	ClassExpression = "expression"
	// ClassTimedOut is a flow's timeout: that passed (RunTimeoutError):
	// a sub-flow's fails its uses step with it.
	ClassTimedOut = RunTimedOut
)

// retryPolicy is the effective RetryPolicy of a step, in the form the
// call loop uses.
type retryPolicy struct {
	maxAttempts     int
	initialInterval time.Duration
	backoff         float64
	maxInterval     time.Duration
	fullJitter      bool
	on              []string
}

func newRetryPolicy(r flow.RetryPolicy) retryPolicy {
	return retryPolicy{
		maxAttempts:     max(r.MaxAttempts, 1),
		initialInterval: r.InitialInterval,
		backoff:         r.Backoff,
		maxInterval:     r.MaxInterval,
		fullJitter:      r.Jitter != "none",
		on:              r.On,
	}
}

// retries reports whether an attempt that failed with class may be retried
// by the policy (attempt counts from 1).
func (p retryPolicy) retries(class string, attempt int) bool {
	return attempt < p.maxAttempts && slices.Contains(p.on, class)
}

// delay is the wait before the attempt after attempt (counting from 1):
// initial * backoff^(attempt-1), capped at maxInterval, and with full jitter
// that times jitter, a fraction in [0, 1) (jitterOf). Jitter spreads retries
// of many items that failed together; it affects timing only, never the
// data path.
func (p retryPolicy) delay(attempt int, jitter float64) time.Duration {
	d := float64(p.initialInterval) * math.Pow(p.backoff, float64(attempt-1))
	if max := float64(p.maxInterval); p.maxInterval > 0 && d > max {
		d = max
	}
	if math.IsNaN(d) || math.IsInf(d, 0) || d > float64(math.MaxInt64) {
		d = float64(p.maxInterval)
	}
	if p.fullJitter && d > 0 {
		d = jitter * d
	}
	return time.Duration(d)
}

// jitterOf is the jitter of a retry: a fraction in [0, 1) derived from the
// run, the call's path and the attempt rather than drawn at random, so that
// a replay of the run (a distributed runtime's) waits the same, while
// calls of other paths or runs spread apart.
func jitterOf(run, path string, attempt int) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", run, path, attempt)
	return float64(h.Sum64()>>11) / (1 << 53)
}

// annotations returns tool's annotations, nil for a nil tool.
func annotations(tool *mcp.Tool) *mcp.ToolAnnotations {
	if tool == nil {
		return nil
	}
	return tool.Annotations
}

// readOnly reports whether a tool says it changes nothing (--dry-run=read-only
// may call it).
func readOnly(tool *mcp.Tool) bool {
	return tool != nil && tool.Annotations != nil && tool.Annotations.ReadOnlyHint
}

// classify names the error class of a failed attempt. runCtx is the run's
// context and attemptCtx the attempt's (which carries the step timeout), so
// a timeout of this attempt and a cancellation of the whole run are told
// apart. An answer (see answered) is classed by what it says even when a
// context ended after it came: the call failed before it was cancelled.
func classify(runCtx context.Context, err error) string {
	if !answered(err) {
		if runCtx.Err() != nil {
			return ClassCancelled
		}
		if errors.Is(err, ErrAttemptTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return ClassTimeout
		}
	}
	var pe *policyError
	if errors.As(err, &pe) {
		return ClassRefused
	}
	if mentionsRateLimit(err.Error()) {
		return ClassRateLimited
	}
	var ce *CallError
	if errors.As(err, &ce) && ce.Class != "" {
		return ce.Class
	}
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		return ClassProtocol
	}
	return ClassTransport
}

// answered reports whether err settles a call's outcome: a JSON-RPC error
// answer from the server, or mediator's own refusal before sending.
func answered(err error) bool {
	var pe *policyError
	var je *jsonrpc.Error
	var ce *CallError
	return errors.As(err, &pe) || errors.As(err, &je) ||
		(errors.As(err, &ce) && (ce.Class == ClassProtocol || ce.Class == ClassRefused))
}

// CallError lets a ToolCaller say which class (Class* constants) a failed
// call belongs to, so the retry policy can act on it without the
// interpreter knowing the caller's own error types.
type CallError struct {
	Class string
	Err   error
}

func (e *CallError) Error() string { return e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// mentionsRateLimit is a heuristic: MCP has no standard rate-limit error,
// so HTTP 429 and "rate limit" wording in an error or tool error is taken
// as one.
func mentionsRateLimit(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "rate limit") || strings.Contains(m, "too many requests") || strings.Contains(m, " 429")
}
