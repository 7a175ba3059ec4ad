package daemon

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Run states beyond the journal's (workflows.Run*): a run waiting for a
// slot under MaxConcurrentRuns, and one a shutdown or crash stopped that
// resumes when the daemon starts again.
const (
	StatusQueued      = "queued"
	StatusInterrupted = "interrupted"
)

// DefaultMaxConcurrentRuns is MaxConcurrentRuns when the config sets none.
const DefaultMaxConcurrentRuns = 4

// Resolve actions, as `mediator resume --rerun` and `--mark-done`.
const (
	ActionRerun    = "rerun"
	ActionMarkDone = "mark-done"
)

// RunsOptions configures NewRuns.
type RunsOptions struct {
	// StateDir holds the run journal (workflows.JournalFile, shared with
	// `mediator run`, `runs` and `resume`) and the daemon's StoreFile.
	StateDir string
	// Catalog is the workflows Submit may start; SetCatalog replaces it.
	Catalog *Catalog
	// Orchestrator is what runs call through, asked at each run.
	Orchestrator func() *orchestrator.Orchestrator
	// PolicyFlows and TrustAnnotations are the config's policy, as
	// workflows.RunOptions takes them.
	PolicyFlows      []flow.FlowEdge
	TrustAnnotations func(server string) bool
	// Server checks a server name when a journalled run's file is loaded
	// again to resume it (flow.ValidateOptions.Server); nil checks none.
	Server func(name string) error
	// Redactor scrubs known secrets from the journal, the store, events
	// and errors; asked at each use. Nil scrubs nothing.
	Redactor func() *credentials.Redactor
	// MaxConcurrentRuns bounds the runs executing at once; the others
	// queue in submission order. 0 is DefaultMaxConcurrentRuns.
	MaxConcurrentRuns int
	// Logger gets a record per run's end: its error's message only when
	// IncludeValues says audit.include_values is on (masked), since it may
	// quote what a server answered; otherwise its class (ValueFreeClass).
	Logger        *slog.Logger
	IncludeValues func() bool
	// Metrics, when set, records runs' states and steps (NewMetrics).
	Metrics *Metrics
}

// Runs is the daemon's run manager: runs of the catalog's workflows,
// submitted by the API or the scheduler, executed by the workflows engine
// detached from the request that submitted them, journalled in the state
// directory's run journal like `mediator run`'s.
type Runs struct {
	opts    RunsOptions
	log     *slog.Logger
	journal *workflows.Journal
	store   *store
	sem     chan struct{}

	// base is the context of every run; cancelled at the end of Shutdown.
	base       context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	catalog *Catalog
	live    map[string]*liveRun
	// closed is set when Shutdown begins, stopped when it closed the
	// journal and the store.
	closed, stopped bool
	wg              sync.WaitGroup
	// submitMu serializes submissions with an idempotency key: the
	// key's check and the insert are one step.
	submitMu sync.Mutex
}

// liveRun is a run this process queued or is executing.
type liveRun struct {
	id, workflow string
	hub          *hub
	cancel       context.CancelCauseFunc
	done         chan struct{}

	mu     sync.Mutex
	status string // StatusQueued or workflows.RunRunning
	steps  map[string]string
	// ended is set once the execution's outcome is journalled and
	// stored, before run-finished is sent: readers then take the
	// journal's status rather than "running".
	ended bool
}

func (lr *liveRun) end() {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.ended = true
}

// errUserCancel and errShutdown are the causes a run is cancelled with.
var (
	errUserCancel = errors.New("cancelled by request")
	errShutdown   = errors.New("the daemon is shutting down")
)

