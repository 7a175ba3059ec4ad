// Package temporalruns is the daemon's run manager under engine:
// temporal: a daemon.RunService whose runs execute as Temporal workflows
// (workflows/temporal's mediator.RunFlow, on the flow workers) rather
// than in the daemon. The daemon starts, reads, follows and cancels them
// through temporal.Runs; it holds no server credentials for them and
// keeps no journal (Temporal's history is the journal). docs/daemon.md
// says what differs from the local run manager.
package temporalruns

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// Options configures New.
type Options struct {
	// Runs is the client side of runs on the cluster.
	Runs *temporal.Runs
	// Catalog is the workflows SubmitRun may start; SetCatalog replaces
	// it.
	Catalog *daemon.Catalog
	// Validate is how a workflow file is validated again as it is read
	// for a run (temporal.ReadFlowInput): the policy's flows, the
	// servers, as the catalog was loaded.
	Validate flow.ValidateOptions
	// PolicyFlows, TrustedServers and ServerTimeouts go into every run's
	// temporal.FlowInput: the config's policy.flows, the servers whose
	// annotations are trusted, the servers' call timeouts.
	PolicyFlows    []flow.FlowEdge
	TrustedServers []string
	ServerTimeouts map[string]time.Duration
	// Redactor masks known secrets in every error, output, input and
	// event returned; asked at each use. Nil masks nothing.
	Redactor func() *credentials.Redactor
	Logger   *slog.Logger
	// Close, when set, is called by Shutdown: the client's Close.
	Close func()
}

// Service is a daemon.RunService over Temporal. Its methods are safe for
// concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger

	// base ends every event stream at Shutdown.
	base       context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	catalog *daemon.Catalog
	closed  bool
	// workflowOf caches each run's catalog workflow, which never
	// changes: the API and the page ask for it before every read.
	workflowOf map[string]string
}

var (
	_ daemon.RunService   = (*Service)(nil)
	_ daemon.ReadyChecker = (*Service)(nil)
)

// New returns a Service over o.Runs.
func New(o Options) (*Service, error) {
	if o.Runs == nil || o.Runs.Client == nil {
		return nil, errors.New("temporal runs: no Temporal client")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Service{opts: o, log: log, base: base, cancelBase: cancel, catalog: o.Catalog, workflowOf: map[string]string{}}, nil
}

// Catalog returns the workflows SubmitRun may start.
func (s *Service) Catalog() *daemon.Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalog
}

// SetCatalog replaces the workflows SubmitRun may start; runs already
// started keep the flow they were started with (it is in their input).
func (s *Service) SetCatalog(c *daemon.Catalog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catalog = c
}

// Accepting reports whether SubmitRun takes runs (false once Shutdown
// began).
func (s *Service) Accepting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// Shutdown stops taking runs, ends the event streams and closes the
// client (Options.Close). The runs go on in the cluster; a daemon started
// again reads them there.
func (s *Service) Shutdown(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancelBase()
	if s.opts.Close != nil {
		s.opts.Close()
	}
	return nil
}

// readyTimeout bounds Ready's health check.
const readyTimeout = 2 * time.Second

// Ready reports whether the cluster answers (Temporal's health check),
// for /readyz (daemon.ReadyChecker).
func (s *Service) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if _, err := s.opts.Runs.Client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("the Temporal cluster does not answer: %w", err)
	}
	return nil
}

// Redact masks the keyring's known secrets in text.
func (s *Service) Redact(text string) string {
	if s.opts.Redactor == nil {
		return text
	}
	if r := s.opts.Redactor(); r != nil {
		return r.Redact(text)
	}
	return text
}

func (s *Service) redactValue(v map[string]any) map[string]any {
	if s.opts.Redactor == nil || v == nil {
		return v
	}
	if r := s.opts.Redactor(); r != nil {
		if m, ok := r.RedactValue(v).(map[string]any); ok {
			return m
		}
	}
	return v
}

