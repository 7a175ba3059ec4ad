package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/argcheck"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// runCall composes a call step's arguments and makes the call with
// retries, journalling every attempt. On resume it reuses a journalled
// success instead of calling.
func (e *engine) runCall(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	var refs []string
	collectRefs(s.With, &refs)
	if s.IdempotencyKey != nil {
		refs = append(refs, s.IdempotencyKey.References...)
	}
	scope := e.scope(fr, refs)
	server := s.Call.Server

	args, err := e.composeArgs(ctx, s, path, scope)
	if err != nil {
		return e.failBeforeCall(ctx, s, path, "", "", err)
	}
	key := ""
	if s.IdempotencyKey != nil {
		if key, err = e.evalKey(ctx, s.IdempotencyKey, scope); err != nil {
			return e.failBeforeCall(ctx, s, path, "", "", err)
		}
	}
	digest := ""
	if e.journal != nil || e.resume != nil {
		digest = ArgsDigest(args)
	}
	declared := newRetryPolicy(e.flow.EffectiveRetry(s))
	keep := e.contentNeeded[s.ID]

	attempt := 1
	// A resume that attaches to the task a call was running (see below).
	attach := ""
	// safe says whether the call may be sent again by the retry rule.
	safe := func() (bool, error) {
		ent, err := e.lookupTool(ctx, server, s.Call.Tool)
		if err != nil {
			return false, err
		}
		return flow.SafeToRepeat(annotations(e.trustedTool(ent)), key != "", s.RetryUnsafe), nil
	}
	var wait *pollWait
	if s.Until != nil {
		if wait, err = e.newPollWait(ctx, fr, s, path); err != nil {
			return e.failBeforeCall(ctx, s, path, key, digest, err)
		}
	}
	if e.resume != nil {
		// A journalled success is reused without asking the server
		// anything: a resume needs only the servers it still has to call.
		d := e.resume.decide(ctx, path, s, safe, digest)
		switch d.kind {
		case resumeReuse:
			if wait != nil && !wait.resumed(ctx, d.result, d.attempt) {
				// Stopped mid-wait: the wait goes on.
				attempt = d.attempt + 1
				break
			}
			r := callSucceeded(d.result, d.attempt, keep)
			r.reused = true
			return r
		case resumeFail:
			return callFailed(d.err, d.attempt)
		case resumeRerun:
			attempt = d.attempt + 1
		case resumeAttach:
			// The same attempt, continued.
			attempt, attach = d.attempt, d.taskID
		}
	}

	ent, err := e.lookupToolRetrying(ctx, s, path, declared)
	if err != nil {
		if p, ok := e.rt.(planner); ok && preCallClass(err) != ClassCancelled {
			req := CallRequest{Server: server, Tool: s.Call.Tool, Args: args, Run: e.runID, Step: path}
			if key != "" {
				req.Meta = mcp.Meta{MetaIdempotencyKey: key}
			}
			p.planUncallable(req, err)
		}
		return e.failBeforeCall(ctx, s, path, key, digest, err)
	}
	ann := annotations(e.trustedTool(ent))
	if wait != nil {
		// The polling rule holds at run time whatever validation said.
		if err := e.flow.CheckPoll(s, ann); err != nil {
			return e.failBeforeCall(ctx, s, path, key, digest, &CallError{Class: ClassRefused, Err: fmt.Errorf("%s: %w", s.Until.Pos, err)})
		}
	}
	// A tool that says it is read-only or idempotent does no harm when
	// called again, so its journal records need not be committed before
	// the run moves on: a crash that loses them only makes a resume call
	// it again. Every other call waits for its records (see below).
	harmless := flow.SafeToRepeat(ann, false, false)
	policy := declared
	// The retry rule holds at run time whatever validation said (a flow
	// may run unvalidated, or validated offline without the annotations):
	// a call that may have had an effect is not sent twice.
	var held error
	policy.maxAttempts, held = e.flow.RetryLimit(s, ann)
	timeout := e.flow.EffectiveTimeout(s)
	var meta mcp.Meta
	if key != "" {
		meta = mcp.Meta{MetaIdempotencyKey: key}
	}
	first := attempt
	for ; ; attempt++ {
		started := e.rt.Now(ctx)
		rec := &AttemptRecord{
			RunID: e.runID, Path: path, Attempt: attempt, Step: e.staticPath(s),
			Server: server, Tool: s.Call.Tool, State: AttemptStarted,
			ArgsDigest: digest, IdempotencyKey: key, StartedAt: started, TaskID: attach,
		}
		if e.journal != nil {
			// A call that may have effects is known as in flight before it
			// is sent, so a resume after a crash can tell a call that may
			// have happened from one that never started: the first is
			// re-sent only when the retry rule allows (and then with its
			// idempotency key), the second is simply made.
			if err := e.journal.RecordAttempt(rec, !harmless); err != nil {
				return callFailed(err, attempt)
			}
		}
		req := CallRequest{Server: server, Tool: s.Call.Tool, Args: args, Meta: meta, Run: e.runID, Step: path, ResumeTaskID: attach,
			Sources: e.sources[s], Flows: e.callFlows(s), FlowFile: e.flow.Source, Timeout: timeout}
		if e.journal != nil {
			req.OnTask = func(id string) {
				// Committed before the call waits for its task: a run
				// killed from now on leaves a task to attach to. A
				// journal that cannot write fails the record after the
				// call, below.
				rec.TaskID = id
				_ = e.journal.RecordAttempt(rec, true)
			}
		}
		res, err := e.rt.CallTool(e.attemptContext(ctx, s, path), req)
		if fr, ok := asFlowRefusal(err); ok {
			err = e.flowRefusal(s, path, fr, err)
		}
		if attach != "" && errors.Is(err, connectors.ErrTaskNotFound) {
			// The task is gone (expired, or its server restarted): the call
			// is as undecided as any interrupted one, and the retry rule
			// says whether it is sent again. The journal says so too: an
			// interrupted call without a task, which a later resume
			// treats the same way (--rerun and --mark-done settle it).
			attach = ""
			rec.TaskID, rec.Error = "", err.Error()
			if e.journal != nil {
				if jerr := e.journal.RecordAttempt(rec, true); jerr != nil {
					return callFailed(jerr, attempt)
				}
			}
			ok, serr := safe()
			if serr != nil {
				return callFailed(fmt.Errorf("deciding whether %s may be sent again: %w", path, serr), attempt)
			}
			if !ok {
				return callFailed(&ResumeBlockedError{RunID: e.runID, Calls: []BlockedCall{{
					Path: path, Server: server, Tool: s.Call.Tool, State: AttemptStarted, Attempt: attempt}}}, attempt)
			}
			first = attempt + 1
			continue
		}
		attach = ""
		class := ""
		if err != nil {
			class = classify(ctx, err)
			if class == ClassTimeout && errors.Is(err, ErrAttemptTimeout) {
				err = fmt.Errorf("attempt %d timed out after %s: %w", attempt, timeout, err)
			}
		} else if res.IsError {
			class = ClassToolError
			if mentionsRateLimit(resultText(res)) {
				class = ClassRateLimited
			}
			err = &ToolError{Server: server, Tool: s.Call.Tool, Text: resultText(res)}
		} else if verr := ent.checkOutput(ctx, res); verr != nil {
			class = ClassInvalidOutput
			err = verr
		}

		// Waiting for the commit keeps a finished call with effects from
		// being sent again by a resume after a crash right here.
		err = endAttempt(ctx, e, rec, res, err, class, !harmless)
		if err == nil && wait != nil {
			r, delay := wait.next(ctx, res, rec, keep, !harmless)
			if r != nil {
				return r
			}
			// The next poll gets the whole retry policy again.
			first = attempt + 1
			if serr := e.rt.Sleep(ctx, delay); serr != nil {
				return &stepResult{status: StatusCancelled, err: context.Cause(ctx), view: callView(StatusCancelled, res, attempt, nil, ClassCancelled, keep)}
			}
			continue
		}
		if err == nil {
			return callSucceeded(res, attempt, keep)
		}
		if class == ClassCancelled {
			return &stepResult{status: StatusCancelled, err: err, view: callView(StatusCancelled, res, attempt, err, class, keep)}
		}
		n := attempt - first + 1
		if r, ok := e.rt.(Resolver); ok && errors.Is(err, ErrOutcomeUnknown) && !flow.SafeToRepeat(ann, key != "", s.RetryUnsafe) {
			// Not to be sent again by the retry rule, nor failed: an
			// operator decides, as after a local crash.
			if r := e.awaitResolution(ctx, r, s, path, attempt, digest, err, keep); r != nil {
				return r
			}
			first = attempt + 1
			continue
		}
		retry := policy
		if errors.Is(err, ErrNotSent) {
			retry = declared
		}
		if !retry.retries(class, n) {
			if held != nil && declared.retries(class, n) {
				err = fmt.Errorf("%w (not retried: %v)", err, held)
			}
			return callFailedClass(res, err, class, attempt, keep)
		}
		delay := policy.delay(n, jitterOf(e.runID, path, attempt))
		e.emit(ctx, Event{Kind: EventRetrying, Path: path, Step: s, Attempt: attempt, Delay: delay, Err: err})
		if serr := e.rt.Sleep(ctx, delay); serr != nil {
			return &stepResult{status: StatusCancelled, err: context.Cause(ctx), view: callView(StatusCancelled, res, attempt, err, class, keep)}
		}
	}
}