// NewRuns opens the journal and the store under opts.StateDir. Call
// ResumeInterrupted next, then Shutdown at the end.
func NewRuns(opts RunsOptions) (*Runs, error) {
	if opts.StateDir == "" {
		return nil, errors.New("daemon runs: no state directory")
	}
	if opts.Orchestrator == nil {
		return nil, errors.New("daemon runs: no orchestrator")
	}
	if opts.MaxConcurrentRuns < 0 {
		return nil, fmt.Errorf("daemon runs: max_concurrent_runs is %d; give a positive number (or 0 for the default, %d)", opts.MaxConcurrentRuns, DefaultMaxConcurrentRuns)
	}
	if opts.MaxConcurrentRuns == 0 {
		opts.MaxConcurrentRuns = DefaultMaxConcurrentRuns
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j, err := workflows.OpenJournal(filepath.Join(opts.StateDir, workflows.JournalFile), redactorFunc(opts.Redactor))
	if err != nil {
		return nil, fmt.Errorf("daemon runs: %w", err)
	}
	st, err := openStore(filepath.Join(opts.StateDir, StoreFile))
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("daemon runs: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Runs{
		opts: opts, log: log, journal: j, store: st,
		sem:  make(chan struct{}, opts.MaxConcurrentRuns),
		base: base, cancelBase: cancel,
		catalog: opts.Catalog, live: map[string]*liveRun{},
	}, nil
}

// redactorFunc asks for the redactor at each use: opening the keyring
// replaces it.
type redactorFunc func() *credentials.Redactor

func (f redactorFunc) Redact(s string) string {
	if f == nil {
		return s
	}
	if r := f(); r != nil {
		return r.Redact(s)
	}
	return s
}

func (r *Runs) redact(s string) string { return redactorFunc(r.opts.Redactor).Redact(s) }

// Redact masks the keyring's known secrets in s (RunService).
func (r *Runs) Redact(s string) string { return r.redact(s) }

func (r *Runs) redactValue(v map[string]any) map[string]any {
	if r.opts.Redactor == nil || v == nil {
		return v
	}
	if red := r.opts.Redactor(); red != nil {
		if m, ok := red.RedactValue(v).(map[string]any); ok {
			return m
		}
	}
	return v
}

// SetCatalog replaces the workflows Submit may start; runs already
// submitted keep the flow they were submitted with.
func (r *Runs) SetCatalog(c *Catalog) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catalog = c
}

// Catalog returns the workflows Submit may start.
func (r *Runs) Catalog() *Catalog {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.catalog
}

// Error codes of *Error.
const (
	CodeNotFound            = "not_found"
	CodeInvalidInputs       = "invalid_inputs"
	CodeWorkflowInvalid     = "workflow_invalid"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeConflict            = "conflict"
	CodeShuttingDown        = "shutting_down"
	CodeBadRequest          = "bad_request"
)

// Error is a request Runs refused; nothing was created or changed.
// Details lists every problem (each input's, each file problem).
type Error struct {
	Code    string
	Message string
	Details []string
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	return e.Message + ":\n  " + strings.Join(e.Details, "\n  ")
}

// Submission is what Submit answers.
type Submission struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Existing is set when the Idempotency-Key named a run submitted
	// before, which is returned instead of a new one.
	Existing bool `json:"-"`
}

