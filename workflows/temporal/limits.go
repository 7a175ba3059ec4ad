package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Limits bound a run's history. Temporal terminates a workflow whose
// history passes its namespace's limits (by default 51,200 events or
// 50 MiB) and warns from 10,240 events or 10 MiB; a run is refused when
// the estimate of its history passes Events or Bytes, at submission
// (CheckFits) or, for a for_each whose items are known only during the
// run, before the step's first call. A zero field takes its default.
type Limits struct {
	Events     int
	Bytes      int64
	WarnEvents int
	WarnBytes  int64
	// BytesPerEvent is the size an event is assumed to take before the
	// run has a history to measure (at submission): twice the average of
	// small calls' events (docs/scale.md, "Limits"). During the run the
	// history's own average is used when larger.
	BytesPerEvent int64
	// BatchItems is the most items of a for_each step one child workflow
	// runs (childflow.go): a step of the run's own flow with more items
	// runs them in batches of at most this many, fewer when an item makes
	// so many events that this many would not fit in the child's history.
	// Negative runs every item in the run's own history.
	BatchItems int
	// PayloadBytes bounds a batch's input and result (the JSON of one
	// payload); zero uses DefaultMaxPayloadBytes. A batch past it fails
	// its items saying so, rather than its workflow task failing over
	// and over.
	PayloadBytes int
}

// Temporal's default limits and warning thresholds, the size assumed per
// event, and the items per child workflow.
const (
	DefaultLimitEvents        = 51_200
	DefaultLimitBytes         = 50 << 20
	DefaultWarnEvents         = 10_240
	DefaultWarnBytes          = 10 << 20
	DefaultLimitBytesPerEvent = 400
	DefaultBatchItems         = 1000
)

func (l Limits) orDefaults() Limits {
	if l.Events <= 0 {
		l.Events = DefaultLimitEvents
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultLimitBytes
	}
	if l.WarnEvents <= 0 {
		l.WarnEvents = DefaultWarnEvents
	}
	if l.WarnBytes <= 0 {
		l.WarnBytes = DefaultWarnBytes
	}
	if l.BytesPerEvent <= 0 {
		l.BytesPerEvent = DefaultLimitBytesPerEvent
	}
	if l.BatchItems == 0 {
		l.BatchItems = DefaultBatchItems
	}
	if l.PayloadBytes <= 0 {
		l.PayloadBytes = DefaultMaxPayloadBytes
	}
	return l
}

// payloadError is an error when v's JSON passes the payload limit: what
// names v.
func (l Limits) payloadError(what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s does not encode as JSON: %w", what, err)
	}
	if len(b) > l.PayloadBytes {
		return fmt.Errorf("%s is %s of JSON, past the %s a Temporal payload may carry", what, mib(int64(len(b))), mib(int64(l.PayloadBytes)))
	}
	return nil
}

// batchSize is how many of a for_each step's items, of per events each,
// one child workflow runs; 0 runs them all in the run's own history. A
// step runs in batches when it has more items than a batch holds by
// events; the batch then holds fewer when their JSON would pass
// batchItemsBytes.
func (l Limits) batchSize(per int, items []any) int {
	n := len(items)
	if l.BatchItems < 0 {
		return 0
	}
	size := min(l.BatchItems, (l.Events-eventsPerRun-runMargin)/max(per, 1))
	if size < 1 || n <= size {
		return 0
	}
	if b, _ := json.Marshal(items); int64(size)*int64(len(b)) > int64(n)*batchItemsBytes {
		size = max(1, int(int64(n)*batchItemsBytes/int64(len(b))))
	}
	return size
}

// batchItemsBytes bounds the JSON of one batch's items, a quarter of
// Temporal's 2 MiB payload limit: the child's input carries them, and
// its result their views when an expression reads the step item by item.
const batchItemsBytes = 512 << 10

// batchEvents is the events in the run's own history of n items run in
// batches of size: each child workflow is initiated, started and
// completed, and wakes the workflow.
func batchEvents(n, size int) int { return (n + size - 1) / size * eventsPerChild }

