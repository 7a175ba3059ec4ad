package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/argcheck"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Step statuses, as expressions read them in .steps.<id>.status and
// .steps.<id>.items[].status.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusCancelled = "cancelled"
)

// DefaultMaxConcurrency bounds a for_each that sets no max_concurrency.
// The for_each is the only throttle between a list and a server (the
// orchestrator does not queue calls), and the server is often a rate-limited
// API or one stdio process answering one request at a time, where more
// requests in flight only queue up there or get refused as rate-limited.
// Eight hides most of the latency of I/O-bound calls (as browsers' six
// connections per host do) without hammering anyone; a flow that knows its
// server copes with more says so with max_concurrency (the benchmark uses
// 64). The bound is per run of the for_each: one nested inside another's
// items multiplies.
const DefaultMaxConcurrency = 8

// RunOptions configures Run and Resume.
type RunOptions struct {
	// Runtime makes the calls; required.
	Runtime Runtime
	// Journal records the run; nil runs without a journal (no resume).
	Journal *Journal
	// Inputs are the run's inputs before defaults; Run validates them
	// against the flow's input schemas and fills defaults before any call.
	Inputs map[string]any
	// PolicyFlows are the global config's policy.flows, allowed in
	// addition to the flow file's own flows:, when the engine decides the
	// data-flow policy itself: a Runtime that decides it (FlowDecider)
	// holds its own policy.
	PolicyFlows []flow.FlowEdge
	// TrustAnnotations says whether a server's tool annotations
	// (readOnlyHint, idempotentHint) may make its tools safe to call again
	// under the retry rule; nil trusts none, as in ValidateOptions.
	TrustAnnotations func(server string) bool
	// RunID names the run; empty generates one from the clock and random
	// bits. A runtime that replays a run (a Temporal workflow) must give
	// one that its replay gives again, such as its workflow id: retry
	// jitter is derived from it.
	RunID string
	// FlowPath is the file the flow was loaded from, as journalled;
	// empty uses Flow.Source.
	FlowPath string
	// Progress, if set, receives every step and item event. It is called
	// from many goroutines and must be quick.
	Progress func(Event)
	Logger   *slog.Logger
}

// EventKind tells what an Event reports.
type EventKind string

const (
	EventRunStarted   EventKind = "run-started"
	EventStepStarted  EventKind = "step-started"
	EventItemFinished EventKind = "item-finished"
	EventRetrying     EventKind = "retrying"
	// EventProgress is a server's progress report (or a task's status)
	// about a call or read in flight.
	EventProgress     EventKind = "progress"
	EventStepFinished EventKind = "step-finished"
	EventRunFinished  EventKind = "run-finished"
)

// Event is one progress report.
type Event struct {
	Kind EventKind
	Time time.Time
	// Path is the runtime path ("remind", "remind[3]", "batch[2]/upload").
	Path string
	// Step is the static step (nil for run events).
	Step   *flow.Step
	Status string
	// Total is the number of items (EventStepStarted of a for_each step).
	Total int
	// Attempt is the attempt that failed (EventRetrying) or the last one.
	Attempt int
	// Reused is set when a result came from the journal of an earlier
	// attempt of this run instead of a call.
	Reused bool
	// Delay is the wait before the next attempt (EventRetrying).
	Delay time.Duration
	Err   error
	// RunID is set on run events.
	RunID string
	// Finally is how the finally steps ended (EventRunFinished of a flow
	// that has them), beside Status.
	Finally *FinallyResult
	// Timeout is the run's time (EventRunStarted), 0 for none.
	Timeout time.Duration
	// Report is the server's report (EventProgress): untrusted text.
	Report connectors.Progress

	// StepPath is Step's static path in the run: Step.Path, under the
	// uses steps that run its flow ("sync.uses/add").
	StepPath string
}

// RunResult is what a run produced.
type RunResult struct {
	RunID  string
	Status string // a Run* constant
	// Outputs are the flow's outputs, evaluated when every step settled
	// without failing the run.
	Outputs map[string]any
	// Steps holds the final status of every top-level step by ID.
	Steps map[string]string
	// Err is why the run failed, was cancelled or blocked; also returned
	// by Run.
	Err error
	// Finally is how the flow's finally steps ended; nil when it has none
	// or they did not run (a blocked resume). Their failure is reported
	// here, beside Status and Err, never in them.
	Finally *FinallyResult
}