// Submit starts a run of workflow with inputs, as Scheduler's Submitter:
// see SubmitRun.
func (r *Runs) Submit(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (string, error) {
	s, err := r.SubmitRun(ctx, workflow, inputs, idempotencyKey)
	return s.ID, err
}

// SubmitRun checks inputs against the workflow's inputs schema (every
// problem in an *Error with CodeInvalidInputs) and then records and queues
// a run, executed detached from ctx once a slot under MaxConcurrentRuns is
// free. With an idempotencyKey, a second submission of the same workflow
// with the same key returns the first's run (Existing), also after a
// restart; with other inputs it is refused (CodeIdempotencyConflict).
// Nothing is created when it returns an error.
func (r *Runs) SubmitRun(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (Submission, error) {
	r.mu.Lock()
	closed, cat := r.closed, r.catalog
	r.mu.Unlock()
	if closed {
		return Submission{}, &Error{Code: CodeShuttingDown, Message: "the daemon is shutting down and takes no new runs"}
	}
	w, err := cat.Runnable(workflow)
	if err != nil {
		return Submission{}, err
	}
	given, digest := NormalizeInputs(inputs)
	hash := keyHash(idempotencyKey)

	if hash != "" {
		r.submitMu.Lock()
		defer r.submitMu.Unlock()
		old, err := r.store.byKey(ctx, workflow, hash)
		if err != nil {
			return Submission{}, err
		}
		if old != nil {
			if old.InputsDigest != digest {
				return Submission{}, &Error{Code: CodeIdempotencyConflict, Message: fmt.Sprintf(
					"the Idempotency-Key was used for run %s of workflow %s with other inputs; use a new key for new inputs", old.ID, workflow)}
			}
			st, err := r.status(ctx, old)
			if err != nil {
				return Submission{}, err
			}
			return Submission{ID: old.ID, Status: st, Existing: true}, nil
		}
	}
	prepared, err := CheckInputs(ctx, w, given, r.redact)
	if err != nil {
		return Submission{}, err
	}
	now := time.Now()
	sub := &submission{
		ID: workflows.NewRunID(now), Workflow: workflow, FlowPath: w.Path, FlowName: w.Flow.Name, FlowDigest: w.Flow.RunDigest(), KeyHash: hash,
		InputsDigest: digest, Inputs: prepared, SubmittedAt: now,
	}
	stored := *sub
	stored.Inputs = r.redactValue(prepared)
	// Registered live before it is stored, so that no reader takes it for
	// a submission a shutdown left queued.
	ctxRun, lr := r.register(sub.ID, workflow, 0)
	if err := r.store.insert(ctx, &stored); err != nil {
		r.unregister(lr)
		return Submission{}, err
	}
	go r.execute(ctxRun, lr, sub, w.Flow, nil)
	return Submission{ID: sub.ID, Status: StatusQueued}, nil
}

// resumeMode says how start executes a run: nil runs it from the start,
// otherwise it resumes the journalled run with these options.
type resumeMode = *workflows.ResumeOptions

// start queues the run's execution.
func (r *Runs) start(sub *submission, fl *flow.Flow, resume resumeMode) {
	ctx, lr := r.register(sub.ID, sub.Workflow, sub.LastSeq)
	go r.execute(ctx, lr, sub, fl, resume)
}

// register makes a run live; execute, or unregister, ends it.
func (r *Runs) register(id, workflow string, lastSeq int64) (context.Context, *liveRun) {
	ctx, cancel := context.WithCancelCause(r.base)
	lr := &liveRun{id: id, workflow: workflow, hub: newHub(lastSeq), cancel: cancel, done: make(chan struct{}),
		status: StatusQueued, steps: map[string]string{}}
	r.opts.Metrics.RunState(workflow, StatusQueued)
	r.mu.Lock()
	r.live[id] = lr
	r.wg.Add(1)
	r.mu.Unlock()
	return ctx, lr
}

func (r *Runs) unregister(lr *liveRun) {
	r.mu.Lock()
	delete(r.live, lr.id)
	r.mu.Unlock()
	lr.cancel(nil)
	close(lr.done)
	r.wg.Done()
}

func (r *Runs) execute(ctx context.Context, lr *liveRun, sub *submission, fl *flow.Flow, resume resumeMode) {
	defer r.wg.Done()
	defer close(lr.done)
	defer func() {
		r.mu.Lock()
		delete(r.live, lr.id)
		r.mu.Unlock()
	}()
	log := r.log.With("run", lr.id, "workflow", lr.workflow)
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), errShutdown) || resume != nil {
			// It stays queued in the store (or as journalled) and starts
			// when the daemon does again.
			if err := r.store.setEnded(context.WithoutCancel(ctx), lr.id, nil, sub.Interrupted, lr.hub.nextSeq()); err != nil {
				log.Error("recording a queued run's stop failed", "error", r.redact(err.Error()))
			}
			lr.end()
			lr.hub.publish(Event{Type: EventRunFinished, Time: time.Now(), RunID: lr.id, Status: StatusInterrupted})
			return
		}
		// Cancelled while queued: journal it so, never to start.
		now := time.Now()
		if err := r.journal.CreateRun(cancelledRecord(sub, fl, now)); err != nil {
			log.Error("journalling a queued run's cancellation failed", "error", r.redact(err.Error()))
		}
		lr.end()
		lr.hub.publish(Event{Type: EventRunFinished, Time: now, RunID: lr.id, Status: workflows.RunCancelled, Error: errUserCancel.Error()})
		return
	}
	defer func() { <-r.sem }()
	lr.mu.Lock()
	lr.status = workflows.RunRunning
	lr.mu.Unlock()

	o := r.opts.Orchestrator()
	if o == nil {
		err := errors.New("no orchestrator to run it over")
		log.Error("run not started", "error", err.Error())
		lr.end()
		lr.hub.publish(Event{Type: EventRunFinished, Time: time.Now(), RunID: lr.id, Status: StatusQueued, Error: err.Error()})
		return
	}
	opts := workflows.RunOptions{
		Runtime:          workflows.NewLocalRuntime(r.opts.Metrics.Caller(o)),
		Journal:          r.journal,
		Inputs:           sub.Inputs,
		PolicyFlows:      r.opts.PolicyFlows,
		TrustAnnotations: r.opts.TrustAnnotations,
		RunID:            lr.id,
		FlowPath:         sub.FlowPath,
		Progress:         func(ev workflows.Event) { r.onEvent(lr, ev) },
		Logger:           log,
	}
	var (
		res    *workflows.RunResult
		runErr error
	)
	if resume == nil {
		res, runErr = workflows.Run(ctx, fl, opts)
	} else {
		res, runErr = workflows.Resume(ctx, fl, lr.id, opts, *resume)
	}
	if err := o.SyncAudit(context.WithoutCancel(ctx)); err != nil {
		runErr = errors.Join(runErr, err)
	}
	status := ""
	if res != nil {
		status = res.Status
	}
	interrupted := errors.Is(context.Cause(ctx), errShutdown) && status == workflows.RunCancelled
	if interrupted {
		status = StatusInterrupted
	}
	lr.mu.Lock()
	steps := maps(lr.steps)
	lr.mu.Unlock()
	if err := r.store.setEnded(context.WithoutCancel(ctx), lr.id, steps, interrupted, lr.hub.nextSeq()); err != nil {
		log.Error("recording how the run ended failed; an interrupted run will not resume on its own", "error", r.redact(err.Error()))
	}
	if status == "" {
		// Nothing ran: the journal, or a resume that could not start.
		status = r.notStarted(context.WithoutCancel(ctx), lr.id, resume != nil, runErr)
	}
	r.opts.Metrics.RunState(lr.workflow, status)
	lr.end()
	ev := Event{Type: EventRunFinished, Time: time.Now(), RunID: lr.id, Status: status}
	if runErr != nil {
		ev.Error = r.redact(runErr.Error())
		class := workflows.ErrorClass(runErr)
		if ValueFreeClass(class) || (r.opts.IncludeValues != nil && r.opts.IncludeValues()) {
			log.Info("run ended", "status", status, "error_class", class, "error", ev.Error)
		} else {
			log.Info("run ended", "status", status, "error_class", class)
		}
	} else {
		log.Info("run ended", "status", status)
	}
	lr.hub.publish(ev)
}