// ToolError is a tool's own error result (isError: true).
type ToolError struct {
	Server, Tool, Text string
}

func (e *ToolError) Error() string {
	text := e.Text
	if text == "" {
		text = "(no error text)"
	}
	return fmt.Sprintf("%s.%s returned an error: %s", e.Server, e.Tool, text)
}

// planner is the runtime of a dry run, whose plan shows the calls a run
// did not make rather than drop them: one skipped by an if on possibly
// simulated data, and one whose tool could not be had (missing, not
// allowed, unreachable).
type planner interface {
	planConditional(ctx context.Context, req CallRequest, sources []string, composeErr error)
	planUncallable(req CallRequest, err error)
}

// planConditional hands a call whose if was false to a dry run's plan,
// with the arguments it would have had, when the condition read tool
// results (inputs are real even in a dry run).
func (e *engine) planConditional(ctx context.Context, fr *frame, s *flow.Step, path string) {
	p, ok := e.rt.(planner)
	if !ok {
		return
	}
	sources := e.prov.ExprServers(s.If)
	if len(sources) == 0 {
		return
	}
	var refs []string
	collectRefs(s.With, &refs)
	if s.IdempotencyKey != nil {
		refs = append(refs, s.IdempotencyKey.References...)
	}
	scope := e.scope(fr, refs)
	req := CallRequest{Server: s.Call.Server, Tool: s.Call.Tool, Run: e.runID, Step: path}
	args, err := e.composeArgs(ctx, s, path, scope)
	req.Args = args
	if err == nil && s.IdempotencyKey != nil {
		var key string
		if key, err = e.evalKey(ctx, s.IdempotencyKey, scope); err == nil {
			req.Meta = mcp.Meta{MetaIdempotencyKey: key}
		}
	}
	p.planConditional(ctx, req, sources, err)
}

