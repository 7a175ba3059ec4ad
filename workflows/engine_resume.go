package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// ResumeOptions settles calls whose outcome a crash left unknown.
type ResumeOptions struct {
	// Rerun lists calls to make again although they were in flight when
	// the run stopped and may have had an effect already. It applies only
	// to calls the journal shows interrupted (started or cancelled): a
	// success is reused, never sent again (unless its arguments now
	// differ, which is a new call). Each entry is a call path
	// ("remind[3]"), a step path ("batch/upload") or a step ID, which
	// covers every item of the step.
	Rerun []string
	// MarkDone lists calls to treat as done without calling: their effect
	// is accepted, their result reads as null. Same matching as Rerun.
	MarkDone []string
	// Extend is the time the resumed run gets instead of the flow's
	// timeout:; a run that timed out resumes only with it
	// (ResumeNeedsTimeError). The journal adds it to RunRecord.Extended.
	Extend time.Duration
}

// ResumeBlockedError lists calls that were in flight when the run stopped
// and that are not safe to send again (the tool is neither read-only nor
// idempotent and the step has no idempotency_key or retry_unsafe). Whether
// they took effect is unknown, so the operator decides.
type ResumeBlockedError struct {
	RunID string
	Calls []BlockedCall
}

// BlockedCall is one undecided call.
type BlockedCall struct {
	Path, Server, Tool, State string
	Attempt                   int
}

func (e *ResumeBlockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s cannot resume on its own: %d call(s) were in flight when it stopped and may or may not have taken effect, "+
		"and their tools are not annotated read-only or idempotent and their steps have no idempotency_key:", e.RunID, len(e.Calls))
	for _, c := range e.Calls {
		fmt.Fprintf(&b, "\n  %s (%s.%s, attempt %d %s)", c.Path, c.Server, c.Tool, c.Attempt, c.State)
	}
	first := e.Calls[0].Path
	fmt.Fprintf(&b, "\ncheck on the server whether each took effect, then resume with --mark-done %s (it did) or --rerun %s (call it again)", first, first)
	return b.String()
}

type resumeKind int

const (
	resumeRerun  resumeKind = iota // call (again); attempt is the last one journalled
	resumeReuse                    // take result from the journal
	resumeFail                     // the call cannot go ahead
	resumeAttach                   // wait for the journalled task of the attempt
)

type resumeDecision struct {
	kind    resumeKind
	attempt int
	result  *mcp.CallToolResult
	err     error
	taskID  string // resumeAttach's
}

// resumeState answers, per call path, what the journal says about it.
type resumeState struct {
	journal  *Journal
	now      func(context.Context) time.Time
	runID    string
	last     map[string]*AttemptRecord
	rerun    []string
	markDone []string
	// prefix starts the static paths of a sub-flow's steps (engine.uses).
	prefix string
}

// matchesCall reports whether a --rerun/--mark-done argument names the
// call at path of step s, whose static path is static.
func matchesCall(arg, path, static string, s *flow.Step) bool {
	return arg == path || arg == static || arg == s.ID
}

// decide says what to do with call path. safe tells whether the call may
// be sent again by the retry rule; it may need the tool's definition from
// the server, so it is asked only for a call whose outcome is unknown.
func (r *resumeState) decide(ctx context.Context, path string, s *flow.Step, safe func() (bool, error), digest string) resumeDecision {
	last := r.last[path]
	n := 0
	if last != nil {
		n = last.Attempt
	}
	if matchAny(r.markDone, path, r.prefix+s.Path, s) && (last == nil || last.State != AttemptSucceeded) {
		rec := &AttemptRecord{
			RunID: r.runID, Path: path, Attempt: n + 1, Step: r.prefix + s.Path, Server: s.Call.Server, Tool: s.Call.Tool,
			State: AttemptMarkedDone, ArgsDigest: digest, StartedAt: r.now(ctx), FinishedAt: r.now(ctx),
		}
		if err := r.journal.RecordAttempt(rec, true); err != nil {
			return resumeDecision{kind: resumeFail, err: err, attempt: n}
		}
		return resumeDecision{kind: resumeReuse, attempt: n + 1}
	}
	if last == nil {
		return resumeDecision{kind: resumeRerun, attempt: n}
	}
	// --rerun settles a call the journal shows interrupted; a success is
	// never sent again, whatever it names.
	rerun := matchAny(r.rerun, path, r.prefix+s.Path, s)
	switch last.State {
	case AttemptSucceeded:
		if last.ArgsDigest != digest {
			if rerun || s.InFinally() {
				// A finally step's arguments may read .run.status, which
				// the resume changed: made with these, it is a new call.
				// Not a repeat: a call with these arguments was never made.
				return resumeDecision{kind: resumeRerun, attempt: n}
			}
			return resumeDecision{kind: resumeFail, attempt: n, err: fmt.Errorf(
				"call %s succeeded in the earlier attempt with different arguments (digest %.12s, now %.12s), so its result cannot be reused; "+
					"resume with --rerun %s to call it again with the new arguments", path, last.ArgsDigest, digest, path)}
		}
		full, err := r.journal.Attempt(ctx, r.runID, path, last.Attempt)
		if err != nil {
			return resumeDecision{kind: resumeFail, attempt: n, err: err}
		}
		var res mcp.CallToolResult
		if len(full.Result) > 0 {
			if err := json.Unmarshal(full.Result, &res); err != nil {
				return resumeDecision{kind: resumeFail, attempt: n, err: fmt.Errorf("journalled result of %s: %w", path, err)}
			}
		}
		return resumeDecision{kind: resumeReuse, attempt: n, result: &res}
	case AttemptMarkedDone:
		return resumeDecision{kind: resumeReuse, attempt: n}
	case AttemptStarted, AttemptCancelled:
		if rerun {
			break
		}
		if last.attachable() {
			// The call is a task the server may still be running: wait
			// for it rather than call again.
			return resumeDecision{kind: resumeAttach, attempt: n, taskID: last.TaskID}
		}
		ok, err := safe()
		if err != nil {
			return resumeDecision{kind: resumeFail, attempt: n, err: fmt.Errorf("deciding whether %s may be sent again: %w", path, err)}
		}
		if !ok {
			return resumeDecision{kind: resumeFail, attempt: n, err: &ResumeBlockedError{RunID: r.runID, Calls: []BlockedCall{{
				Path: path, Server: s.Call.Server, Tool: s.Call.Tool, State: last.State, Attempt: last.Attempt}}}}
		}
	}
	return resumeDecision{kind: resumeRerun, attempt: n}
}