// notStarted is the status of a run whose execution ran nothing. A resume
// refused for a lasting reason (the flow file changed, the journal does not
// match it) leaves the run failed with that reason, where Get shows it and
// from where `mediator resume` can take it up once the cause is fixed,
// rather than interrupted and retried at every start. One refused because
// another process holds the run leaves it as it is.
func (r *Runs) notStarted(ctx context.Context, id string, resumed bool, runErr error) string {
	rec, err := r.journal.RunByID(ctx, id)
	if err != nil {
		return workflows.RunFailed
	}
	var held *workflows.RunHeldError
	if !resumed || runErr == nil || errors.As(runErr, &held) || rec.Status == workflows.RunSucceeded || rec.Status == workflows.RunBlocked {
		return rec.Status
	}
	rec.Status, rec.Error = workflows.RunFailed, "the daemon could not resume it: "+runErr.Error()
	rec.UpdatedAt, rec.FinishedAt = time.Now(), time.Now()
	if err := r.journal.UpdateRun(rec); err != nil {
		r.log.Error("journalling a resume that could not start failed", "run", id, "error", r.redact(err.Error()))
	}
	return rec.Status
}

// onEvent records a step's state and passes the engine's event on.
func (r *Runs) onEvent(lr *liveRun, ev workflows.Event) {
	r.opts.Metrics.EngineEvent(lr.workflow, lr.id, ev)
	if ev.Kind == workflows.EventRunStarted {
		r.opts.Metrics.RunState(lr.workflow, workflows.RunRunning)
	}
	if ev.Kind == workflows.EventRunFinished {
		return // the daemon's own comes once the audit is written
	}
	out := Event{Type: string(ev.Kind), Time: ev.Time, RunID: lr.id, Path: ev.Path, Status: ev.Status,
		Attempt: ev.Attempt, Reused: ev.Reused, Items: ev.Total}
	if out.Time.IsZero() {
		out.Time = time.Now()
	}
	if ev.Kind == workflows.EventRunStarted {
		out.RunID = lr.id
	}
	if ev.Err != nil {
		out.Error = r.redact(ev.Err.Error())
	}
	if ev.Kind == workflows.EventProgress {
		out.Server, out.Progress, out.Total, out.Message = ev.Report.Server, ev.Report.Progress, ev.Report.Total, r.redact(ev.Report.Message)
	}
	switch ev.Kind {
	case workflows.EventStepStarted, workflows.EventStepFinished, workflows.EventItemFinished:
		st := ev.Status
		if ev.Kind == workflows.EventStepStarted {
			st = workflows.RunRunning
		}
		lr.mu.Lock()
		lr.steps[ev.Path] = st
		lr.mu.Unlock()
	}
	lr.hub.publish(out)
}

