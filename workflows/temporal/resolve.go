package temporal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
)

// SignalResolve is the signal that settles a run's blocked calls
// (ResolveSignal), as `mediator resume --rerun` and `--mark-done` settle a
// local run's. A call blocks when its worker was lost mid-call and the
// retry rule does not let the flow send it again (workflows.Resolver).
// Send it with Resolve, which checks the calls are waiting first.
const SignalResolve = "mediator.resolve"

// QueryStatus is the query that returns whether a run waits on
// SignalResolve, and for which calls (StatusView).
const QueryStatus = "mediator.status"

// ResolveSignal is SignalResolve's payload.
type ResolveSignal struct {
	// Action is workflows.ResolveRerun (send the calls again) or
	// workflows.ResolveMarkDone (they took effect: their steps succeed
	// with a null result).
	Action string `json:"action"`
	// Calls names the calls to settle: call paths ("charge[2]"), step
	// paths or step ids. Empty settles every blocked call.
	Calls []string `json:"calls,omitempty"`
}

// StatusView is what QueryStatus returns.
type StatusView struct {
	// Status is workflows.RunRunning, workflows.RunBlocked while a call
	// waits for SignalResolve, or how the run ended.
	Status  string            `json:"status"`
	Blocked []BlockedCallView `json:"blocked,omitempty"`
}

// BlockedCallView is a call waiting for SignalResolve, as
// workflows.BlockedCall has it.
type BlockedCallView struct {
	// Path is the call's runtime path; Step its step's path, StepID its
	// id.
	Path    string `json:"path"`
	Step    string `json:"step"`
	StepID  string `json:"step_id"`
	Server  string `json:"server"`
	Tool    string `json:"tool"`
	Attempt int    `json:"attempt"`
	// Workflow is the id of the child workflow the call waits in (a
	// batch of a large for_each), empty for the run's own.
	Workflow string `json:"workflow,omitempty"`
}

// resolutions are a run's calls waiting for a decision; written and read
// by the workflow's coroutines only (the query handler reads).
type resolutions struct {
	waiting []*waitingCall
	// undecided are the calls that stopped waiting undecided: the run
	// was cancelled or timed out meanwhile (FlowOutput.Undecided).
	undecided []BlockedCallView
	// ended is the run's status once it ended.
	ended string
}

type waitingCall struct {
	view   BlockedCallView
	names  []string
	action string
}

// newResolutions registers QueryStatus and receives SignalResolve for the
// workflow of ctx.
func newResolutions(ctx workflow.Context) (*resolutions, error) {
	r := &resolutions{}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (StatusView, error) { return r.status(), nil }); err != nil {
		return nil, err
	}
	ch := workflow.GetSignalChannel(ctx, SignalResolve)
	workflow.Go(ctx, func(w workflow.Context) {
		for {
			var s ResolveSignal
			ch.Receive(w, &s)
			r.apply(w, s)
		}
	})
	return r, nil
}

func (r *resolutions) status() StatusView {
	if r.ended != "" {
		return StatusView{Status: r.ended}
	}
	v := StatusView{Status: workflows.RunRunning}
	for _, c := range r.waiting {
		if c.action == "" {
			v.Status = workflows.RunBlocked
			v.Blocked = append(v.Blocked, c.view)
		}
	}
	return v
}

// apply settles the waiting calls s names. A signal naming no waiting
// call settles nothing: a decision is about a call an operator saw
// blocked, never one that may block later.
func (r *resolutions) apply(w workflow.Context, s ResolveSignal) {
	if s.Action != workflows.ResolveRerun && s.Action != workflows.ResolveMarkDone {
		workflow.GetLogger(w).Warn("ignored a resolve signal with an unknown action", "action", s.Action)
		return
	}
	for _, c := range r.waiting {
		if c.action == "" && (len(s.Calls) == 0 || slices.ContainsFunc(s.Calls, func(n string) bool { return slices.Contains(c.names, n) })) {
			c.action = s.Action
		}
	}
}