// Run executes flow: it checks and completes the inputs, then runs the
// steps in dependency order, independent steps concurrently, journalling
// every call attempt, within the flow's timeout if it has one, evaluates
// the outputs, and then runs the flow's finally steps whatever the outcome
// (RunResult.Finally). The returned error is the run's failure (also in
// RunResult.Err), never the finally steps'; a RunResult is returned
// whenever the run started.
func Run(ctx context.Context, fl *flow.Flow, opts RunOptions) (*RunResult, error) {
	if opts.Runtime == nil {
		return nil, errors.New("run flow: no runtime given")
	}
	inputs, err := PrepareInputs(ctx, fl, opts.Inputs)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(fl, opts, inputs)
	if err != nil {
		return nil, err
	}
	if e.runID == "" {
		e.runID = NewRunID(opts.Runtime.Now(ctx))
	}
	rec := &RunRecord{
		ID:         e.runID,
		FlowName:   fl.Name,
		FlowPath:   e.flowPath(),
		FlowDigest: fl.RunDigest(),
		Inputs:     inputs,
		Status:     RunRunning,
		StartedAt:  opts.Runtime.Now(ctx),
		UpdatedAt:  opts.Runtime.Now(ctx),
		PID:        os.Getpid(),
		Timeout:    fl.Timeout,
	}
	if opts.Journal != nil {
		if err := opts.Journal.CreateRun(rec); err != nil {
			return nil, err
		}
	}
	return e.execute(ctx, rec)
}

// engine is one run of one flow.
type engine struct {
	flow    *flow.Flow
	opts    RunOptions
	rt      Runtime
	journal *Journal
	log     *slog.Logger
	runID   string
	inputs  map[string]any
	// prov is the flow's data-flow analysis and sources each call step's
	// sources, which every call hands the runtime. decides says the
	// runtime decides the data-flow policy; when it does not, refused
	// holds the first undeclared flow of each call step the engine
	// refuses itself.
	prov    *flow.Provenance
	sources map[*flow.Step][]string
	decides bool
	refused map[*flow.Step]flow.Violation
	// retained are the step IDs some expression references: only their
	// views are kept in memory once they finish.
	retained map[string]bool
	// itemsNeeded are the for_each steps some expression reads beyond
	// their status, counts and error: only they keep their items, so a
	// 10,000-item loop that nothing reads item by item holds counts only
	// (the journal has every result).
	itemsNeeded map[string]bool
	// contentNeeded are the call steps some expression may read the raw
	// content or text of; the others skip building them.
	contentNeeded map[string]bool
	resume        *resumeState
	// byID finds a step by id (ids are unique across the file).
	byID map[string]*flow.Step

	toolsMu sync.Mutex
	tools   map[[2]string]*toolSlot

	// handlers are the step IDs named by some on_error.
	handlers map[string]bool

	// uses is set on the engine of a sub-flow (engine_uses.go); subs are
	// the engines of the uses steps of this one, made once per run.
	uses   *usesLink
	subsMu sync.Mutex
	subs   map[*flow.Step]*engine

	// timeout is the run's time (the flow's timeout:, or resume
	// --extend's), or a sub-flow's for each run of it; 0 for none.
	timeout time.Duration
}

// toolEntry is a tool's definition and compiled output schema.
type toolEntry struct {
	server string
	tool   *mcp.Tool
	output *argcheck.Schema
}

// toolSlot holds one tool's lookup for the run: the entry, or a failure
// that will not pass (no such tool, not allowed).
type toolSlot struct {
	ent *toolEntry
	err error
}