// composeArgs evaluates a step's with: tree (the data-flow policy is
// checked by runStep or, when the runtime decides it, at the call).
func (e *engine) composeArgs(ctx context.Context, s *flow.Step, path string, scope map[string]any) (map[string]any, error) {
	if s.With == nil {
		return map[string]any{}, nil
	}
	var walk func(v *flow.Value, field string) (any, error)
	walk = func(v *flow.Value, field string) (any, error) {
		switch v.Kind {
		case flow.KindLiteral:
			return v.Literal, nil
		case flow.KindExpr:
			out, err := flow.Eval(ctx, v.Expr, scope)
			if err != nil {
				return nil, &exprError{what: field, err: err}
			}
			return out, nil
		case flow.KindObject:
			m := make(map[string]any, len(v.Object))
			for k, c := range v.Object {
				x, err := walk(c, field+"."+k)
				if err != nil {
					return nil, err
				}
				m[k] = x
			}
			return m, nil
		case flow.KindArray:
			a := make([]any, len(v.Array))
			for i, c := range v.Array {
				x, err := walk(c, fmt.Sprintf("%s[%d]", field, i))
				if err != nil {
					return nil, err
				}
				a[i] = x
			}
			return a, nil
		}
		return nil, fmt.Errorf("%s: %s: unknown value kind %d", v.Pos, field, v.Kind)
	}
	out, err := walk(s.With, "with")
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: with must be an object of tool arguments, got %s", s.With.Pos, describe(out))
	}
	return m, nil
}