// bytesPerOutcome is what an item's outcome takes in a batch's result
// when no expression reads the step item by item (then its view, with
// its result, is there too and is not counted).
const bytesPerOutcome = 64

// batchBytes is what items run in batches add to the run's history
// beside its events: each batch's items in its child's input, and their
// outcomes in its result.
func batchBytes(items []any) int64 {
	b, _ := json.Marshal(items)
	return int64(len(b)) + int64(len(items))*bytesPerOutcome
}

// History events per piece of a run, as the workflow emits them (measured
// in docs/scale.md, "Limits"): an activity is scheduled, started and
// completed, and its completion wakes the workflow (a workflow task:
// scheduled, started, completed); a wait between attempts or polls is a
// timer (started, fired) and a workflow task; a run starts, runs its first
// workflow task and completes. runMargin covers the timers of a flow's
// timeout and its finally steps' budget, and a cancellation.
const (
	eventsPerActivity = 6
	eventsPerTimer    = 5
	eventsPerRun      = 5
	runMargin         = 20
	// eventsPerChild: a child workflow initiated, started and completed,
	// the workflow tasks around it, and a cancellation's two.
	eventsPerChild = 11
)

// Estimate is an upper bound of a run's history, computed from the flow
// and its inputs: every step is counted as run, every call with its
// retry's max attempts (and polls) and the waits between them.
type Estimate struct {
	Events int
	Bytes  int64
	// Steps are the top-level and finally steps' own events, largest
	// first.
	Steps []StepEstimate
	// Unknown are the paths of the for_each steps whose items are known
	// only during the run (counted as none here; checked then).
	Unknown []string
}

// StepEstimate is one step's part of an Estimate.
type StepEstimate struct {
	Path   string
	Events int
	// Items is a for_each step's number of items, and ItemEvents what one
	// item makes (0 when its items are unknown at submission).
	Items      int
	ItemEvents int
	// Batch is how many items each child workflow runs, 0 when they
	// run in the run's own history.
	Batch int
}

// ErrWouldNotFit is wrapped by CheckFits's refusal of a run, an error in
// what was submitted (as a flow that does not validate is), not in the
// cluster.
var ErrWouldNotFit = errors.New("the run would not fit in Temporal's history")

// CheckFits estimates the history of a run of in (its flow, sub-flows
// and inputs) and returns the estimate, and an error naming the largest
// step, the estimate and the limit when it passes limits: the CLI and the
// daemon call it before starting a run, and Flows.Run before the first
// call. A flow that does not validate, or inputs that do not check, are
// not its to report: the estimate is then empty and the error nil.
func CheckFits(ctx context.Context, in FlowInput, limits Limits) (Estimate, error) {
	fl, probs := flow.Check(ctx, in.Path, in.Source, flowInputOptions(in))
	if fl == nil || len(probs.Errors()) > 0 {
		return Estimate{}, nil
	}
	return checkFlowFits(ctx, fl, in, limits)
}

func checkFlowFits(ctx context.Context, fl *flow.Flow, in FlowInput, limits Limits) (Estimate, error) {
	inputs, err := workflows.PrepareInputs(ctx, fl, in.Inputs)
	if err != nil {
		return Estimate{}, nil
	}
	l := limits.orDefaults()
	est := estimate(ctx, fl, inputs, l)
	submitted := int64(len(in.Source))
	for _, b := range in.Files {
		submitted += int64(len(b))
	}
	if b, err := json.Marshal(in.Inputs); err == nil {
		submitted += int64(len(b))
	}
	est.Bytes += int64(est.Events)*l.BytesPerEvent + submitted
	return est, est.fits(fl, l)
}