// RunInfo is a run as Get and List report it.
type RunInfo struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	// Status is queued, running, interrupted, or the journal's state:
	// succeeded, failed, cancelled, timed_out, blocked.
	Status      string         `json:"status"`
	Inputs      map[string]any `json:"inputs,omitempty"`
	Outputs     map[string]any `json:"outputs,omitempty"`
	Error       string         `json:"error,omitempty"`
	SubmittedAt time.Time      `json:"submitted_at"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	FinishedAt  time.Time      `json:"finished_at,omitzero"`
	Resumes     int            `json:"resumes,omitempty"`
	// Finally is how the flow's finally steps ended, FinallyError why
	// they failed.
	Finally      string `json:"finally,omitempty"`
	FinallyError string `json:"finally_error,omitempty"`
	// Steps are the states of the steps and items this daemon saw run
	// (by runtime path); Calls, every call's last attempt as journalled.
	// Get fills both; List neither.
	Steps map[string]string `json:"steps,omitempty"`
	Calls []CallInfo        `json:"calls,omitempty"`
	// Blocked lists the calls a blocked run waits on Resolve for.
	Blocked []CallInfo `json:"blocked,omitempty"`
}

// CallInfo is a call's last journalled attempt.
type CallInfo struct {
	Path       string `json:"path"`
	Step       string `json:"step"`
	Server     string `json:"server"`
	Tool       string `json:"tool"`
	State      string `json:"state"`
	Attempt    int    `json:"attempt"`
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
	// StartedAt and FinishedAt time the attempt; FinishedAt is zero
	// while it is under way.
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

func notFound(id string) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no run %q submitted to this daemon", id)}
}

// Workflow returns the workflow a run was submitted for, or an *Error
// with CodeNotFound.
func (r *Runs) Workflow(ctx context.Context, id string) (string, error) {
	if err := r.checkStopped(); err != nil {
		return "", err
	}
	sub, err := r.store.get(ctx, id)
	if err != nil {
		return "", err
	}
	if sub == nil {
		return "", notFound(id)
	}
	return sub.Workflow, nil
}

// Get returns one run with its steps and calls; an unknown id is an
// *Error with CodeNotFound.
func (r *Runs) Get(ctx context.Context, id string) (*RunInfo, error) {
	if err := r.checkStopped(); err != nil {
		return nil, err
	}
	sub, err := r.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, notFound(id)
	}
	info, rec, err := r.info(ctx, sub)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return info, nil
	}
	last, err := r.journal.LastAttempts(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, a := range last {
		c := CallInfo{Path: a.Path, Step: a.Step, Server: a.Server, Tool: a.Tool, State: a.State, Attempt: a.Attempt, Error: a.Error, ErrorClass: a.ErrorClass,
			StartedAt: a.StartedAt, FinishedAt: a.FinishedAt}
		info.Calls = append(info.Calls, c)
		if info.Status == workflows.RunBlocked && (a.State == workflows.AttemptStarted || a.State == workflows.AttemptCancelled) {
			info.Blocked = append(info.Blocked, c)
		}
	}
	sort.Slice(info.Calls, func(i, j int) bool { return info.Calls[i].Path < info.Calls[j].Path })
	sort.Slice(info.Blocked, func(i, j int) bool { return info.Blocked[i].Path < info.Blocked[j].Path })
	return info, nil
}

// info is a run's summary: the live state when this process runs it, else
// the journal's, else queued.
func (r *Runs) info(ctx context.Context, sub *submission) (*RunInfo, *workflows.RunRecord, error) {
	// Liveness first: a run that ends meanwhile is then read from the
	// journal and the store as they are after it.
	r.mu.Lock()
	lr := r.live[sub.ID]
	r.mu.Unlock()
	live, liveStatus := false, ""
	var liveSteps map[string]string
	if lr != nil {
		lr.mu.Lock()
		live, liveStatus, liveSteps = !lr.ended, lr.status, maps(lr.steps)
		lr.mu.Unlock()
		if !live {
			fresh, err := r.store.get(ctx, sub.ID)
			if err != nil {
				return nil, nil, err
			}
			if fresh != nil {
				sub = fresh
			}
		}
	}
	info := &RunInfo{ID: sub.ID, Workflow: sub.Workflow, Inputs: sub.Inputs, SubmittedAt: sub.SubmittedAt, Status: StatusQueued}
	rec, err := r.journal.RunByID(ctx, sub.ID)
	switch {
	case errors.Is(err, workflows.ErrRunNotFound):
		rec = nil
	case err != nil:
		return nil, nil, err
	}
	if rec != nil {
		info.Status, info.Outputs, info.Error = rec.Status, rec.Outputs, rec.Error
		info.StartedAt, info.FinishedAt, info.Resumes = rec.StartedAt, rec.FinishedAt, rec.Resumes
		info.Finally, info.FinallyError = rec.Finally, rec.FinallyError
		info.Inputs = rec.Inputs
	}
	switch {
	case live:
		if liveStatus == StatusQueued && (rec == nil || rec.Status != workflows.RunRunning) {
			info.Status = StatusQueued
		} else {
			info.Status = workflows.RunRunning
		}
		info.Steps = liveSteps
	case rec != nil:
		info.Steps = sub.Steps
		interrupted := (rec.Status == workflows.RunRunning && r.deadHolder(rec.PID)) ||
			(sub.Interrupted && rec.Status == workflows.RunCancelled)
		if interrupted {
			info.Status = StatusInterrupted
		}
	case !r.isClosed():
		// Not in the journal and not live: a submission a shutdown or
		// crash left queued, which ResumeInterrupted starts.
		info.Status = StatusInterrupted
	}
	return info, rec, nil
}

// deadHolder reports whether the process a run is journalled running in
// is gone. This process counts as gone for a run it does not run: an
// earlier daemon had the same pid (pid 1 in a container), since this
// process runs a daemon run only while it is live here.
func (r *Runs) deadHolder(pid int) bool {
	return pid == os.Getpid() || !workflows.ProcessAlive(pid)
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var errStopped = &Error{Code: CodeShuttingDown, Message: "the daemon has shut down"}

// checkStopped refuses reads once Shutdown closed the journal.
func (r *Runs) checkStopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	return nil
}

func (r *Runs) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Runs) status(ctx context.Context, sub *submission) (string, error) {
	info, _, err := r.info(ctx, sub)
	if err != nil {
		return "", err
	}
	return info.Status, nil
}

// ListOptions filters and pages List.
type ListOptions struct {
	Workflow, Status string
	// Cursor is the NextCursor of the page before; "" starts at the
	// newest run.
	Cursor string
	// Limit is the page size: 1 to MaxListLimit, 0 for DefaultListLimit.
	Limit int
	// Allow, when set, keeps only the runs of the workflows it allows.
	Allow func(workflow string) bool
}

// Page sizes of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// RunPage is one page of List; NextCursor is "" on the last.
type RunPage struct {
	Runs       []*RunInfo `json:"runs"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// List pages through the runs submitted to the daemon, newest first.