// Submit starts a run of workflow with inputs, as the scheduler's
// daemon.Submitter: see SubmitRun.
func (s *Service) Submit(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (string, error) {
	sub, err := s.SubmitRun(ctx, workflow, inputs, idempotencyKey)
	return sub.ID, err
}

// startAttempts bounds the fresh run ids SubmitRun tries when one is
// taken (workflows.NewRunID has 24 random bits per second).
const startAttempts = 3

// SubmitRun checks inputs against the catalog workflow's inputs schema as
// daemon.Runs does, reads the workflow's file and its sub-flows again
// (validated as the catalog was), and starts the run as a workflow on the
// flow workers' queue. Nothing is started when it returns an error.
//
// With an idempotencyKey the run id is derived from the workflow's name
// and the key (keyedRunID), so that Temporal, which never reuses a
// workflow id, decides which submission starts the run: a second
// submission with the same key returns the first's run (Existing), or is
// refused with CodeIdempotencyConflict when its inputs differ. This holds
// for as long as the namespace keeps the first run (its retention).
func (s *Service) SubmitRun(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (daemon.Submission, error) {
	if !s.Accepting() {
		return daemon.Submission{}, &daemon.Error{Code: daemon.CodeShuttingDown, Message: "the daemon is shutting down and takes no new runs"}
	}
	w, err := s.Catalog().Runnable(workflow)
	if err != nil {
		return daemon.Submission{}, err
	}
	given, _ := daemon.NormalizeInputs(inputs)
	prepared, err := daemon.CheckInputs(ctx, w, given, s.Redact)
	if err != nil {
		return daemon.Submission{}, err
	}
	in, probs, err := temporal.ReadFlowInput(ctx, w.Path, s.opts.Validate)
	if err != nil {
		return daemon.Submission{}, &daemon.Error{Code: daemon.CodeWorkflowInvalid, Message: fmt.Sprintf("workflow %s cannot run: %s", workflow, s.Redact(err.Error()))}
	}
	if errs := probs.Errors(); len(errs) > 0 {
		var details []string
		for _, p := range errs {
			details = append(details, s.Redact(p.String()))
		}
		return daemon.Submission{}, &daemon.Error{Code: daemon.CodeWorkflowInvalid, Message: fmt.Sprintf("workflow %s does not validate and cannot run; fix %s", workflow, w.Path), Details: details}
	}
	in.Inputs = prepared
	in.PolicyFlows, in.TrustedServers, in.ServerTimeouts = s.opts.PolicyFlows, s.opts.TrustedServers, s.opts.ServerTimeouts

	start := temporal.StartOptions{Input: in, Workflow: workflow, IdempotencyKey: daemon.KeyHash(idempotencyKey)}
	for attempt := 1; ; attempt++ {
		start.RunID = workflows.NewRunID(time.Now())
		if idempotencyKey != "" {
			start.RunID = keyedRunID(workflow, idempotencyKey)
		}
		err = s.opts.Runs.Start(ctx, start)
		if err == nil {
			s.remember(start.RunID, workflow)
			return daemon.Submission{ID: start.RunID, Status: workflows.RunRunning}, nil
		}
		if errors.Is(err, temporal.ErrWouldNotFit) {
			return daemon.Submission{}, &daemon.Error{Code: daemon.CodeWorkflowInvalid, Message: fmt.Sprintf("workflow %s cannot run on Temporal with these inputs: %s", workflow, s.Redact(err.Error()))}
		}
		if !errors.Is(err, temporal.ErrRunExists) {
			return daemon.Submission{}, fmt.Errorf("start a run of workflow %s: %w", workflow, err)
		}
		if idempotencyKey != "" {
			return s.existing(ctx, start.RunID, workflow, prepared)
		}
		if attempt == startAttempts {
			return daemon.Submission{}, fmt.Errorf("start a run of workflow %s: %d run ids in a row were taken: %w", workflow, attempt, err)
		}
	}
}

// keyedRunID is the run id of workflow's submission with an idempotency
// key: "key-" and 32 hex digits of the SHA-256 of both (the key itself is
// never kept).
func keyedRunID(workflow, key string) string {
	sum := sha256.Sum256([]byte(workflow + "\x00" + key))
	return "key-" + hex.EncodeToString(sum[:16])
}

// existing answers a resubmission whose key names run id: that run, when
// it is workflow's with the same inputs.
func (s *Service) existing(ctx context.Context, id, workflow string, prepared map[string]any) (daemon.Submission, error) {
	d, err := s.opts.Runs.Describe(ctx, id)
	if err != nil {
		return daemon.Submission{}, s.readErr(id, err)
	}
	_, had := daemon.NormalizeInputs(d.Inputs)
	_, now := daemon.NormalizeInputs(prepared)
	if d.Workflow != workflow || had != now {
		return daemon.Submission{}, &daemon.Error{Code: daemon.CodeIdempotencyConflict, Message: fmt.Sprintf(
			"the Idempotency-Key was used for run %s of workflow %s with other inputs; use a new key for new inputs", id, workflow)}
	}
	s.remember(id, workflow)
	return daemon.Submission{ID: id, Status: d.Status, Existing: true}, nil
}

// maxRemembered bounds the cache of runs' workflows.
const maxRemembered = 4096

func (s *Service) remember(id, workflow string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.workflowOf) >= maxRemembered {
		clear(s.workflowOf)
	}
	s.workflowOf[id] = workflow
}

func notFound(id string) error {
	return &daemon.Error{Code: daemon.CodeNotFound, Message: fmt.Sprintf("no run %q submitted to this daemon", id)}
}

// readErr turns a read's failure into an *Error for an unknown run, else
// wraps it (redacted).
func (s *Service) readErr(id string, err error) error {
	if errors.Is(err, workflows.ErrRunNotFound) {
		return notFound(id)
	}
	return errors.New(s.Redact(err.Error()))
}

// describe reads run id; a workflow that is not a run the daemon
// submitted (no catalog workflow in its memo: `mediator run --engine
// temporal` started it) is not found, as the local daemon does not list
// the CLI's runs.
func (s *Service) describe(ctx context.Context, id string) (*temporal.RunDetail, error) {
	d, err := s.opts.Runs.Describe(ctx, id)
	if err != nil {
		return nil, s.readErr(id, err)
	}
	if d.Workflow == "" {
		return nil, notFound(id)
	}
	s.remember(id, d.Workflow)
	return d, nil
}

// Workflow returns the workflow a run was submitted for, or an *Error
// with CodeNotFound.
func (s *Service) Workflow(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	wf, ok := s.workflowOf[id]
	s.mu.Unlock()
	if ok {
		return wf, nil
	}
	d, err := s.describe(ctx, id)
	if err != nil {
		return "", err
	}
	return d.Workflow, nil
}

// Get returns one run: its status, inputs, outputs, error and step states
// (from its events; a closed run's events need a flow worker to replay
// its history, else the output's steps stand). A running run waiting for
// resolve (temporal.Status) is blocked, with its Blocked calls. Calls
// stays empty: there is no journal of attempts.
func (s *Service) Get(ctx context.Context, id string) (*daemon.RunInfo, error) {
	d, err := s.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	info := s.summary(d.RunSummary)
	info.Inputs = s.redactValue(d.Inputs)
	if o := d.Output; o != nil {
		info.Outputs = s.redactValue(o.Outputs)
	}
	info.Steps = steps(d.Events)
	if len(d.Events) > 0 {
		info.StartedAt = d.Events[0].Time
	}
	if d.Status == workflows.RunRunning && d.EventsError == "" {
		// A running run may wait for resolve; a flow worker that did not
		// answer the events query would not answer this one either.
		if st, err := temporal.Status(ctx, s.opts.Runs.Client, id); err == nil && st.Status == workflows.RunBlocked {
			info.Status, info.Blocked = workflows.RunBlocked, blockedCalls(st)
		}
	}
	if len(info.Steps) == 0 && d.Output != nil && len(d.Output.Steps) > 0 {
		info.Steps = d.Output.Steps
	}
	return info, nil
}

// summary is a run as List shows it.
func (s *Service) summary(r temporal.RunSummary) *daemon.RunInfo {
	return &daemon.RunInfo{ID: r.ID, Workflow: r.Workflow, Status: r.Status, Error: s.Redact(r.Error),
		SubmittedAt: r.StartedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Finally: r.Finally, FinallyError: s.Redact(r.FinallyError)}
}

// blockedCalls are a blocked run's calls waiting for resolve.
func blockedCalls(st *temporal.StatusView) []daemon.CallInfo {
	var out []daemon.CallInfo
	for _, b := range st.Blocked {
		out = append(out, daemon.CallInfo{Path: b.Path, Step: cmp.Or(b.Step, b.StepID), Server: b.Server, Tool: b.Tool,
			State: workflows.AttemptStarted, Attempt: b.Attempt})
	}
	return out
}

// statusTimeout bounds List's question to each running run whether it is
// blocked; a run whose flow worker does not answer in time lists as
// running.
const statusTimeout = 2 * time.Second

// markBlocked sets the status of the running runs among infos that wait
// for resolve, asking a few at a time. Once one question times out (no
// flow worker answers), the rest are not asked: they list as running.
func (s *Service) markBlocked(ctx context.Context, infos []*daemon.RunInfo) {
	ctx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, 4)
	)
	for _, info := range infos {
		if info.Status != workflows.RunRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := temporal.Status(qctx, s.opts.Runs.Client, info.ID)
			switch {
			case err == nil && st.Status == workflows.RunBlocked:
				info.Status = workflows.RunBlocked
			case errors.Is(qctx.Err(), context.DeadlineExceeded):
				giveUp()
			}
		}()
	}
	wg.Wait()
}