// Warnings are the thresholds of l the estimate passes without passing
// the limits: Temporal logs a warning there, and a run that large is
// slow to replay.
func (est Estimate) Warnings(limits Limits) []string {
	l := limits.orDefaults()
	var out []string
	if est.Events > l.WarnEvents {
		out = append(out, fmt.Sprintf("the run's history may reach %d events, past Temporal's warning at %d", est.Events, l.WarnEvents))
	}
	if est.Bytes > l.WarnBytes {
		out = append(out, fmt.Sprintf("the run's history may reach %s, past Temporal's warning at %s", mib(est.Bytes), mib(l.WarnBytes)))
	}
	return out
}

func (est Estimate) fits(fl *flow.Flow, l Limits) error {
	over := ""
	switch {
	case est.Events > l.Events:
		over = fmt.Sprintf("%d history events, past Temporal's limit of %d per run", est.Events, l.Events)
	case est.Bytes > l.Bytes:
		over = fmt.Sprintf("%s of history, past Temporal's limit of %s per run", mib(est.Bytes), mib(l.Bytes))
	default:
		return nil
	}
	what := "flow " + fl.Name
	advice := "split its work over several runs, or lower its retries' max_attempts"
	if len(est.Steps) > 0 {
		s := est.Steps[0]
		what = fmt.Sprintf("step %s (%d events of the run's)", s.Path, s.Events)
		switch {
		case s.Batch > 0:
			what = fmt.Sprintf("step %s (%d items in child workflows of %d each: %d events of the run's)", s.Path, s.Items, s.Batch, s.Events)
			advice = fmt.Sprintf("give it at most %d items per run (split the list over several runs), or run larger batches (the flow worker's Limits.BatchItems)", est.fitItems(s, l))
		case s.Items > 0 && s.ItemEvents > 0:
			what = fmt.Sprintf("step %s (%d items at up to %d events each: %d of the run's)", s.Path, s.Items, s.ItemEvents, s.Events)
			if room := est.fitItems(s, l); room > 0 {
				advice = fmt.Sprintf("give it at most %d items per run (split the list over several runs), or lower its retry's max_attempts", room)
			} else {
				advice = "the rest of the flow leaves it no room: split the flow over several runs"
			}
		}
	}
	return fmt.Errorf("%w and would be ended halfway: up to %s; the largest part is %s. To run it, %s (the estimate counts every call at its retry's max attempts)", ErrWouldNotFit, over, what, advice)
}

// fitItems is how many items of for_each step s fit beside the rest of
// the run, under both limits.
func (est Estimate) fitItems(s StepEstimate, l Limits) int {
	rest := est.Events - s.Events
	per, unit := s.ItemEvents, 1
	if s.Batch > 0 {
		per, unit = eventsPerChild, s.Batch
	}
	byEvents := (l.Events - rest) / per
	byBytes := int((l.Bytes - (est.Bytes - int64(s.Events)*l.BytesPerEvent)) / (int64(per) * l.BytesPerEvent))
	return max(0, min(byEvents, byBytes)) * unit
}