func (r *Runs) List(ctx context.Context, lo ListOptions) (*RunPage, error) {
	if err := r.checkStopped(); err != nil {
		return nil, err
	}
	switch {
	case lo.Limit == 0:
		lo.Limit = DefaultListLimit
	case lo.Limit < 0 || lo.Limit > MaxListLimit:
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("limit %d: give 1 to %d", lo.Limit, MaxListLimit)}
	}
	var afterAt int64
	var afterID string
	if lo.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(lo.Cursor)
		at, id, ok := strings.Cut(string(raw), ":")
		n, perr := strconv.ParseInt(at, 10, 64)
		if err != nil || !ok || perr != nil || id == "" {
			return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("cursor %q is not one List returned; start without a cursor", lo.Cursor)}
		}
		afterAt, afterID = n, id
	}
	page := &RunPage{Runs: []*RunInfo{}}
	batch := max(lo.Limit, 100)
	for {
		subs, err := r.store.page(ctx, lo.Workflow, afterAt, afterID, batch)
		if err != nil {
			return nil, err
		}
		for _, sub := range subs {
			afterAt, afterID = sub.SubmittedAt.UnixNano(), sub.ID
			if lo.Allow != nil && !lo.Allow(sub.Workflow) {
				continue
			}
			info, _, err := r.info(ctx, sub)
			if err != nil {
				return nil, err
			}
			if lo.Status != "" && info.Status != lo.Status {
				continue
			}
			info.Inputs = nil
			page.Runs = append(page.Runs, info)
			if len(page.Runs) == lo.Limit {
				page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(afterAt, 10) + ":" + afterID))
				return page, nil
			}
		}
		if len(subs) < batch {
			return page, nil
		}
	}
}

// Cancel stops a queued or running run (journalled cancelled) or a
// blocked one; a run that ended is a CodeConflict *Error.
func (r *Runs) Cancel(ctx context.Context, id string) (*RunInfo, error) {
	if err := r.checkStopped(); err != nil {
		return nil, err
	}
	sub, err := r.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, notFound(id)
	}
	r.mu.Lock()
	lr := r.live[id]
	r.mu.Unlock()
	if lr != nil {
		lr.cancel(errUserCancel)
		select {
		case <-lr.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return r.Get(ctx, id)
	}
	info, rec, err := r.info(ctx, sub)
	if err != nil {
		return nil, err
	}
	switch {
	case rec != nil && (info.Status == workflows.RunBlocked || info.Status == StatusInterrupted):
		rec.Status, rec.Error, rec.UpdatedAt, rec.FinishedAt = workflows.RunCancelled, errUserCancel.Error(), time.Now(), time.Now()
		if err := r.journal.UpdateRun(rec); err != nil {
			return nil, err
		}
		if err := r.store.setInterrupted(ctx, id, false); err != nil {
			return nil, err
		}
	case rec == nil:
		// Left queued by a shutdown: journal it cancelled, never to run.
		var fl *flow.Flow
		if w := r.Catalog().Get(sub.Workflow); w != nil && w.Valid() && w.Path == sub.FlowPath {
			fl = w.Flow // what ResumeInterrupted would start it with
		}
		if err := r.journal.CreateRun(cancelledRecord(sub, fl, time.Now())); err != nil {
			return nil, err
		}
	default:
		return nil, &Error{Code: CodeConflict, Message: fmt.Sprintf("run %s is %s already; only a queued, running, interrupted or blocked run can be cancelled", id, info.Status)}
	}
	return r.Get(ctx, id)
}

