package temporal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/workflows"
)

// Runs is the client side of runs on Temporal: it starts, follows,
// lists, describes and cancels RunFlow workflows. With Temporal the
// history is the journal: a run's record is its workflow (id = run id),
// its memo, its mediator.events query and its result.
type Runs struct {
	Client client.Client
	// FlowQueue is the flow workers' task queue; empty is FlowQueue.
	FlowQueue string
	// Codec is the payload codec Client was dialled with (ClientOptions):
	// the memo and the first event's input are decoded with it. Nil
	// reads them in clear.
	Codec *Codec
	// Limits are the history limits a run is checked against before it
	// starts (CheckFits); zero fields use Temporal's defaults, as the flow
	// workers' Flows.Limits do.
	Limits Limits
	// PollInterval is how often Follow asks a running workflow for its
	// events; zero is DefaultPollInterval.
	PollInterval time.Duration
	// FollowProgress has Follow also report, after each poll's events,
	// the servers' progress reports of the calls in flight (Progress:
	// EventProgress views, each when it changed): one DescribeWorkflow
	// more per poll.
	FollowProgress bool
}

// DefaultPollInterval is how often Follow queries a running workflow:
// each query is a round trip through the server to a flow worker, so
// progress shows at most this late (docs/scale.md).
const DefaultPollInterval = 500 * time.Millisecond

// ErrRunExists is Start's error for a run id that a workflow has (or
// had) already: run ids are never reused.
var ErrRunExists = errors.New("a run with this id exists")

// StartOptions say what Start starts.
type StartOptions struct {
	// RunID is the workflow id (workflows.NewRunID makes one as a local
	// run does).
	RunID string
	Input FlowInput
	// Workflow is the daemon's catalog name of the flow, if it has one.
	Workflow string
	// IdempotencyKey is the key the run was submitted with, if any.
	IdempotencyKey string
}

// Memo keys of a run's workflow (encrypted with the payloads when the
// client has a Codec).
const (
	memoFlowName       = "flow_name"
	memoFlowPath       = "flow_path"
	memoFlowDigest     = "flow_digest"
	memoWorkflow       = "workflow"
	memoIdempotencyKey = "idempotency_key"
)

func (r *Runs) queue() string {
	if r.FlowQueue != "" {
		return r.FlowQueue
	}
	return FlowQueue
}

func (r *Runs) converter() converter.DataConverter {
	if r.Codec != nil {
		dc, _ := Converters(r.Codec)
		return dc
	}
	return converter.GetDefaultDataConverter()
}

// Start starts a run of o.Input. A run id already taken, by a running
// or a closed workflow, is an error wrapping ErrRunExists.
func (r *Runs) Start(ctx context.Context, o StartOptions) error {
	id := o.RunID
	if id == "" {
		return errors.New("start run: no run id")
	}
	// A run that cannot fit is refused here, not halfway.
	if _, err := CheckFits(ctx, o.Input, r.Limits); err != nil {
		return fmt.Errorf("start run %s: %w", id, err)
	}
	sum := sha256.Sum256(o.Input.Source)
	memo := map[string]any{
		memoFlowName:   flowName(o.Input.Source),
		memoFlowPath:   o.Input.Path,
		memoFlowDigest: hex.EncodeToString(sum[:]),
	}
	if o.Workflow != "" {
		memo[memoWorkflow] = o.Workflow
	}
	if o.IdempotencyKey != "" {
		memo[memoIdempotencyKey] = o.IdempotencyKey
	}
	_, err := r.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                r.queue(),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo:                                     memo,
	}, WorkflowRunFlow, o.Input)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return fmt.Errorf("start run %s: %w", id, ErrRunExists)
		}
		return fmt.Errorf("start run %s: %w", id, err)
	}
	return nil
}

// flowName is the name: a flow file gives, "" when it has none (the file
// was validated before it was submitted; the workflow validates it again).
func flowName(src []byte) string {
	var doc struct {
		Name string `yaml:"name"`
	}
	if yaml.Unmarshal(src, &doc) != nil {
		return ""
	}
	return doc.Name
}

// Events returns run id's events so far (the mediator.events query). A
// closed run's events come from a flow worker replaying its history.
func (r *Runs) Events(ctx context.Context, id string) ([]EventView, error) {
	v, err := r.Client.QueryWorkflow(ctx, id, "", QueryEvents)
	if err != nil {
		return nil, r.notFound(id, fmt.Errorf("query the events of run %s: %w", id, err))
	}
	var evs []EventView
	if err := v.Get(&evs); err != nil {
		return nil, fmt.Errorf("read the events of run %s: %w", id, err)
	}
	return evs, nil
}

