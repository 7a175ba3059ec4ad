package flow

import (
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Built-in retry defaults, used where neither the step nor defaults: says.
const (
	defaultInitialInterval = time.Second
	defaultBackoff         = 2.0
	defaultMaxInterval     = 30 * time.Second
)

// EffectiveRetry returns the retry policy that applies to s: each field
// from s.Retry if written there, else from defaults.retry, else built in
// (one attempt, 1s initial interval, backoff 2, 30s cap, full jitter, on
// transport, timeout and rate_limited).
func (f *Flow) EffectiveRetry(s *Step) RetryPolicy {
	r := RetryPolicy{MaxAttempts: 1, InitialInterval: defaultInitialInterval, Backoff: defaultBackoff,
		MaxInterval: defaultMaxInterval, Jitter: "full", On: []string{RetryOnTransport, RetryOnTimeout, RetryOnRateLimited}}
	for _, p := range []*RetryPolicy{f.Defaults.Retry, s.Retry} {
		if p == nil {
			continue
		}
		if p.MaxAttempts > 0 {
			r.MaxAttempts = p.MaxAttempts
		}
		if p.InitialInterval > 0 {
			r.InitialInterval = p.InitialInterval
		}
		if p.Backoff > 0 {
			r.Backoff = p.Backoff
		}
		if p.MaxInterval > 0 {
			r.MaxInterval = p.MaxInterval
		}
		if p.Jitter != "" {
			r.Jitter = p.Jitter
		}
		if p.On != nil {
			r.On = p.On
		}
		r.Pos = p.Pos
	}
	if r.MaxInterval < r.InitialInterval {
		r.MaxInterval = r.InitialInterval
	}
	return r
}

// EffectiveTimeout returns s's per-attempt timeout, or defaults.timeout,
// or 0 for none.
func (f *Flow) EffectiveTimeout(s *Step) time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return f.Defaults.Timeout
}

// RetryLimit applies the retry rule (SafeToRepeat) to call step s: how
// many attempts its call may have, and, when that is fewer than its
// effective retry policy asks, why. ann are the tool's annotations when the
// caller trusts them, else nil. The engine asks it before every call, with
// the live tool's annotations.
func (f *Flow) RetryLimit(s *Step, ann *mcp.ToolAnnotations) (attempts int, held error) {
	r := f.EffectiveRetry(s)
	if s.Call == nil || r.MaxAttempts <= 1 || SafeToRepeat(ann, s.IdempotencyKey != nil, s.RetryUnsafe) {
		return max(r.MaxAttempts, 1), nil
	}
	from := "its retry"
	if !ownRetry(s) {
		from = "defaults.retry"
	}
	return 1, fmt.Errorf("%s is not known to be read-only or idempotent and step %q has neither idempotency_key nor retry_unsafe, so it is called once although %s allows %d attempts; "+
		"add idempotency_key: ${ ... } (or retry_unsafe: true if a repeat is harmless) to allow them", s.Call, s.ID, from, r.MaxAttempts)
}

// CheckRetrySafety reports a call step whose own retry: asks for more
// attempts than RetryLimit allows; `validate --connect` shows the error.
// defaults.retry is a default: it applies to the calls that are safe to
// repeat and leaves the others at one attempt (RetryLimit), so it is never
// an error and does not make every step say retry_unsafe.
func (f *Flow) CheckRetrySafety(s *Step, ann *mcp.ToolAnnotations) error {
	if _, held := f.RetryLimit(s, ann); held == nil || !ownRetry(s) {
		return nil
	}
	return fmt.Errorf("step %q may call %s up to %d times (its retry), but the tool is not known to be read-only or idempotent: add idempotency_key: ${ ... }, set retry_unsafe: true, or set retry: {max_attempts: 1}",
		s.ID, s.Call, f.EffectiveRetry(s).MaxAttempts)
}

// ownRetry reports whether s's attempts come from its own retry: rather
// than from defaults.retry.
func ownRetry(s *Step) bool { return s.Retry != nil && s.Retry.MaxAttempts > 0 }

// SafeToRepeat is the retry rule, the one place it is written: sending the
// same call again is safe when the tool says it is read-only or idempotent
// (ann, nil when unknown or not trusted), when the step carries an
// idempotency key (the server can recognise the repeat), or when the author
// explicitly accepted the risk with retry_unsafe. RetryLimit (validation,
// and the engine before every call), the engine's resume of a call found in
// flight, and its journal commit policy all ask it.
func SafeToRepeat(ann *mcp.ToolAnnotations, hasKey, retryUnsafe bool) bool {
	if hasKey || retryUnsafe {
		return true
	}
	return ann != nil && (ann.ReadOnlyHint || ann.IdempotentHint)
}

// offlineRetry is the retry rule without tool definitions, which only
// their servers have: whether a step's own retry may repeat its call is
// left to `validate --connect` and to the engine, which applies RetryLimit
// before every call; a warning says so. defaults.retry gets none (see
// CheckRetrySafety), nor does a step that settles it with idempotency_key
// or retry_unsafe.
func (v *validator) offlineRetry() {
	for _, s := range v.all {
		if s.Call == nil || s.Call.Server == "" || s.Call.Tool == "" || !ownRetry(s) {
			continue
		}
		n := v.f.EffectiveRetry(s).MaxAttempts
		if n <= 1 || SafeToRepeat(nil, s.IdempotencyKey != nil, s.RetryUnsafe) {
			continue
		}
		v.warn(s.FieldPos("retry"), s.field+".retry", "whether %s may be called up to %d times depends on its annotations, which offline validation cannot see: "+
			"validate --connect checks them, and run calls it once unless it is read-only or idempotent (idempotency_key or retry_unsafe: true settle it here)", s.Call, n)
	}
}