// mib is a size for a message: in MiB, or KiB under one.
func mib(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%d KiB", (b+1023)>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// estimate counts fl's events with its inputs known (its for_each lists
// that read nothing else are evaluated).
func estimate(ctx context.Context, fl *flow.Flow, inputs map[string]any, l Limits) Estimate {
	c := &counter{ctx: ctx, tools: map[[2]string]bool{}, limits: l}
	est := Estimate{Events: eventsPerRun + runMargin}
	for _, list := range [][]*flow.Step{fl.Steps, fl.Finally} {
		for _, s := range list {
			se := StepEstimate{Path: s.Path}
			c.batchable = true
			se.Events = c.step(fl, s, inputs, s.Path, &se)
			c.batchable = false
			est.Events += se.Events
			est.Steps = append(est.Steps, se)
		}
	}
	est.Events += len(c.tools) * eventsPerActivity
	est.Unknown = c.unknown
	est.Bytes = c.bytes
	slices.Sort(est.Unknown)
	slices.SortStableFunc(est.Steps, func(a, b StepEstimate) int { return b.Events - a.Events })
	return est
}

// counter walks a flow; tools are the tools looked up once per run.
type counter struct {
	ctx     context.Context
	tools   map[[2]string]bool
	unknown []string
	limits  Limits
	// bytes are the batches' items and outcomes (batchBytes).
	bytes int64
	// batchable says the step being counted is counted as running its
	// items in child workflows when they are many; inside an item of a
	// for_each it is not (the item may run in a batch, which runs its
	// nested steps in place).
	batchable bool
}

// step is the events of step s of fl, run once (a for_each: over all its
// items). inputs are fl's inputs when known at submission (nil in a
// sub-flow whose inputs depend on the run). top, when set, receives a
// for_each's items.
func (c *counter) step(fl *flow.Flow, s *flow.Step, inputs map[string]any, path string, top *StepEstimate) int {
	if s.ForEach == nil {
		return c.instance(fl, s, inputs, path)
	}
	batchable := c.batchable
	c.batchable = false
	one := c.instance(fl, s, inputs, path)
	c.batchable = batchable
	list, ok := c.items(s, inputs)
	n := len(list)
	if !ok {
		c.unknown = append(c.unknown, path)
		return 0
	}
	if top != nil {
		top.Items, top.ItemEvents = n, one
	}
	if size := c.limits.batchSize(one, list); batchable && size > 0 {
		if top != nil {
			top.Batch = size
		}
		c.bytes += batchBytes(list)
		return batchEvents(n, size)
	}
	return n * one
}

// instance is the events of one run of s (one item of a for_each).
func (c *counter) instance(fl *flow.Flow, s *flow.Step, inputs map[string]any, path string) int {
	switch {
	case s.Call != nil || s.Read != nil:
		if s.Call != nil {
			c.tools[[2]string{s.Call.Server, s.Call.Tool}] = true
		}
		return callEvents(fl, s)
	case s.Uses != nil && s.Uses.Flow != nil:
		n := 0
		for _, list := range [][]*flow.Step{s.Uses.Flow.Steps, s.Uses.Flow.Finally} {
			for _, cs := range list {
				n += c.step(s.Uses.Flow, cs, nil, path+flow.UsesPathSep+cs.Path, nil)
			}
		}
		return n
	case len(s.Parallel) > 0:
		n := 0
		for _, b := range s.Parallel {
			for _, cs := range b {
				n += c.step(fl, cs, inputs, cs.Path, nil)
			}
		}
		return n
	default:
		n := 0
		for _, cs := range s.Steps {
			n += c.step(fl, cs, inputs, cs.Path, nil)
		}
		return n
	}
}

// callEvents is the events of one call or read step's attempts: every
// attempt its retry allows, each poll of a poll step, and the waits
// between them.
func callEvents(fl *flow.Flow, s *flow.Step) int {
	attempts := max(1, fl.EffectiveRetry(s).MaxAttempts)
	polls := 1
	if p := s.Poll; p != nil && p.Every > 0 {
		polls = int(p.Max/p.Every) + 1
	}
	calls := attempts * polls
	return calls*eventsPerActivity + (calls-1)*eventsPerTimer
}

// items are s's for_each items when its list reads nothing but the
// inputs (or nothing at all) and they are known.
func (c *counter) items(s *flow.Step, inputs map[string]any) ([]any, bool) {
	if inputs == nil {
		return nil, false
	}
	for _, p := range s.ForEach.Paths {
		if len(p) == 0 || p[0] != "inputs" {
			return nil, false
		}
	}
	scope := map[string]any{"inputs": inputs, "steps": map[string]any{}, "run": map[string]any{}, "item": nil, "index": nil}
	v, err := flow.Eval(c.ctx, s.ForEach, scope)
	list, ok := v.([]any)
	if err != nil || !ok {
		return nil, false
	}
	return list, true
}

// flowInputOptions are the validation options a run of in is checked
// under, as Flows.Run checks it.
func flowInputOptions(in FlowInput) flow.ValidateOptions {
	return flow.ValidateOptions{
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
	}
}