func (e *engine) evalKey(ctx context.Context, x *flow.Expr, scope map[string]any) (string, error) {
	v, err := flow.Eval(ctx, x, scope)
	if err != nil {
		return "", &exprError{what: "idempotency_key", err: err}
	}
	switch k := v.(type) {
	case string:
		if k == "" {
			break
		}
		return k, nil
	case nil:
	default:
		if b, err := json.Marshal(k); err == nil {
			return string(b), nil
		}
	}
	return "", &exprError{what: "idempotency_key", err: fmt.Errorf("%s: %s must yield a non-empty string, got %s", x.Pos, x, describe(v))}
}

func (e *engine) evalBool(ctx context.Context, x *flow.Expr, scope map[string]any) (bool, error) {
	v, err := flow.Eval(ctx, x, scope)
	if err != nil {
		return false, &exprError{what: "if", err: err}
	}
	b, ok := v.(bool)
	if !ok {
		return false, &exprError{what: "if", err: fmt.Errorf("%s: %s must yield a boolean (true or false), got %s; compare explicitly, e.g. `... == \"yes\"` or `... != null`", x.Pos, x, describe(v))}
	}
	return b, nil
}

// exprError is an expression that failed or yielded the wrong type.
type exprError struct {
	what string // the field it computes: "if", "with.title", ...
	err  error  // carries the expression's position and text
}

func (e *exprError) Error() string { return e.what + ": " + e.err.Error() }
func (e *exprError) Unwrap() error { return e.err }

