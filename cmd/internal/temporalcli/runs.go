package temporalcli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/worker"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// Runs is cmdutil.RemoteRuns over Temporal (temporal.Runs): the engine
// of `run` and `runs` under engine: temporal.
type Runs struct {
	Runs *temporal.Runs
	// Domains are the config's domains:, for the queues of the servers a
	// run calls.
	Domains temporal.Domains
	// OnClose runs on Close (closing the client Runs dialled), if set.
	OnClose func()
}

var _ cmdutil.RemoteRuns = (*Runs)(nil)

// OpenRuns dials cfg's cluster (ClientOptions) and returns its Runs on
// the flow workers' queue (temporal.FlowQueue): cmdutil.Temporal.Runs.
func OpenRuns(ctx context.Context, f *cmdutil.Factory, cfg *config.Config) (cmdutil.RemoteRuns, error) {
	o, err := ClientOptions(ctx, f, cfg)
	if err != nil {
		return nil, err
	}
	c, err := dialWith(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &Runs{Runs: &temporal.Runs{Client: c, Codec: o.Codec, FollowProgress: true, Limits: worker.Limits(cfg)}, Domains: cfg.Domains, OnClose: c.Close}, nil
}

// Close closes what the Runs opened.
func (r *Runs) Close() error {
	if r.OnClose != nil {
		r.OnClose()
	}
	return nil
}

// Start reads the flow file and its sub-flows under s.Validate
// (temporal.ReadFlowInput) and starts the run.
func (r *Runs) Start(ctx context.Context, s cmdutil.RemoteStart) error {
	in, probs, err := temporal.ReadFlowInput(ctx, s.FlowPath, s.Validate)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	if errs := probs.Errors(); len(errs) > 0 {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%s has %d problem(s):\n%w", s.FlowPath, len(errs), errs)}
	}
	in.Inputs, in.PolicyFlows, in.TrustedServers, in.ServerTimeouts = s.Inputs, s.PolicyFlows, s.TrustedServers, s.ServerTimeouts
	if err := r.Runs.Start(ctx, temporal.StartOptions{RunID: s.RunID, Input: in}); err != nil {
		switch {
		case errors.Is(err, temporal.ErrRunExists):
			return fmt.Errorf("%w: %w", cmdutil.ErrRemoteRunExists, err)
		case errors.Is(err, temporal.ErrWouldNotFit):
			return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%s: %w", s.FlowPath, err)}
		case errors.Is(ctx.Err(), context.Canceled):
			return &cmdutil.ExitError{Code: cmdutil.ExitInterrupted, Err: err}
		}
		return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
	}
	if s.Warn != nil {
		r.warnIdle(ctx, s.Servers, s.Warn)
	}
	return nil
}

// warnIdle tells warn of the queues a run of servers needs on which no
// worker polled lately (Idle); a check that fails says nothing.
func (r *Runs) warnIdle(ctx context.Context, servers []string, warn func(string)) {
	idle, err := r.Idle(ctx, servers)
	if err != nil {
		return
	}
	for _, msg := range idle {
		warn(msg)
	}
}

// Idle says, for the flow queue and the queues of servers' domains, which
// no worker polled lately: a run waits there, silently, until one does.
// Temporal lists a queue's recent pollers, so a worker that just stopped
// still counts.
func (r *Runs) Idle(ctx context.Context, servers []string) ([]string, error) {
	c, flows := r.Runs.Client, r.Runs.FlowQueue
	if flows == "" {
		flows = temporal.FlowQueue
	}
	var out []string
	resp, err := c.DescribeTaskQueue(ctx, flows, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return nil, fmt.Errorf("describe task queue %s: %w", flows, err)
	}
	if len(resp.GetPollers()) == 0 {
		out = append(out, fmt.Sprintf("no flow worker polls task queue %s: runs wait until one does (`mediator worker --flows`)", flows))
	}
	byQueue := map[string][]string{}
	var queues []string
	for _, s := range servers {
		q := r.Domains.Queue(s)
		if byQueue[q] == nil {
			queues = append(queues, q)
		}
		byQueue[q] = append(byQueue[q], s)
	}
	idle, err := temporal.QueuesWithoutWorker(ctx, c, queues...)
	if err != nil {
		return nil, err
	}
	for _, q := range idle {
		ss := byQueue[q]
		out = append(out, fmt.Sprintf("no worker of domain %s polls task queue %s: calls to %s wait until one does (`mediator worker --domain %s`)",
			r.Domains.Of(ss[0]), q, strings.Join(ss, ", "), r.Domains.Of(ss[0])))
	}
	return out, nil
}

// Follow follows the run's events (converted by Events) to its end and
// returns its result (RunResult); the result's error is returned as a
// local run returns it.
func (r *Runs) Follow(ctx context.Context, id string, f *flow.Flow, progress func(workflows.Event)) (*workflows.RunResult, error) {
	conv := NewEvents(f, id)
	var finished *temporal.EventView
	out, err := r.Runs.Follow(ctx, id, 0, func(v temporal.EventView) {
		if v.Kind == workflows.EventRunFinished {
			// Reported with the finally steps' outcome, from the result.
			finished = &v
			return
		}
		progress(conv.Event(v))
	})
	if err != nil {
		return nil, err
	}
	res := RunResult(out)
	ev := workflows.Event{Kind: workflows.EventRunFinished, Time: time.Now(), Status: res.Status, Err: res.Err}
	if finished != nil {
		ev = conv.Event(*finished)
	}
	ev.RunID, ev.Finally = id, res.Finally
	progress(ev)
	return res, res.Err
}

// Cancel cancels the run.
func (r *Runs) Cancel(ctx context.Context, id string) error {
	return r.Runs.Cancel(ctx, id)
}

// List lists runs as the journal records them, newest first.
func (r *Runs) List(ctx context.Context, limit int) ([]*workflows.RunRecord, error) {
	var (
		out   []*workflows.RunRecord
		token []byte
	)
	for {
		o := temporal.ListOptions{PageToken: token, MarkBlocked: true}
		if limit > 0 {
			o.Limit = limit - len(out)
		}
		page, next, err := r.Runs.List(ctx, o)
		if err != nil {
			return nil, &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
		}
		for _, s := range page {
			out = append(out, record(s))
		}
		if token = next; len(token) == 0 || limit > 0 && len(out) >= limit {
			return out, nil
		}
	}
}

// Show describes one run: its record and its steps from its events. As
// in the journal, a unique prefix of the id is enough.
func (r *Runs) Show(ctx context.Context, id string) (*cmdutil.RemoteRun, error) {
	d, err := r.Runs.Describe(ctx, id)
	if errors.Is(err, workflows.ErrRunNotFound) {
		ids, lerr := r.Runs.IDsWithPrefix(ctx, id, 2)
		switch {
		case lerr != nil:
			return nil, &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: lerr}
		case len(ids) == 1:
			d, err = r.Runs.Describe(ctx, ids[0])
		case len(ids) > 1:
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "run id prefix %q is ambiguous: it matches %s, %s and maybe more; give more of the id", id, ids[0], ids[1])
		}
	}
	if err != nil {
		if errors.Is(err, workflows.ErrRunNotFound) {
			return nil, err
		}
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
	}
	rec := record(d.RunSummary)
	rec.Inputs = d.Inputs
	if d.Output != nil {
		rec.Outputs = d.Output.Outputs
	}
	run := &cmdutil.RemoteRun{Record: rec, Steps: Steps(d.Events), EventsError: d.EventsError}
	if rec.Status == workflows.RunRunning {
		// A run that cannot say (a flow worker busy, or one older than
		// the status query) shows running.
		st, err := temporal.Status(ctx, r.Runs.Client, rec.ID)
		if err == nil && st.Status == workflows.RunBlocked {
			rec.Status = workflows.RunBlocked
			for _, b := range st.Blocked {
				run.Blocked = append(run.Blocked, cmdutil.RemoteBlockedCall{Path: b.Path, Step: b.Step, StepID: b.StepID, Server: b.Server, Tool: b.Tool, Attempt: b.Attempt})
			}
		}
	}
	return run, nil
}