// Follow calls fn with run id's events after the first after of them, in
// order, as they come (querying every PollInterval), until the run ends;
// then with the rest, and returns how it ended (Result). With
// FollowProgress, the calls' progress reports come between them (they do
// not count in after). It stops when ctx ends, with ctx's error; the run
// goes on (Cancel cancels it).
func (r *Runs) Follow(ctx context.Context, id string, after int, fn func(EventView)) (*FlowOutput, error) {
	every := r.PollInterval
	if every <= 0 {
		every = DefaultPollInterval
	}
	type result struct {
		out *FlowOutput
		err error
	}
	getCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan result, 1)
	go func() {
		out, err := r.Result(getCtx, id)
		done <- result{out, err}
	}()
	seen := after
	deliver := func(evs []EventView) {
		for ; seen < len(evs); seen++ {
			fn(evs[seen])
		}
	}
	reported := map[string]ProgressReport{}
	progress := func() {
		views, err := Progress(ctx, r.Client, r.Codec, id)
		if err != nil {
			return // reports are best effort; the next poll tries again
		}
		for _, v := range views {
			if v.Progress == nil || reported[v.Path] == *v.Progress {
				continue
			}
			reported[v.Path] = *v.Progress
			fn(v)
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case res := <-done:
			if res.err != nil {
				return nil, res.err
			}
			// The events the run made since the last poll. A run that
			// could not start has none; a query that fails now (no flow
			// worker to replay the history) leaves the caller with what
			// it has.
			if evs, err := r.Events(ctx, id); err == nil {
				deliver(evs)
			}
			return res.out, nil
		case <-t.C:
			evs, err := r.Events(ctx, id)
			switch {
			case err == nil:
				deliver(evs)
				if r.FollowProgress {
					progress()
				}
			case errors.Is(err, workflows.ErrRunNotFound):
				return nil, err
			}
			// Another failure (a flow worker busy or restarting) is
			// retried at the next poll; the result still ends the loop.
			t.Reset(every)
		}
	}
}

// Result waits for run id to end and returns how it did. A run that
// could not start (a workflow failure of type mediator.NotStarted), was
// terminated or timed out is a FlowOutput too (failed, cancelled,
// timed_out) with its error: the error returned is only for a run that
// cannot be read.
func (r *Runs) Result(ctx context.Context, id string) (*FlowOutput, error) {
	var out FlowOutput
	err := r.Client.GetWorkflow(ctx, id, "").Get(ctx, &out)
	if err == nil {
		if out.RunID == "" {
			out.RunID = id
		}
		return &out, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if o := failedOutput(id, err); o != nil {
		return o, nil
	}
	return nil, r.notFound(id, fmt.Errorf("result of run %s: %w", id, err))
}

// failedOutput is the FlowOutput of a workflow that ended without one,
// or nil when err is not such an end.
func failedOutput(id string, err error) *FlowOutput {
	var (
		canceled   *temporal.CanceledError
		terminated *temporal.TerminatedError
		timeout    *temporal.TimeoutError
		wee        *temporal.WorkflowExecutionError
		app        *temporal.ApplicationError
	)
	out := &FlowOutput{RunID: id}
	switch {
	case errors.As(err, &canceled):
		out.Status, out.ErrorClass = workflows.RunCancelled, workflows.ClassCancelled
		out.Error = "the workflow was cancelled before the run started"
	case errors.As(err, &terminated):
		// Stopped by an operator (temporal workflow terminate): its
		// finally steps did not run.
		out.Status, out.ErrorClass = workflows.RunCancelled, workflows.ClassCancelled
		out.Error = "the workflow was terminated: " + terminated.Error()
	case errors.As(err, &timeout):
		out.Status, out.ErrorClass = workflows.RunTimedOut, workflows.ClassTimedOut
		out.Error = "the workflow timed out: " + timeout.Error()
	case errors.As(err, &app):
		out.Status, out.Error = workflows.RunFailed, app.Message()
		if IsNotStarted(err) {
			out.ErrorClass = workflows.ClassRefused
		}
	case errors.As(err, &wee):
		out.Status, out.Error = workflows.RunFailed, wee.Error()
	default:
		return nil
	}
	return out
}

// notFound wraps workflows.ErrRunNotFound into err when Temporal knows no
// workflow id.
func (r *Runs) notFound(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("run %q: %w", id, workflows.ErrRunNotFound)
	}
	return err
}

// Cancel cancels run id as Ctrl-C cancels a local run: its calls in
// flight are cancelled and its finally steps run (Follow or Result then
// return it cancelled).
func (r *Runs) Cancel(ctx context.Context, id string) error {
	if err := r.Client.CancelWorkflow(ctx, id, ""); err != nil {
		return r.notFound(id, fmt.Errorf("cancel run %s: %w", id, err))
	}
	return nil
}