// cancelledRecord is the journal's record of a run cancelled before it
// started: the name and run digest of fl, the flow it would have started
// with, else (nil: its file is gone from the catalog) those the
// submission recorded, so that the run lists as its flow's and `mediator
// resume` takes it up (from the start) while the file is unchanged.
func cancelledRecord(sub *submission, fl *flow.Flow, now time.Time) *workflows.RunRecord {
	name, digest := sub.FlowName, sub.FlowDigest
	if fl != nil {
		name, digest = fl.Name, fl.RunDigest()
	}
	if name == "" {
		name = sub.Workflow
	}
	return &workflows.RunRecord{ID: sub.ID, FlowName: name, FlowPath: sub.FlowPath, FlowDigest: digest, Inputs: sub.Inputs,
		Status: workflows.RunCancelled, Error: errUserCancel.Error(), StartedAt: now, UpdatedAt: now, FinishedAt: now, PID: os.Getpid()}
}

// Resolve settles the calls a blocked run waits on, as `mediator resume
// --rerun` (ActionRerun: call them again) or `--mark-done` (ActionMarkDone:
// they took effect) does, and resumes the run. calls narrows it to some of
// the blocked calls (call paths or step ids); empty means all. A run that
// is not blocked is a CodeConflict *Error.
func (r *Runs) Resolve(ctx context.Context, id, action string, calls []string) (*RunInfo, error) {
	if action != ActionRerun && action != ActionMarkDone {
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("action %q: give %s (call the blocked calls again) or %s (they took effect)", action, ActionRerun, ActionMarkDone)}
	}
	if r.isClosed() {
		return nil, &Error{Code: CodeShuttingDown, Message: "the daemon is shutting down and resumes no runs"}
	}
	info, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Status != workflows.RunBlocked {
		return nil, &Error{Code: CodeConflict, Message: fmt.Sprintf("run %s is %s, not blocked: there is nothing to resolve", id, info.Status)}
	}
	if len(info.Blocked) == 0 {
		return nil, &Error{Code: CodeConflict, Message: fmt.Sprintf("run %s is blocked but the journal shows no interrupted call to settle; see `mediator runs show %s` and resume it with `mediator resume %s`", id, id, id)}
	}
	var paths []string
	for _, c := range info.Blocked {
		if len(calls) == 0 || slices.ContainsFunc(calls, func(s string) bool { return s == c.Path || s == c.Step }) {
			paths = append(paths, c.Path)
		}
	}
	if len(paths) == 0 {
		var all []string
		for _, c := range info.Blocked {
			all = append(all, c.Path)
		}
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("calls %s name none of run %s's blocked calls: %s", strings.Join(calls, ", "), id, strings.Join(all, ", "))}
	}
	ro := &workflows.ResumeOptions{}
	if action == ActionRerun {
		ro.Rerun = paths
	} else {
		ro.MarkDone = paths
	}
	if err := r.resume(ctx, id, ro); err != nil {
		return nil, err
	}
	return r.Get(ctx, id)
}

// Extend resumes a run that timed out with by more time, as `mediator
// resume --extend` does: journalled successes are reused, interrupted safe
// calls are sent again, and the run gets by instead of its flow's timeout
// (a run with an interrupted unsafe call ends blocked, for Resolve). A run
// that did not time out is a CodeConflict *Error; by must be positive.
func (r *Runs) Extend(ctx context.Context, id string, by time.Duration) (*RunInfo, error) {
	if by <= 0 {
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("by %s: give the time the resumed run gets, a positive duration such as \"10m\"", by)}
	}
	if r.isClosed() {
		return nil, &Error{Code: CodeShuttingDown, Message: "the daemon is shutting down and resumes no runs"}
	}
	info, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Status != workflows.RunTimedOut {
		return nil, &Error{Code: CodeConflict, Message: fmt.Sprintf("run %s is %s, not %s: only a run that timed out is resumed with more time", id, info.Status, workflows.RunTimedOut)}
	}
	if err := r.resume(ctx, id, &workflows.ResumeOptions{Extend: by}); err != nil {
		return nil, err
	}
	return r.Get(ctx, id)
}

