package temporal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// WorkflowRunFlow is the workflow type name under which Flows.Register
// registers Flows.Run.
const WorkflowRunFlow = "mediator.RunFlow"

// notStartedType is the ApplicationError type of a run that could not
// start: a flow file that does not validate, inputs that do not check.
const notStartedType = "mediator.NotStarted"

// FlowInput is what a run is started with. Everything the workflow reads
// is here (the files, not their paths on some disk), so that its replay
// reads the same.
type FlowInput struct {
	// Path is the flow file's path where it was submitted, and Source its
	// bytes.
	Path   string `json:"path"`
	Source []byte `json:"source"`
	// Files are the sub-flows its uses steps run, by the path the
	// validator asked for (ReadFlowInput fills them in).
	Files  map[string][]byte `json:"files,omitempty"`
	Inputs map[string]any    `json:"inputs,omitempty"`
	// PolicyFlows are the config's policy.flows, for a run whose calls do
	// not go through a FlowDecider (workflows.RunOptions.PolicyFlows).
	PolicyFlows []flow.FlowEdge `json:"policy_flows,omitempty"`
	// TrustedServers are the servers whose tool annotations are trusted
	// (workflows.RunOptions.TrustAnnotations).
	TrustedServers []string `json:"trusted_servers,omitempty"`
	// ServerTimeouts are the servers' call timeouts, for an attempt whose
	// step sets none; a server missing uses connectors.DefaultTimeout.
	ServerTimeouts map[string]time.Duration `json:"server_timeouts,omitempty"`
}

// FlowOutput is how a run ended, as workflows.RunResult has it; the run
// id is the workflow id.
type FlowOutput struct {
	RunID   string            `json:"run_id"`
	Status  string            `json:"status"`
	Outputs map[string]any    `json:"outputs,omitempty"`
	Steps   map[string]string `json:"steps,omitempty"`
	// Error is why the run failed, was cancelled or blocked, and
	// ErrorClass its class (workflows.ErrorClass).
	Error      string         `json:"error,omitempty"`
	ErrorClass string         `json:"error_class,omitempty"`
	Finally    *FinallyOutput `json:"finally,omitempty"`
	// Undecided are the calls that were waiting for SignalResolve when
	// the run was cancelled or timed out: whether they took effect is
	// unknown.
	Undecided []BlockedCallView `json:"undecided,omitempty"`
}

// FinallyOutput is how the flow's finally steps ended.
type FinallyOutput struct {
	Status     string            `json:"status"`
	Steps      map[string]string `json:"steps,omitempty"`
	Error      string            `json:"error,omitempty"`
	ErrorClass string            `json:"error_class,omitempty"`
}

// ReadFlowInput reads the flow file at path and the sub-flows it uses,
// validating them under opts as workflows.LoadForRun does, and returns
// them as a run's input (Inputs and the policy fields left to the
// caller). The run may be started only when problems.Errors() is empty.
func ReadFlowInput(ctx context.Context, path string, opts flow.ValidateOptions) (FlowInput, flow.Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return FlowInput{}, nil, fmt.Errorf("read flow file: %w", err)
	}
	in := FlowInput{Path: path, Source: data, Files: map[string][]byte{}}
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	opts.ReadFile = func(p string) ([]byte, error) {
		b, err := read(p)
		if err == nil {
			in.Files[p] = b
		}
		return b, err
	}
	opts.RetryAtRunTime = true
	_, probs := flow.Check(ctx, path, data, opts)
	return in, probs, nil
}

// Flows is the workflow that runs a flow file with the interpreter; its
// fields are the flow worker's configuration.
type Flows struct {
	// Queue, Decides, HeartbeatTimeout and ScheduleToStartTimeout are
	// the Runtime's (Runtime.Queue, Runtime.Decides,
	// Runtime.HeartbeatTimeout, Runtime.ScheduleToStartTimeout).
	Queue                  func(server string) string
	Decides                bool
	HeartbeatTimeout       time.Duration
	ScheduleToStartTimeout time.Duration
	// Limits bound a run's history (limits.go); zero fields take
	// Temporal's defaults.
	Limits Limits
}

// Register registers Run as WorkflowRunFlow and RunItems (childflow.go)
// as WorkflowRunItems.
func (f *Flows) Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(f.Run, workflow.RegisterOptions{Name: WorkflowRunFlow})
	r.RegisterWorkflowWithOptions(f.RunItems, workflow.RegisterOptions{Name: WorkflowRunItems})
}