// ListOptions say which runs List returns.
type ListOptions struct {
	// Limit bounds the page; zero is 100.
	Limit int
	// PageToken is the previous page's next token, nil for the first.
	PageToken []byte
	// Status keeps the runs of one status (RunSummary.Status); empty
	// keeps all. A running run is asked whether it is blocked only when
	// Status is blocked (or with MarkBlocked).
	Status string
	// MarkBlocked asks each running run listed whether it is blocked
	// (Status, at most queryWait each) and shows it so.
	MarkBlocked bool
}

// RunSummary is one run as List shows it.
type RunSummary struct {
	ID       string `json:"id"`
	FlowName string `json:"flow_name"`
	FlowPath string `json:"flow_path"`
	// FlowDigest is the hex SHA-256 of the flow file's bytes.
	FlowDigest     string `json:"flow_digest"`
	Workflow       string `json:"workflow,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Status is the journal's: running (blocked when asked:
	// ListOptions.MarkBlocked), then the FlowOutput's (succeeded, failed,
	// cancelled, timed_out); a run that could not start is failed, a
	// terminated workflow cancelled; RunUnknown when its result cannot be
	// read here.
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Error is why a closed run failed, was cancelled or timed out.
	Error string `json:"error,omitempty"`
	// Finally and FinallyError are how its finally steps ended.
	Finally      string `json:"finally,omitempty"`
	FinallyError string `json:"finally_error,omitempty"`
}

// listQuery selects RunFlow workflows; the visibility store orders them
// newest first (running ones first, then by close time).
const listQuery = "WorkflowType = '" + WorkflowRunFlow + "'"

// List returns a page of runs, newest first, and the token of the next
// page (nil at the end). A closed run's status is its result's, read
// from its history (one request per closed run in the page).
func (r *Runs) List(ctx context.Context, o ListOptions) ([]RunSummary, []byte, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = 100
	}
	q := listQuery
	switch o.Status {
	case "":
	case workflows.RunRunning, workflows.RunBlocked:
		q += " AND ExecutionStatus = 'Running'"
	default:
		q += " AND ExecutionStatus != 'Running'"
	}
	var out []RunSummary
	token := o.PageToken
	for {
		resp, err := r.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(limit - len(out)), NextPageToken: token, Query: q,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list runs: %w", err)
		}
		page, err := r.summaries(ctx, resp.GetExecutions())
		if err != nil {
			return nil, nil, err
		}
		if o.MarkBlocked || o.Status == workflows.RunBlocked {
			r.markBlocked(ctx, page)
		}
		for _, s := range page {
			if o.Status == "" || s.Status == o.Status {
				out = append(out, s)
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(out) >= limit {
			return out, token, nil
		}
	}
}

// queryWait bounds a query a flow worker must answer for a listing or a
// description (is a running run blocked, its events so far): a run whose
// flow worker is busy or gone is still listed and described.
const queryWait = 2 * time.Second

// markBlocked gives each running run that waits on a decision (Status)
// the status blocked.
func (r *Runs) markBlocked(ctx context.Context, page []RunSummary) {
	for i := range page {
		if page[i].Status != workflows.RunRunning {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, queryWait)
		st, err := Status(qctx, r.Client, page[i].ID)
		cancel()
		if err == nil && st.Status == workflows.RunBlocked {
			page[i].Status = workflows.RunBlocked
		}
	}
}

// summaries reads the runs of one page, the closed runs' results a few
// at a time. Runs that continued as new are left out: the chain's last
// run stands for them.
func (r *Runs) summaries(ctx context.Context, infos []*workflowpb.WorkflowExecutionInfo) ([]RunSummary, error) {
	out := make([]RunSummary, 0, len(infos))
	for _, info := range infos {
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			continue
		}
		out = append(out, r.summary(info))
	}
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
		mu    sync.Mutex
		first error
	)
	for i := range out {
		if out[i].Status != workflows.RunRunning {
			wg.Add(1)
			go func(s *RunSummary) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := r.settle(ctx, s); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}(&out[i])
		}
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// summary is what visibility says of a run; a closed one's status is
// settled from its result.
func (r *Runs) summary(info *workflowpb.WorkflowExecutionInfo) RunSummary {
	s := RunSummary{ID: info.GetExecution().GetWorkflowId(), StartedAt: info.GetStartTime().AsTime()}
	if ct := info.GetCloseTime(); ct != nil && info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		s.FinishedAt = ct.AsTime()
	}
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		s.Status = workflows.RunRunning
	}
	dc := r.converter()
	for key, dst := range map[string]*string{
		memoFlowName: &s.FlowName, memoFlowPath: &s.FlowPath, memoFlowDigest: &s.FlowDigest,
		memoWorkflow: &s.Workflow, memoIdempotencyKey: &s.IdempotencyKey,
	} {
		if p, ok := info.GetMemo().GetFields()[key]; ok {
			_ = dc.FromPayload(p, dst) // a memo this client cannot read shows empty
		}
	}
	return s
}

// RunUnknown is the status List gives a closed run whose result this
// client cannot read (a payload under another codec key): the rest of
// the list is still shown, the run's Error says why.
const RunUnknown = "unknown"

// settle fills in a closed run's status from its result.
func (r *Runs) settle(ctx context.Context, s *RunSummary) error {
	out, err := r.Result(ctx, s.ID)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.Status, s.Error = RunUnknown, err.Error()
		return nil
	}
	s.Status, s.Error = out.Status, out.Error
	if f := out.Finally; f != nil {
		s.Finally, s.FinallyError = f.Status, f.Error
	}
	return nil
}

// IDsWithPrefix returns the ids of up to limit runs whose id begins with
// prefix, through visibility (which records a run a moment after it
// starts), for a command that takes a unique prefix as the journal
// does. A prefix with a quote or a backslash matches nothing.
func (r *Runs) IDsWithPrefix(ctx context.Context, prefix string, limit int) ([]string, error) {
	if prefix == "" || strings.ContainsAny(prefix, `'"\`) {
		return nil, nil
	}
	resp, err := r.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(limit), Query: listQuery + " AND WorkflowId STARTS_WITH '" + prefix + "'",
	})
	if err != nil {
		return nil, fmt.Errorf("list runs with id prefix %q: %w", prefix, err)
	}
	var ids []string
	for _, info := range resp.GetExecutions() {
		id := info.GetExecution().GetWorkflowId()
		if !slices.Contains(ids, id) && len(ids) < limit {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// RunDetail is one run as Describe shows it.
type RunDetail struct {
	RunSummary
	// Inputs are the run's inputs as it was started with them.
	Inputs map[string]any `json:"inputs"`
	// Events are its events so far; EventsError says why they could not
	// be read (a closed run's events need a flow worker to replay it).
	Events      []EventView `json:"events"`
	EventsError string      `json:"events_error,omitempty"`
	// Output is how it ended, nil while it runs.
	Output *FlowOutput `json:"output,omitempty"`
}

// Describe returns run id's summary, inputs, events and, once it ended,
// its output. An id Temporal does not know, or the id of a workflow that
// is not a run, is an error wrapping workflows.ErrRunNotFound.
func (r *Runs) Describe(ctx context.Context, id string) (*RunDetail, error) {
	desc, err := r.Client.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return nil, r.notFound(id, fmt.Errorf("describe run %s: %w", id, err))
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != WorkflowRunFlow {
		return nil, fmt.Errorf("run %q: workflow %s is a %s: %w", id, id, info.GetType().GetName(), workflows.ErrRunNotFound)
	}
	d := &RunDetail{RunSummary: r.summary(info)}
	in, err := r.input(ctx, id)
	if err != nil {
		return nil, err
	}
	d.Inputs = in.Inputs
	if d.Status != workflows.RunRunning {
		out, err := r.Result(ctx, id)
		if err != nil {
			return nil, err
		}
		d.Output = out
		d.Status, d.Error = out.Status, out.Error
		if f := out.Finally; f != nil {
			d.Finally, d.FinallyError = f.Status, f.Error
		}
	}
	// The events are a query a flow worker answers: bounded, so that a
	// run no worker serves is still described (without its steps).
	qctx, cancel := context.WithTimeout(ctx, queryWait)
	defer cancel()
	evs, err := r.Events(qctx, id)
	if err != nil {
		d.EventsError = err.Error()
		if qctx.Err() != nil && ctx.Err() == nil {
			d.EventsError = fmt.Sprintf("no flow worker answered within %s: start `mediator-temporal worker --flows`", queryWait)
		}
	}
	d.Events = evs
	return d, nil
}

// input reads the FlowInput run id was started with: its history's first
// event.
func (r *Runs) input(ctx context.Context, id string) (*FlowInput, error) {
	it := r.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, fmt.Errorf("run %q: %w", id, workflows.ErrRunNotFound)
	}
	ev, err := it.Next()
	if err != nil {
		return nil, r.notFound(id, fmt.Errorf("read the history of run %s: %w", id, err))
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return nil, fmt.Errorf("run %s: its history does not begin with its start", id)
	}
	var in FlowInput
	if err := r.converter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return nil, fmt.Errorf("read the input of run %s: %w", id, err)
	}
	return &in, nil
}