// cutShort reports whether an expression's evaluation was ended by its
// context (the run was cancelled, say by a sibling's failure) rather than
// failing on its own.
func cutShort(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// exprFailed is the result of a step whose if or for_each did not
// evaluate: cancelled when the run's cancellation cut the evaluation short,
// which says nothing about the step, else failed with the expression's own
// error.
func exprFailed(ctx context.Context, err error) *stepResult {
	if cutShort(err) {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return &stepResult{status: StatusCancelled, err: err}
	}
	return &stepResult{status: StatusFailed, err: err}
}

// scope builds the expression input {inputs, steps, item, index, run}. Only
// the referenced steps are included: they are finished (they are
// dependencies), so the scope is immutable while expressions read it.
func (e *engine) scope(fr *frame, refs []string) map[string]any {
	steps := make(map[string]any, len(refs))
	for _, id := range refs {
		if _, done := steps[id]; done {
			continue
		}
		r := fr.lookup(id)
		switch {
		case r == nil:
			// Not run in this scope (e.g. a step inside another item's
			// group): it reads as not having run.
			steps[id] = e.emptyView(id, StatusSkipped)
		case r.view == nil:
			steps[id] = e.emptyView(id, r.status)
		default:
			steps[id] = r.view
		}
	}
	sc := map[string]any{
		"inputs": e.inputsAt(fr),
		"steps":  steps,
		"run":    map[string]any{flow.RunFieldID: e.runID, flow.RunFieldName: e.flow.Name, flow.RunFieldStatus: e.runStatus(fr)},
	}
	if fr.hasItem {
		sc["item"] = fr.item
		sc["index"] = fr.index
	} else {
		sc["item"] = nil
		sc["index"] = nil
	}
	return sc
}

func callFailed(err error, attempts int) *stepResult {
	return callFailedClass(nil, err, preCallClass(err), attempts, true)
}

// preCallClass is the class of a failure that stopped a call before it
// was sent. An expression cut short by the run's cancellation is a
// cancellation, not a failure of the step.
func preCallClass(err error) string {
	var pe *policyError
	var ee *exprError
	var ce *CallError
	switch {
	case errors.As(err, &ee) && cutShort(err):
		return ClassCancelled
	case errors.As(err, &pe):
		return ClassRefused
	case errors.As(err, &ee):
		return ClassExpression
	case errors.As(err, &ce) && ce.Class != "":
		return ce.Class
	}
	return ClassRefused
}

func callFailedClass(res *mcp.CallToolResult, err error, class string, attempts int, keep bool) *stepResult {
	return finished(StatusFailed, err, callView(StatusFailed, res, attempts, err, class, keep))
}

func callSucceeded(res *mcp.CallToolResult, attempts int, keep bool) *stepResult {
	return finished(StatusSucceeded, nil, callView(StatusSucceeded, res, attempts, nil, "", keep))
}

// callView is .steps.<id> of a call step (Step.ViewFields). Without keep,
// content and text are null: no expression reads them, and building them
// for every item of a large for_each costs more than the call.
func callView(status string, res *mcp.CallToolResult, attempts int, err error, class string, keep bool) map[string]any {
	v := map[string]any{flow.FieldStatus: status, flow.FieldResult: resultValue(res), flow.FieldAttempts: attempts, flow.FieldError: errorView(err, class),
		flow.FieldContent: nil, flow.FieldText: nil}
	if keep {
		v[flow.FieldContent] = contentValue(res)
		if res != nil {
			v[flow.FieldText] = resultText(res)
		}
	}
	return v
}

// resultValue is a tool result as flows read it: structuredContent when
// the tool gives it, else a single text block parsed as JSON, else null.
func resultValue(res *mcp.CallToolResult) any {
	if res == nil {
		return nil
	}
	if res.StructuredContent != nil {
		return flow.Normalize(res.StructuredContent)
	}
	if len(res.Content) == 1 {
		if t, ok := res.Content[0].(*mcp.TextContent); ok {
			var v any
			dec := json.NewDecoder(strings.NewReader(t.Text))
			dec.UseNumber()
			if dec.Decode(&v) == nil && !dec.More() {
				return flow.Normalize(v)
			}
		}
	}
	return nil
}

func contentValue(res *mcp.CallToolResult) any {
	if res == nil || res.Content == nil {
		return []any{}
	}
	b, err := json.Marshal(res.Content)
	if err != nil {
		return nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return flow.Normalize(v)
}

// resultText joins the result's text blocks.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func errorView(err error, class string) any {
	if err == nil {
		return nil
	}
	if class == "" {
		class = ErrorClass(err)
	}
	return map[string]any{"message": err.Error(), "class": class}
}

// ErrorClass is the class (Class* constants) of a step's failure as a run
// reports it: a cancellation, a refusal by mediator (the data-flow policy,
// an unknown or unaccepted tool), an expression that failed, a tool's
// error result, a flow's timeout, or the class a ToolCaller gave; "" for failures that are
// none of these (a journal or audit write, an output expression).
func ErrorClass(err error) string {
	var pe *policyError
	var ee *exprError
	var te *ToolError
	var ce *CallError
	var rt *RunTimeoutError
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	case errors.As(err, &rt):
		return ClassTimedOut
	case errors.As(err, &pe):
		return ClassRefused
	case errors.As(err, &ee):
		return ClassExpression
	case errors.As(err, &te):
		return ClassToolError
	case errors.As(err, &ce):
		return ce.Class
	}
	return ""
}

// describe names a value's JSON type for error messages, with the value
// itself when short.
func describe(v any) string {
	t := "null"
	switch v.(type) {
	case string:
		t = "string"
	case bool:
		t = "boolean"
	case int, int64, float64, json.Number:
		t = "number"
	case []any:
		t = "array"
	case map[string]any:
		t = "object"
	case nil:
		return "null"
	}
	return t + " " + compactJSON(v)
}

// lookupTool returns a tool's definition, asking the runtime once per run.
// A failure that may pass (the server is unreachable or slow, or this
// caller's context ended) is not kept, so the next call asks again; one
// that will not (no such tool, not allowed) is.
func (e *engine) lookupTool(ctx context.Context, server, name string) (*toolEntry, error) {
	key := [2]string{server, name}
	e.toolsMu.Lock()
	slot := e.tools[key]
	e.toolsMu.Unlock()
	if slot != nil {
		return slot.ent, slot.err
	}
	// No lock is held across the runtime's call (Runtime's contract): two
	// steps asking at once may both ask the runtime, and the first answer
	// kept serves every later step.
	tool, err := e.rt.Tool(ctx, server, name)
	if err != nil {
		switch classify(ctx, err) {
		case ClassTransport, ClassTimeout, ClassRateLimited, ClassCancelled:
			return nil, err
		}
		slot = &toolSlot{err: err}
	} else {
		ent := &toolEntry{server: server, tool: tool}
		if tool != nil && tool.OutputSchema != nil {
			// A schema that does not compile, or cannot be checked safely,
			// is the server's problem; the output is then not checked
			// rather than every call failing.
			ent.output, _ = argcheck.Resolve(tool.OutputSchema)
		}
		slot = &toolSlot{ent: ent}
	}
	e.toolsMu.Lock()
	defer e.toolsMu.Unlock()
	if kept := e.tools[key]; kept != nil {
		return kept.ent, kept.err
	}
	e.tools[key] = slot
	return slot.ent, slot.err
}