// steps is the state of each step and item the events show, by runtime
// path, as daemon.Runs records them.
func steps(evs []temporal.EventView) map[string]string {
	out := map[string]string{}
	for _, ev := range evs {
		switch ev.Kind {
		case workflows.EventStepStarted:
			out[ev.Path] = workflows.RunRunning
		case workflows.EventStepFinished, workflows.EventItemFinished:
			out[ev.Path] = ev.Status
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// List pages through the daemon's runs, newest first (Temporal's
// visibility order: running runs, then by close time). The cursor is
// Temporal's page token; Workflow and Allow are applied here, as is the
// rule that only runs the daemon submitted are shown.
func (s *Service) List(ctx context.Context, lo daemon.ListOptions) (*daemon.RunPage, error) {
	switch {
	case lo.Limit == 0:
		lo.Limit = daemon.DefaultListLimit
	case lo.Limit < 0 || lo.Limit > daemon.MaxListLimit:
		return nil, &daemon.Error{Code: daemon.CodeBadRequest, Message: fmt.Sprintf("limit %d: give 1 to %d", lo.Limit, daemon.MaxListLimit)}
	}
	var token []byte
	if lo.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(lo.Cursor)
		if err != nil || len(b) == 0 {
			return nil, &daemon.Error{Code: daemon.CodeBadRequest, Message: fmt.Sprintf("cursor %q is not one List returned; start without a cursor", lo.Cursor)}
		}
		token = b
	}
	page := &daemon.RunPage{Runs: []*daemon.RunInfo{}}
	status := lo.Status
	switch lo.Status {
	case daemon.StatusQueued, daemon.StatusInterrupted:
		// Runs on Temporal are never queued in the daemon nor
		// interrupted by its restarts.
		return page, nil
	case workflows.RunBlocked:
		// Visibility has them running; each is asked (markBlocked).
		status = workflows.RunRunning
	}
	for {
		runs, next, err := s.opts.Runs.List(ctx, temporal.ListOptions{Limit: lo.Limit - len(page.Runs), PageToken: token, Status: status})
		if err != nil {
			return nil, errors.New(s.Redact(err.Error()))
		}
		var infos []*daemon.RunInfo
		for _, r := range runs {
			if r.Workflow == "" || lo.Workflow != "" && r.Workflow != lo.Workflow || lo.Allow != nil && !lo.Allow(r.Workflow) {
				continue
			}
			infos = append(infos, s.summary(r))
		}
		s.markBlocked(ctx, infos)
		for _, info := range infos {
			if lo.Status == "" || info.Status == lo.Status {
				page.Runs = append(page.Runs, info)
			}
		}
		token = next
		if len(token) == 0 {
			return page, nil
		}
		if len(page.Runs) >= lo.Limit {
			page.NextCursor = base64.RawURLEncoding.EncodeToString(token)
			return page, nil
		}
	}
}

// Cancel cancels a running (or blocked) run and waits (until ctx ends) for it to end:
// the call in flight is cancelled on its worker (the server gets
// notifications/cancelled) and the finally steps still run. A run that
// ended is a CodeConflict *Error.
func (s *Service) Cancel(ctx context.Context, id string) (*daemon.RunInfo, error) {
	d, err := s.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Status != workflows.RunRunning {
		return nil, &daemon.Error{Code: daemon.CodeConflict, Message: fmt.Sprintf("run %s is %s already; only a running or blocked run can be cancelled", id, d.Status)}
	}
	if err := s.opts.Runs.Cancel(ctx, id); err != nil {
		return nil, s.readErr(id, err)
	}
	if _, err := s.opts.Runs.Result(ctx, id); err != nil {
		return nil, s.readErr(id, err)
	}
	return s.Get(ctx, id)
}

// Resolve settles the calls a blocked run waits on, as daemon.Runs does
// for a local run: ActionRerun sends them again, ActionMarkDone accepts
// that they took effect (their steps succeed with a null result); calls
// narrows it to some of them (call paths, step paths or step ids), empty
// meaning all. It signals the run (temporal.Resolve, the mediator.resolve
// signal), which goes on by itself. A run that is not blocked is a
// CodeConflict *Error, a name that is no blocked call's CodeBadRequest.
func (s *Service) Resolve(ctx context.Context, id, action string, calls []string) (*daemon.RunInfo, error) {
	if action != daemon.ActionRerun && action != daemon.ActionMarkDone {
		return nil, &daemon.Error{Code: daemon.CodeBadRequest, Message: fmt.Sprintf("action %q: give %s (call the blocked calls again) or %s (they took effect)", action, daemon.ActionRerun, daemon.ActionMarkDone)}
	}
	if !s.Accepting() {
		return nil, &daemon.Error{Code: daemon.CodeShuttingDown, Message: "the daemon is shutting down and resumes no runs"}
	}
	info, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Status != workflows.RunBlocked {
		return nil, &daemon.Error{Code: daemon.CodeConflict, Message: fmt.Sprintf("run %s is %s, not blocked: there is nothing to resolve", id, info.Status)}
	}
	st, err := temporal.Status(ctx, s.opts.Runs.Client, id)
	if err != nil {
		return nil, s.readErr(id, err)
	}
	var all []string
	for _, b := range st.Blocked {
		all = append(all, b.Path)
	}
	for _, n := range calls {
		if !slices.ContainsFunc(st.Blocked, func(b temporal.BlockedCallView) bool { return n == b.Path || n == b.Step || n == b.StepID }) {
			return nil, &daemon.Error{Code: daemon.CodeBadRequest, Message: fmt.Sprintf("calls %s name none of run %s's blocked calls: %s", strings.Join(calls, ", "), id, strings.Join(all, ", "))}
		}
	}
	// daemon.Action* and workflows.Resolve* are the same words.
	if err := temporal.Resolve(ctx, s.opts.Runs.Client, id, action, calls); err != nil {
		return nil, s.readErr(id, err)
	}
	return s.Get(ctx, id)
}

// Extend resumes a timed-out run with more time on the local engine. On
// Temporal there is no journal to resume from: every run is a
// CodeConflict *Error saying to submit it again.
func (s *Service) Extend(ctx context.Context, id string, by time.Duration) (*daemon.RunInfo, error) {
	if by <= 0 {
		return nil, &daemon.Error{Code: daemon.CodeBadRequest, Message: fmt.Sprintf("by %s: give the time the resumed run gets, a positive duration such as \"10m\"", by)}
	}
	info, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, &daemon.Error{Code: daemon.CodeConflict, Message: fmt.Sprintf(
		"run %s is %s: a run on Temporal (engine: temporal) cannot be resumed with more time; submit it again (docs/daemon.md)", id, info.Status)}
}

// subBuffer is a subscriber's channel buffer; the follower waits for a
// slow reader rather than dropping events.
const subBuffer = 256

// Subscribe follows the run's mediator.events query from the event after
// seq after: each EventView becomes a daemon.Event numbered by its place
// in the run's events (from 1), then run-finished once the workflow
// closed, and the channel closes. The engine's own run-finished event is
// left out, as daemon.Runs leaves it (the daemon's comes with the run's
// result). A follow that fails midway closes the channel without
// run-finished: the client resumes with Last-Event-ID.
func (s *Service) Subscribe(ctx context.Context, id string, after int64) (<-chan daemon.Event, func(), error) {
	if _, err := s.Workflow(ctx, id); err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(s.base)
	stop := context.AfterFunc(ctx, cancel)
	ch := make(chan daemon.Event, subBuffer)
	go func() {
		defer close(ch)
		defer stop()
		defer cancel()
		send := func(ev daemon.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-fctx.Done():
				return false
			}
		}
		seq := after
		out, err := s.opts.Runs.Follow(fctx, id, int(after), func(v temporal.EventView) {
			if v.Kind == workflows.EventProgress {
				// A server's report on a call in flight, read from its
				// worker's heartbeat (Runs.FollowProgress): not one of the
				// run's events, so it takes the last event's id and a
				// client reconnecting does not get it again.
				send(s.event(id, seq, v))
				return
			}
			seq++
			if v.Kind != workflows.EventRunFinished {
				send(s.event(id, seq, v))
			}
		})
		if err != nil {
			if fctx.Err() == nil {
				s.log.Warn("following a run's events failed", "run", id, "error", s.Redact(err.Error()))
			}
			return
		}
		send(daemon.Event{Seq: seq + 1, Type: daemon.EventRunFinished, Time: time.Now(), RunID: id, Status: out.Status, Error: s.Redact(out.Error)})
	}()
	return ch, cancel, nil
}

// event is an engine event as the daemon sends it: the one conversion of
// temporal.EventView into daemon.Event.
func (s *Service) event(id string, seq int64, v temporal.EventView) daemon.Event {
	ev := daemon.Event{Seq: seq, Type: string(v.Kind), Time: v.Time, RunID: id, Path: v.Path, Status: v.Status,
		Attempt: v.Attempt, Items: v.Total, Error: s.Redact(v.Error)}
	if p := v.Progress; p != nil {
		ev.Server, ev.Progress, ev.Total, ev.Message = v.Server, p.Progress, p.Total, s.Redact(p.Message)
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	return ev
}