// AwaitResolution waits for SignalResolve to settle call
// (workflows.Resolver), the run's status saying blocked meanwhile.
func (r *Runtime) AwaitResolution(ctx context.Context, call workflows.BlockedCall, names []string) (string, error) {
	if r.resolutions == nil {
		// A workflow that does not set them up (a batch of a large
		// for_each runs in a child workflow of its own) fails the step.
		return "", errors.New("this part of the run receives no resolve signal (only the run's own workflow does, not a child workflow running a batch of items)")
	}
	c := &waitingCall{names: names, view: BlockedCallView{Path: call.Path, Server: call.Server, Tool: call.Tool, Attempt: call.Attempt}}
	if len(names) > 2 {
		c.view.Step, c.view.StepID = names[1], names[2]
	}
	rs := r.resolutions
	rs.waiting = append(rs.waiting, c)
	defer func() { rs.waiting = slices.DeleteFunc(rs.waiting, func(x *waitingCall) bool { return x == c }) }()
	_ = workflow.Await(workflowContext(ctx), func() bool { return c.action != "" || ctx.Err() != nil })
	if c.action == "" {
		rs.undecided = append(rs.undecided, c.view)
		return "", ctx.Err()
	}
	return c.action, nil
}

// Status returns run runID's status (QueryStatus), with the blocked
// calls of its open child workflows and theirs (a batch of a large
// for_each runs in one): they are the run's, and a run with one is
// blocked.
func Status(ctx context.Context, c client.Client, runID string) (*StatusView, error) {
	st, err := queryStatus(ctx, c, runID)
	if err != nil {
		return nil, err
	}
	if st.Status != workflows.RunRunning && st.Status != workflows.RunBlocked {
		return st, nil
	}
	err = eachOpenWorkflow(ctx, c, runID, func(id string, _ *workflowservice.DescribeWorkflowExecutionResponse) error {
		if id == runID {
			return nil
		}
		cst, err := queryStatus(ctx, c, id)
		if err != nil {
			var qf *serviceerror.QueryFailed
			if errors.As(err, &qf) && strings.Contains(qf.Error(), "unknown queryType") {
				return nil // a child that cannot block
			}
			return err
		}
		for _, b := range cst.Blocked {
			b.Workflow = id
			st.Blocked = append(st.Blocked, b)
			st.Status = workflows.RunBlocked
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// queryStatus queries one workflow's QueryStatus.
func queryStatus(ctx context.Context, c client.Client, id string) (*StatusView, error) {
	v, err := c.QueryWorkflow(ctx, id, "", QueryStatus)
	if err != nil {
		return nil, fmt.Errorf("query the status of run %s: %w", id, err)
	}
	var st StatusView
	if err := v.Get(&st); err != nil {
		return nil, fmt.Errorf("run %s's status does not decode: %w", id, err)
	}
	return &st, nil
}

// Resolve settles the blocked calls of run runID named in calls (call
// paths, step paths or step ids; none: all of them) with action
// (workflows.ResolveRerun or workflows.ResolveMarkDone), as the daemon's
// Resolve and `mediator resume --rerun/--mark-done` do for a local run,
// signalling each workflow (the run's, a child's) where one waits. It
// refuses a run that is not blocked and a name that is no blocked call's,
// saying which calls wait.
func Resolve(ctx context.Context, c client.Client, runID, action string, calls []string) error {
	if action != workflows.ResolveRerun && action != workflows.ResolveMarkDone {
		return fmt.Errorf("action %q: give %s (call the blocked calls again) or %s (they took effect)", action, workflows.ResolveRerun, workflows.ResolveMarkDone)
	}
	st, err := Status(ctx, c, runID)
	if err != nil {
		return err
	}
	if st.Status != workflows.RunBlocked {
		return fmt.Errorf("run %s is %s, not blocked: there is nothing to resolve", runID, st.Status)
	}
	var all []string
	for _, b := range st.Blocked {
		all = append(all, b.Path)
	}
	names := func(b BlockedCallView, n string) bool { return n == b.Path || n == b.Step || n == b.StepID }
	for _, n := range calls {
		if !slices.ContainsFunc(st.Blocked, func(b BlockedCallView) bool { return names(b, n) }) {
			return fmt.Errorf("%q names none of run %s's blocked calls: %s", n, runID, strings.Join(all, ", "))
		}
	}
	var signalled []string
	for _, b := range st.Blocked {
		id := cmp.Or(b.Workflow, runID)
		if slices.Contains(signalled, id) || (len(calls) > 0 && !slices.ContainsFunc(calls, func(n string) bool { return names(b, n) })) {
			continue
		}
		signalled = append(signalled, id)
		if err := c.SignalWorkflow(ctx, id, "", SignalResolve, ResolveSignal{Action: action, Calls: calls}); err != nil {
			return fmt.Errorf("signal run %s: %w", id, err)
		}
	}
	return nil
}