// Resolve settles run id's blocked calls (temporal.Resolve).
func (r *Runs) Resolve(ctx context.Context, id, action string, calls []string) error {
	err := temporal.Resolve(ctx, r.Runs.Client, id, action, calls)
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return cmdutil.Errorf(cmdutil.ExitUsage, "run %q: %v (see `mediator runs list`)", id, workflows.ErrRunNotFound)
	case isServiceError(err) || ctx.Err() != nil:
		return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
	}
	// The run is not blocked, or a name is none of its blocked calls'.
	return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
}

// isServiceError reports whether err is the server's (unreachable,
// refused), not a check of Resolve's own.
func isServiceError(err error) bool {
	var se serviceerror.ServiceError
	return errors.As(err, &se)
}

// record is a run summary as the journal records a run.
func record(s temporal.RunSummary) *workflows.RunRecord {
	rec := &workflows.RunRecord{
		ID: s.ID, FlowName: s.FlowName, FlowPath: s.FlowPath, FlowDigest: s.FlowDigest,
		Status: s.Status, Error: s.Error, StartedAt: s.StartedAt, UpdatedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		Finally: s.Finally, FinallyError: s.FinallyError,
	}
	if !s.FinishedAt.IsZero() {
		rec.UpdatedAt = s.FinishedAt
	}
	return rec
}