func newEngine(fl *flow.Flow, opts RunOptions, inputs map[string]any) (*engine, error) {
	e := &engine{
		flow:          fl,
		opts:          opts,
		rt:            opts.Runtime,
		journal:       opts.Journal,
		log:           opts.Logger,
		runID:         opts.RunID,
		inputs:        inputs,
		retained:      map[string]bool{},
		itemsNeeded:   map[string]bool{},
		contentNeeded: map[string]bool{},
		tools:         map[[2]string]*toolSlot{},
		handlers:      map[string]bool{},
		byID:          map[string]*flow.Step{},
		timeout:       fl.Timeout,
	}
	e.prov = flow.NewProvenance(fl)
	e.sources = callSources(fl, e.prov)
	if e.decides = decidesFlows(opts.Runtime); !e.decides {
		e.refused = refusals(fl, e.prov, opts.PolicyFlows)
	}
	for _, s := range fl.AllSteps() {
		e.byID[s.ID] = s
		switch s.OnError {
		case "", "fail", "continue":
		default:
			e.handlers[s.OnError] = true
		}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	forEachExpr(fl, func(x *flow.Expr) {
		for _, id := range x.References {
			e.retained[id] = true
		}
		for _, p := range x.Paths {
			if len(p) >= 2 && p[0] == "steps" && !summaryPath(p) {
				e.itemsNeeded[p[1]] = true
			}
			if len(p) >= 2 && p[0] == "steps" && (len(p) < 3 || p[2] == flow.FieldContent || p[2] == flow.FieldText || p[2] == flow.FieldItems) {
				e.contentNeeded[p[1]] = true
			}
		}
	})
	// A group read beyond its summary exposes its children's results (a
	// parallel step's result holds each branch's), so they are kept too.
	var keepAll func(steps []*flow.Step)
	keepAll = func(steps []*flow.Step) {
		for _, c := range steps {
			e.retained[c.ID], e.itemsNeeded[c.ID], e.contentNeeded[c.ID] = true, true, true
			keepAll(c.Steps)
			for _, b := range c.Parallel {
				keepAll(b)
			}
		}
	}
	for _, s := range fl.AllSteps() {
		if e.itemsNeeded[s.ID] {
			keepAll(s.Steps)
			for _, b := range s.Parallel {
				keepAll(b)
			}
		}
	}
	return e, nil
}

func (e *engine) flowPath() string {
	if e.opts.FlowPath != "" {
		return e.opts.FlowPath
	}
	return e.flow.Source
}

// summaryPath reports whether a path into .steps.<id> reads only what a
// for_each step keeps without its items.
func summaryPath(p []string) bool {
	return len(p) >= 3 && slices.Contains(forEachSummaryFields, p[2])
}

// forEachExpr calls fn for every expression in the flow, outputs included.
func forEachExpr(fl *flow.Flow, fn func(*flow.Expr)) {
	var walkValue func(v *flow.Value)
	walkValue = func(v *flow.Value) {
		if v == nil {
			return
		}
		switch v.Kind {
		case flow.KindExpr:
			if v.Expr != nil {
				fn(v.Expr)
			}
		case flow.KindObject:
			for _, c := range v.Object {
				walkValue(c)
			}
		case flow.KindArray:
			for _, c := range v.Array {
				walkValue(c)
			}
		}
	}
	var walk func(steps []*flow.Step)
	walk = func(steps []*flow.Step) {
		for _, s := range steps {
			for _, x := range []*flow.Expr{s.ForEach, s.If, s.IdempotencyKey} {
				if x != nil {
					fn(x)
				}
			}
			walkValue(s.With)
			if s.Read != nil {
				walkValue(s.Read.URI)
			}
			walk(s.Steps)
			for _, b := range s.Parallel {
				walk(b)
			}
		}
	}
	walk(fl.Steps)
	walk(fl.Finally)
	for _, v := range fl.Outputs {
		walkValue(v)
	}
}

// withProgress returns ctx for the request of step s at path, its
// server's progress reports passed on as EventProgress.
func (e *engine) withProgress(ctx context.Context, s *flow.Step, path string) context.Context {
	if e.opts.Progress == nil {
		return ctx
	}
	return connectors.WithProgress(ctx, func(p connectors.Progress) {
		e.emit(ctx, Event{Kind: EventProgress, Path: path, Step: s, Report: p})
	})
}

func (e *engine) emit(ctx context.Context, ev Event) {
	if e.opts.Progress == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = e.rt.Now(ctx)
	}
	if ev.Step != nil && ev.StepPath == "" {
		ev.StepPath = e.staticPath(ev.Step)
	}
	e.opts.Progress(ev)
}

// execute runs the steps and outputs and settles the run record.
func (e *engine) execute(parent context.Context, rec *RunRecord) (*RunResult, error) {
	e.emit(parent, Event{Kind: EventRunStarted, RunID: e.runID, Timeout: e.timeout})
	top := &frame{results: map[string]*stepResult{}}
	status, deadline, err := e.runSteps(parent, top)
	res := &RunResult{RunID: e.runID, Status: status, Err: err, Steps: map[string]string{}}
	for id, r := range top.results {
		res.Steps[id] = r.status
	}
	if status == RunSucceeded {
		outputs, err := e.evalOutputs(parent, top)
		if err != nil {
			res.Status, res.Err = RunFailed, err
		} else {
			res.Outputs = outputs
		}
	}
	rec.Status = res.Status
	rec.Outputs = res.Outputs
	rec.Error = ""
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	if len(e.flow.Finally) > 0 && res.Status != RunBlocked {
		// The finally steps run whatever the outcome, once it is known;
		// the run record has it meanwhile.
		fin, err := e.runFinally(parent, top, res.Status, deadline, rec)
		if err != nil {
			res.Err = errors.Join(res.Err, err)
		}
		res.Finally = fin
	}
	rec.UpdatedAt = e.rt.Now(parent)
	rec.FinishedAt = rec.UpdatedAt
	if e.journal != nil {
		if err := e.journal.UpdateRun(rec); err != nil {
			res.Err = errors.Join(res.Err, err)
		}
	}
	e.emit(parent, Event{Kind: EventRunFinished, RunID: e.runID, Status: res.Status, Err: res.Err, Finally: res.Finally})
	return res, res.Err
}

func (e *engine) evalOutputs(ctx context.Context, top *frame) (map[string]any, error) {
	outputs := map[string]any{}
	names := e.flow.OutputOrder
	if len(names) == 0 {
		for n := range e.flow.Outputs {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		v := e.flow.Outputs[name]
		var refs []string
		collectRefs(v, &refs)
		scope := e.scope(top, refs)
		out, err := flow.EvalValue(ctx, v, scope)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		outputs[name] = out
	}
	return outputs, nil
}