// lookupToolRetrying is lookupTool under the step's retry policy: nothing
// has been sent yet, so a lookup that failed for a reason the policy
// retries is tried again whatever the tool does.
func (e *engine) lookupToolRetrying(ctx context.Context, s *flow.Step, path string, policy retryPolicy) (*toolEntry, error) {
	for n := 1; ; n++ {
		ent, err := e.lookupTool(ctx, s.Call.Server, s.Call.Tool)
		if err == nil {
			return ent, nil
		}
		class := classify(ctx, err)
		if class == ClassRefused || class == ClassProtocol {
			// Point at the call in the file: the tool named there is
			// missing or not allowed.
			err = fmt.Errorf("%s: %w", s.Call.Pos, err)
		}
		if !policy.retries(class, n) {
			return nil, &CallError{Class: class, Err: err}
		}
		delay := policy.delay(n, jitterOf(e.runID, path, n))
		e.emit(ctx, Event{Kind: EventRetrying, Path: path, Step: s, Attempt: n, Delay: delay, Err: err})
		if serr := e.rt.Sleep(ctx, delay); serr != nil {
			return nil, &CallError{Class: ClassCancelled, Err: context.Cause(ctx)}
		}
	}
}

// failBeforeCall ends a call step that failed before anything was sent:
// its arguments, key or tool could not be had. The failure is journalled as
// a failed attempt, so `mediator runs show` says why the step failed, but
// only when the call path has no record yet: it must never hide an earlier
// attempt's success or unknown outcome from a later resume.
func (e *engine) failBeforeCall(ctx context.Context, s *flow.Step, path, key, digest string, err error) *stepResult {
	class := preCallClass(err)
	if class == ClassCancelled {
		return &stepResult{status: StatusCancelled, err: err}
	}
	r := callFailedClass(nil, err, class, 0, true)
	if e.journal == nil || (e.resume != nil && e.resume.last[path] != nil) {
		return r
	}
	now := e.rt.Now(ctx)
	rec := &AttemptRecord{
		RunID: e.runID, Path: path, Attempt: 1, Step: e.staticPath(s), Server: s.Server(), Tool: requestTool(s),
		State: AttemptFailed, ArgsDigest: digest, IdempotencyKey: key, Error: err.Error(), ErrorClass: class,
		StartedAt: now, FinishedAt: now,
	}
	// Nothing was sent, so a lost record costs nothing: no commit wait.
	if jerr := e.journal.RecordAttempt(rec, false); jerr != nil {
		r.err = errors.Join(err, jerr)
	}
	return r
}

// trustedTool returns the tool when its annotations may be believed, nil
// otherwise (so the retry rule treats it as neither read-only nor
// idempotent).
func (e *engine) trustedTool(ent *toolEntry) *mcp.Tool {
	if e.opts.TrustAnnotations == nil || !e.opts.TrustAnnotations(ent.server) {
		return nil
	}
	return ent.tool
}

// checkOutput validates structuredContent against the tool's outputSchema.
// The check is bounded and ends with ctx.
func (t *toolEntry) checkOutput(ctx context.Context, res *mcp.CallToolResult) error {
	if t.output == nil || res.StructuredContent == nil {
		return nil
	}
	// The client decoded structuredContent from JSON, so it already has the
	// types the validator expects.
	viols, err := t.output.Check(ctx, res.StructuredContent, argcheck.Label{Noun: "field", Root: "structuredContent"})
	if err != nil {
		return fmt.Errorf("structuredContent cannot be checked against the tool's outputSchema: %w", err)
	}
	if len(viols) > 0 {
		say := make([]string, len(viols))
		for i := range viols {
			say[i] = viols[i].Sentence()
		}
		return fmt.Errorf("structuredContent does not match the tool's outputSchema: %s", strings.Join(say, "; "))
	}
	return nil
}