// Run runs the flow in in with workflows.Run on a Runtime, the run id
// being the workflow id. A run that ended (succeeded, failed, cancelled)
// is a FlowOutput; a run that could not start (the file does not
// validate, the inputs do not check) fails the workflow with a
// non-retryable error of type mediator.NotStarted. Cancelling the
// workflow cancels the run as an interrupt does a local one: its finally
// steps still run.
func (f *Flows) Run(ctx workflow.Context, in FlowInput) (*FlowOutput, error) {
	fl, probs := flow.Check(context.Background(), in.Path, in.Source, flow.ValidateOptions{
		PolicyFlows:      in.PolicyFlows,
		TrustAnnotations: trusted(in.TrustedServers),
		RetryAtRunTime:   true,
		ReadFile: func(p string) ([]byte, error) {
			b, ok := in.Files[p]
			if !ok {
				return nil, fmt.Errorf("%s was not submitted with the run (FlowInput.Files)", p)
			}
			return b, nil
		},
	})
	if errs := probs.Errors(); fl == nil || len(errs) > 0 {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("flow %s does not validate:\n%v", in.Path, errs), notStartedType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}

	// The interpreter's coroutines run on a context Temporal never
	// cancels; cancelling the workflow cancels the run's Go context
	// instead, from a coroutine, so the engine decides what stops and
	// its finally steps can still make calls.
	root, _ := workflow.NewDisconnectedContext(ctx)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	workflow.Go(ctx, func(w workflow.Context) {
		w.Done().Receive(w, nil)
		cancel()
	})

	var events []EventView
	if err := workflow.SetQueryHandler(ctx, QueryEvents, func() ([]EventView, error) { return slices.Clone(events), nil }); err != nil {
		return nil, err
	}

	resolutions, err := newResolutions(ctx)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{Queue: f.Queue, Decides: f.Decides, HeartbeatTimeout: f.HeartbeatTimeout, ScheduleToStartTimeout: f.ScheduleToStartTimeout,
		ServerTimeout: func(s string) time.Duration { return in.ServerTimeouts[s] }, resolutions: resolutions}
	lrt, err := f.limited(ctx, fl, in, rt)
	if err != nil {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("run of %s refused: %v", in.Path, err), notStartedType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	res, err := workflows.Run(WithWorkflowContext(runCtx, root), fl, workflows.RunOptions{
		Runtime:          lrt,
		Inputs:           in.Inputs,
		PolicyFlows:      in.PolicyFlows,
		TrustAnnotations: trusted(in.TrustedServers),
		RunID:            workflow.GetInfo(ctx).WorkflowExecution.ID,
		FlowPath:         in.Path,
		Progress:         func(ev workflows.Event) { events = append(events, eventView(ev)) },
	})
	if res == nil {
		return nil, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("run of %s did not start: %v", in.Path, err), notStartedType,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	resolutions.ended = res.Status
	out := flowOutput(res)
	out.Undecided = resolutions.undecided
	return f.fitOutput(out), nil
}

func trusted(servers []string) func(string) bool {
	return func(s string) bool { return slices.Contains(servers, s) }
}

func flowOutput(res *workflows.RunResult) *FlowOutput {
	out := &FlowOutput{RunID: res.RunID, Status: res.Status, Outputs: res.Outputs, Steps: res.Steps}
	out.Error, out.ErrorClass = errorFields(res.Err)
	if fr := res.Finally; fr != nil {
		out.Finally = &FinallyOutput{Status: fr.Status, Steps: fr.Steps}
		out.Finally.Error, out.Finally.ErrorClass = errorFields(fr.Err)
	}
	return out
}

func errorFields(err error) (msg, class string) {
	if err == nil {
		return "", ""
	}
	return err.Error(), workflows.ErrorClass(err)
}

// IsNotStarted reports whether err (a workflow's failure) says the run
// could not start.
func IsNotStarted(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == notStartedType
}

// QueryEvents is the query that returns a run's progress so far
// ([]EventView), in the order the interpreter reported it: what a local
// run gives RunOptions.Progress, for a client to follow a run.
const QueryEvents = "mediator.events"

// EventView is a workflows.Event as a query returns it.
type EventView struct {
	Kind workflows.EventKind `json:"kind"`
	Time time.Time           `json:"time"`
	// Path is the runtime path ("remind[3]") and StepPath the static one.
	Path     string `json:"path,omitempty"`
	StepPath string `json:"step_path,omitempty"`
	// Status is a step's or the run's status, or the decision taken
	// (workflows.EventResolved).
	Status string `json:"status,omitempty"`
	// Total is a for_each step's number of items, Attempt the attempt
	// that failed (retrying), the last one, or the one whose worker was
	// lost (workflows.EventBlocked), Delay the wait before the next.
	Total   int           `json:"total,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"`
	// Error and ErrorClass are the event's error and its class.
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
	// Progress is the server's report and Server the server
	// (EventProgress, from Progress).
	Progress *ProgressReport `json:"progress,omitempty"`
	Server   string          `json:"server,omitempty"`
}

func eventView(ev workflows.Event) EventView {
	v := EventView{Kind: ev.Kind, Time: ev.Time, Path: ev.Path, StepPath: ev.StepPath, Status: ev.Status,
		Total: ev.Total, Attempt: ev.Attempt, Delay: ev.Delay}
	v.Error, v.ErrorClass = errorFields(ev.Err)
	return v
}
