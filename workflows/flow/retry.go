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

// CheckRetrySafety applies the retry rule to a call step whose retry
// policy allows more than one attempt: a tool may be called more than once
// only if it is read-only or idempotent (by annotations the caller trusts;
// pass nil when unknown or untrusted), or the step has an idempotency_key,
// or it says retry_unsafe: true. `validate --connect` reports the error;
// the engine asks before every call and, on an error, makes one attempt
// only, adding the error to the failure it reports.
func (f *Flow) CheckRetrySafety(s *Step, ann *mcp.ToolAnnotations) error {
	r := f.EffectiveRetry(s)
	if s.Call == nil || r.MaxAttempts <= 1 || SafeToRepeat(ann, s.IdempotencyKey != nil, s.RetryUnsafe) {
		return nil
	}
	from := "its retry"
	if s.Retry == nil || s.Retry.MaxAttempts == 0 {
		from = "defaults.retry"
	}
	return fmt.Errorf("step %q may call %s up to %d times (%s), but the tool is not known to be read-only or idempotent: add idempotency_key: ${ ... }, set retry_unsafe: true, or set retry: {max_attempts: 1}",
		s.ID, s.Call, r.MaxAttempts, from)
}

// SafeToRepeat is the retry rule, the one place it is written: sending the
// same call again is safe when the tool says it is read-only or idempotent
// (ann, nil when unknown or not trusted), when the step carries an
// idempotency key (the server can recognise the repeat), or when the author
// explicitly accepted the risk with retry_unsafe. CheckRetrySafety
// (validation, and the engine before it retries), the engine's resume of a
// call found in flight, and its journal commit policy all ask it.
func SafeToRepeat(ann *mcp.ToolAnnotations, hasKey, retryUnsafe bool) bool {
	if hasKey || retryUnsafe {
		return true
	}
	return ann != nil && (ann.ReadOnlyHint || ann.IdempotentHint)
}

// offlineRetrySafety is the retry rule without tool definitions: a call
// that may be sent more than once is safe only by the step's own word
// (idempotency_key or retry_unsafe), since whether the tool is read-only
// or idempotent is known only to its server. Reporting it rather than
// staying silent keeps offline validation from passing a flow that
// --connect or the engine would then hold to one attempt.
func (v *validator) offlineRetrySafety() {
	for _, s := range v.all {
		if s.Call == nil || s.Call.Server == "" || s.Call.Tool == "" {
			continue
		}
		if v.f.EffectiveRetry(s).MaxAttempts <= 1 || SafeToRepeat(nil, s.IdempotencyKey != nil, s.RetryUnsafe) {
			continue
		}
		pos, field := s.Call.Pos, s.field+".call"
		if s.Retry != nil && s.Retry.MaxAttempts > 1 {
			pos, field = s.FieldPos("retry"), s.field+".retry"
		}
		v.add(pos, field, "cannot tell offline whether %s is read-only or idempotent; add idempotency_key, retry_unsafe: true, or run validate --connect", s.Call)
	}
}