// resume loads the run's file again (as `mediator resume` does: a changed
// file is refused by workflows.Resume) and queues its resumption.
func (r *Runs) resume(ctx context.Context, id string, ro *workflows.ResumeOptions) error {
	if r.isClosed() {
		return &Error{Code: CodeShuttingDown, Message: "the daemon is shutting down"}
	}
	sub, err := r.store.get(ctx, id)
	if err != nil {
		return err
	}
	if sub == nil {
		return notFound(id)
	}
	fl, ps, err := workflows.LoadForRun(ctx, sub.FlowPath, flow.ValidateOptions{PolicyFlows: r.opts.PolicyFlows, Server: r.opts.Server})
	if err == nil {
		if errs := ps.Errors(); len(errs) > 0 {
			err = errs
		}
	}
	if err != nil {
		return &Error{Code: CodeWorkflowInvalid, Message: fmt.Sprintf("run %s cannot resume: its workflow file %s does not load: %v", id, sub.FlowPath, r.redact(err.Error()))}
	}
	r.mu.Lock()
	_, running := r.live[id]
	r.mu.Unlock()
	if running {
		return &Error{Code: CodeConflict, Message: fmt.Sprintf("run %s is running already", id)}
	}
	r.start(sub, fl, ro)
	return nil
}

// ResumeInterrupted starts what a shutdown or crash left: submissions
// never started run from the start; runs journalled running by a process
// that died, or cancelled by a shutdown, resume by the workflow resume
// rules (journalled successes reused, interrupted safe calls sent again;
// a run with an interrupted unsafe call ends blocked and waits for
// Resolve). It returns the ids it started, and every problem.
func (r *Runs) ResumeInterrupted(ctx context.Context) ([]string, error) {
	subs, err := r.store.all(ctx)
	if err != nil {
		return nil, err
	}
	var (
		started []string
		errs    []error
	)
	for _, sub := range subs {
		r.mu.Lock()
		_, live := r.live[sub.ID]
		r.mu.Unlock()
		if live {
			continue
		}
		rec, err := r.journal.RunByID(ctx, sub.ID)
		switch {
		case errors.Is(err, workflows.ErrRunNotFound):
			w := r.Catalog().Get(sub.Workflow)
			if w == nil || !w.Valid() || w.Path != sub.FlowPath {
				errs = append(errs, fmt.Errorf("run %s of workflow %s was queued but its workflow is no longer in the catalog as it was; it is not started", sub.ID, sub.Workflow))
				continue
			}
			r.start(sub, w.Flow, nil)
			started = append(started, sub.ID)
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		crashed := rec.Status == workflows.RunRunning && r.deadHolder(rec.PID)
		stopped := sub.Interrupted && rec.Status == workflows.RunCancelled
		if !crashed && !stopped {
			continue
		}
		if crashed && rec.PID == os.Getpid() {
			// An earlier daemon with this pid (pid 1 in a container)
			// left it: the claim would take this process for the
			// holder.
			rec.PID = 0
			if err := r.journal.UpdateRun(rec); err != nil {
				errs = append(errs, fmt.Errorf("resume run %s: %w", sub.ID, err))
				continue
			}
		}
		if err := r.resume(ctx, sub.ID, &workflows.ResumeOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("resume run %s: %w", sub.ID, err))
			continue
		}
		started = append(started, sub.ID)
	}
	return started, errors.Join(errs...)
}

// Subscribe returns the run's events after seq (0 for all still kept),
// then the live ones; the channel closes after run-finished. A run that
// is not live answers one run-finished event with its current status.
// cancel ends the subscription.
func (r *Runs) Subscribe(ctx context.Context, id string, after int64) (<-chan Event, func(), error) {
	r.mu.Lock()
	lr := r.live[id]
	r.mu.Unlock()
	if lr != nil {
		ch, cancel := lr.hub.subscribe(after)
		return ch, cancel, nil
	}
	info, err := r.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan Event, 1)
	seq := after + 1
	if sub, err := r.store.get(ctx, id); err == nil && sub != nil && sub.LastSeq > after {
		seq = sub.LastSeq
	}
	ch <- Event{Seq: seq, Type: EventRunFinished, Time: time.Now(), RunID: id, Status: info.Status, Error: info.Error}
	close(ch)
	return ch, func() {}, nil
}

// Wait blocks until the run is no longer executing in this process
// (finished, blocked, or stopped by Shutdown), or ctx ends.
func (r *Runs) Wait(ctx context.Context, id string) error {
	r.mu.Lock()
	lr := r.live[id]
	r.mu.Unlock()
	if lr == nil {
		return nil
	}
	select {
	case <-lr.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Accepting reports whether Submit takes runs (false once Shutdown began).
func (r *Runs) Accepting() bool { return !r.isClosed() }

// Shutdown stops accepting runs, waits for the running ones until ctx
// ends (the grace period), then cancels the rest: those running are
// journalled cancelled and marked interrupted, those queued stay queued,
// and both start again at the next ResumeInterrupted. It closes the
// journal and the store.
func (r *Runs) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	idle := make(chan struct{})
	go func() { r.wg.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
		r.mu.Lock()
		for _, lr := range r.live {
			lr.cancel(errShutdown)
		}
		r.mu.Unlock()
		<-idle
	}
	r.cancelBase()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	return errors.Join(r.journal.Close(), r.store.close())
}