// Resume continues a run from its journal: the same inputs and run id,
// journalled successes reused instead of called, failed calls made again,
// and calls that were in flight re-sent only when that is safe by the
// retry rule; otherwise it stops with a ResumeBlockedError before calling
// anything, unless ro settles them. It refuses when the flow file changed.
//
// Resume first claims the run (Journal.ClaimRun), so of several resumes
// of one run at once, in any processes, exactly one goes ahead and the
// others return a *RunHeldError naming the holder's pid.
func Resume(ctx context.Context, fl *flow.Flow, runID string, opts RunOptions, ro ResumeOptions) (*RunResult, error) {
	j := opts.Journal
	if j == nil {
		return nil, errors.New("resume: no run journal given")
	}
	if opts.Runtime == nil {
		return nil, errors.New("resume: no runtime given")
	}
	rec, err := j.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if digest := fl.RunDigest(); rec.FlowDigest != digest {
		what := "the file now has"
		if digest != fl.Digest {
			what = "the file and the sub-flow files it uses (" + strings.Join(fl.Files()[1:], ", ") + ") now have"
		}
		return nil, fmt.Errorf("run %s was started from %s with content sha256 %.12s…, but %s sha256 %.12s…; "+
			"a changed flow cannot be resumed consistently: restore the file or start a new run", rec.ID, rec.FlowPath, rec.FlowDigest, what, digest)
	}
	inputs, err := PrepareInputs(ctx, fl, rec.Inputs)
	if err != nil {
		return nil, fmt.Errorf("resume %s: journalled inputs: %w", rec.ID, err)
	}
	prev, err := j.ClaimRun(ctx, rec.ID, os.Getpid(), opts.Runtime.Now(ctx))
	if err != nil {
		return nil, err
	}
	// Everything below reads the journal as the claim left it: a resume
	// that ran before this one has finished writing.
	res, err := resumeClaimed(ctx, fl, prev, inputs, opts, ro)
	if res == nil && err != nil {
		// Nothing ran: give the run back as it was.
		prev.UpdatedAt = opts.Runtime.Now(ctx)
		if uerr := j.UpdateRun(prev); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}
	return res, err
}