// Steps are the step instances events report, in the order they
// started.
func Steps(evs []temporal.EventView) []cmdutil.RemoteStep {
	var out []cmdutil.RemoteStep
	at := map[string]int{}
	for _, ev := range evs {
		switch ev.Kind {
		case workflows.EventStepStarted:
			at[ev.Path] = len(out)
			out = append(out, cmdutil.RemoteStep{Path: ev.Path, Step: ev.StepPath, Status: workflows.RunRunning, Items: ev.Total, StartedAt: ev.Time})
		case workflows.EventRetrying:
			if i, ok := at[ev.Path]; ok {
				out[i].Retries++
			}
		case workflows.EventStepFinished:
			i, ok := at[ev.Path]
			if !ok {
				// A step that finished without starting (skipped).
				i = len(out)
				at[ev.Path] = i
				out = append(out, cmdutil.RemoteStep{Path: ev.Path, Step: ev.StepPath, StartedAt: ev.Time})
			}
			out[i].Status, out[i].FinishedAt, out[i].Error, out[i].ErrorClass = ev.Status, ev.Time, ev.Error, ev.ErrorClass
		}
	}
	return out
}

// Events converts a run's temporal.EventViews to the workflows.Events a
// local run of f reports, for the same progress view and lines.
type Events struct {
	runID   string
	timeout time.Duration
	steps   map[string]*flow.Step
}

// NewEvents converts the events of run id of f.
func NewEvents(f *flow.Flow, id string) *Events {
	c := &Events{runID: id, timeout: f.Timeout, steps: map[string]*flow.Step{}}
	c.index("", f)
	return c
}

// index maps each step's path in the run (under the uses steps that run
// its flow) to the step.
func (c *Events) index(prefix string, f *flow.Flow) {
	for _, s := range f.AllSteps() {
		c.steps[prefix+s.Path] = s
		if s.Uses != nil && s.Uses.Flow != nil {
			c.index(prefix+s.Path+flow.UsesPathSep, s.Uses.Flow)
		}
	}
}

// Event is v as the engine reported it.
func (c *Events) Event(v temporal.EventView) workflows.Event {
	ev := workflows.Event{Kind: v.Kind, Time: v.Time, Path: v.Path, StepPath: v.StepPath, Status: v.Status,
		Total: v.Total, Attempt: v.Attempt, Delay: v.Delay, Err: remoteError(v.Error, v.ErrorClass)}
	switch v.Kind {
	case workflows.EventRunStarted:
		ev.RunID, ev.Timeout = c.runID, c.timeout
	case workflows.EventRunFinished:
		ev.RunID = c.runID
	case workflows.EventProgress:
		// A report names its call's runtime path only.
		ev.StepPath = flow.StaticPath(v.Path)
		ev.Step = c.steps[ev.StepPath]
		if p := v.Progress; p != nil {
			ev.Report = connectors.Progress{Server: cmp.Or(v.Server, stepServer(ev.Step)), Progress: p.Progress, Total: p.Total, Message: p.Message}
		}
	default:
		ev.Step = c.steps[v.StepPath]
	}
	return ev
}

func stepServer(s *flow.Step) string {
	if s == nil {
		return ""
	}
	return s.Server()
}

// RunResult is out as a local run's result.
func RunResult(out *temporal.FlowOutput) *workflows.RunResult {
	res := &workflows.RunResult{RunID: out.RunID, Status: out.Status, Outputs: out.Outputs, Steps: out.Steps, Err: remoteError(out.Error, out.ErrorClass)}
	if f := out.Finally; f != nil {
		res.Finally = &workflows.FinallyResult{Status: f.Status, Steps: f.Steps, Err: remoteError(f.Error, f.ErrorClass)}
	}
	return res
}

// remoteError is an error that reads msg and classifies as class
// (workflows.ErrorClass), as the run's own error did; nil without msg.
func remoteError(msg, class string) error {
	switch {
	case msg == "":
		return nil
	case class == "":
		return errors.New(msg)
	}
	return &workflows.CallError{Class: class, Err: errors.New(msg)}
}
