package temporalcli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// Runs is cmdutil.RemoteRuns over Temporal (temporal.Runs): the engine
// of `run` and `runs` under engine: temporal.
type Runs struct {
	Runs *temporal.Runs
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
	c, err := temporal.Dial(ctx, o)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%v (temporal.host_port in %s)", err, configName(cfg))
	}
	return &Runs{Runs: &temporal.Runs{Client: c, Codec: o.Codec}, OnClose: c.Close}, nil
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
		if errors.Is(err, temporal.ErrRunExists) {
			return fmt.Errorf("%w: %w", cmdutil.ErrRemoteRunExists, err)
		}
		return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
	}
	return nil
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
		o := temporal.ListOptions{PageToken: token}
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

// Show describes one run: its record and its steps from its events.
func (r *Runs) Show(ctx context.Context, id string) (*cmdutil.RemoteRun, error) {
	d, err := r.Runs.Describe(ctx, id)
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
	return &cmdutil.RemoteRun{Record: rec, Steps: Steps(d.Events), EventsError: d.EventsError}, nil
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
	default:
		ev.Step = c.steps[v.StepPath]
	}
	return ev
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