// resumeClaimed is Resume once the run is claimed; it returns no result
// when it stopped before running anything.
func resumeClaimed(ctx context.Context, fl *flow.Flow, rec *RunRecord, inputs map[string]any, opts RunOptions, ro ResumeOptions) (*RunResult, error) {
	j := opts.Journal
	last, err := j.LastAttempts(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(fl, opts, inputs)
	if err != nil {
		return nil, err
	}
	e.runID = rec.ID
	if rec.Status == RunTimedOut && ro.Extend <= 0 {
		return nil, &ResumeNeedsTimeError{RunID: rec.ID, Timeout: rec.Timeout}
	}
	if ro.Extend > 0 {
		e.timeout = ro.Extend
	}
	e.resume = &resumeState{journal: j, now: opts.Runtime.Now, runID: rec.ID, last: last, rerun: ro.Rerun, markDone: ro.MarkDone}

	steps := stepsByPath(fl)
	if err := checkOverrides(ro, steps, last); err != nil {
		return nil, err
	}
	blocked, err := e.blockedCalls(ctx, steps)
	if err != nil {
		return nil, err
	}
	run := *rec
	if len(blocked) > 0 {
		berr := &ResumeBlockedError{RunID: rec.ID, Calls: blocked}
		run.Status, run.Error, run.UpdatedAt, run.PID = RunBlocked, berr.Error(), opts.Runtime.Now(ctx), os.Getpid()
		if err := j.UpdateRun(&run); err != nil {
			return nil, errors.Join(berr, err)
		}
		return &RunResult{RunID: rec.ID, Status: RunBlocked, Err: berr}, berr
	}
	run.Resumes++
	run.Status, run.Error, run.PID = RunRunning, "", os.Getpid()
	run.Timeout, run.Extended = e.timeout, run.Extended+ro.Extend
	run.Finally, run.FinallyError = "", ""
	run.UpdatedAt, run.FinishedAt = opts.Runtime.Now(ctx), time.Time{}
	if err := j.UpdateRun(&run); err != nil {
		return nil, err
	}
	return e.execute(ctx, &run)
}

// blockedCalls lists the journal's in-flight calls that may not be sent
// again and that no override settles.
func (e *engine) blockedCalls(ctx context.Context, steps map[string]*flow.Step) ([]BlockedCall, error) {
	var out []BlockedCall
	for path, a := range e.resume.last {
		if a.State != AttemptStarted && a.State != AttemptCancelled {
			continue
		}
		s := steps[a.Step]
		if s == nil || s.Call == nil {
			return nil, fmt.Errorf("run %s journalled a call of step %q, which the flow does not have", e.runID, a.Step)
		}
		if matchAny(e.resume.rerun, path, a.Step, s) || matchAny(e.resume.markDone, path, a.Step, s) || a.attachable() {
			// An attachable task is decided when the run gets to it: only
			// if the server no longer knows it is the call in question.
			continue
		}
		ent, err := e.lookupTool(ctx, s.Call.Server, s.Call.Tool)
		if err != nil {
			return nil, fmt.Errorf("resume: deciding whether %s may be sent again: %w", path, err)
		}
		if flow.SafeToRepeat(annotations(e.trustedTool(ent)), s.IdempotencyKey != nil, s.RetryUnsafe) {
			continue
		}
		out = append(out, BlockedCall{Path: path, Server: s.Call.Server, Tool: s.Call.Tool, State: a.State, Attempt: a.Attempt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// attachable reports whether a resume attaches to the attempt's task: the
// call was in flight as a task when the run stopped.
func (a *AttemptRecord) attachable() bool { return a.State == AttemptStarted && a.TaskID != "" }

func matchAny(list []string, path, static string, s *flow.Step) bool {
	for _, a := range list {
		if matchesCall(a, path, static, s) {
			return true
		}
	}
	return false
}

// checkOverrides refuses --rerun/--mark-done arguments that name neither a
// call step of the flow nor a journalled call path.
func checkOverrides(ro ResumeOptions, steps map[string]*flow.Step, last map[string]*AttemptRecord) error {
	var bad []string
	for _, a := range append(append([]string{}, ro.Rerun...), ro.MarkDone...) {
		if _, ok := last[a]; ok {
			continue
		}
		found := false
		for p, s := range steps {
			if s.Call != nil && (a == p || a == s.ID) {
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, a)
		}
	}
	if len(bad) > 0 {
		var calls []string
		for p, s := range steps {
			if s.Call != nil {
				calls = append(calls, p)
			}
		}
		sort.Strings(calls)
		return fmt.Errorf("--rerun/--mark-done %s: no such call step or journalled call path; call steps are: %s (add [N] for one item, e.g. %s[0])",
			strings.Join(bad, ", "), strings.Join(calls, ", "), firstOr(calls, "step"))
	}
	return nil
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// stepsByPath indexes every step of a flow by its static path, its
// sub-flows' steps (finally steps included) under their uses steps'
// (flow.UsesPathSep).
func stepsByPath(fl *flow.Flow) map[string]*flow.Step {
	out := map[string]*flow.Step{}
	var walk func(prefix string, steps []*flow.Step)
	walk = func(prefix string, steps []*flow.Step) {
		for _, s := range steps {
			out[prefix+s.Path] = s
			walk(prefix, s.Steps)
			for _, name := range s.BranchOrder {
				walk(prefix, s.Parallel[name])
			}
			if len(s.BranchOrder) == 0 {
				for _, b := range s.Parallel {
					walk(prefix, b)
				}
			}
			if s.Uses != nil && s.Uses.Flow != nil {
				walk(prefix+s.Path+flow.UsesPathSep, s.Uses.Flow.Steps)
				walk(prefix+s.Path+flow.UsesPathSep, s.Uses.Flow.Finally)
			}
		}
	}
	walk("", fl.Steps)
	walk("", fl.Finally)
	return out
}
