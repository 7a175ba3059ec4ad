package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/mediatorhq/mediator/internal/privfile"
)

// Missed is a schedule's missed-run policy: what happens on start to the
// fire times that passed while no daemon ran.
type Missed string

const (
	// MissedSkip lets fire times that passed while down go.
	MissedSkip Missed = "skip"
	// MissedRunOnce submits one run for them, however many there were,
	// for the latest of them.
	MissedRunOnce Missed = "run-once"
)

// MissedPolicies are the valid Missed values, the default first.
var MissedPolicies = []Missed{MissedSkip, MissedRunOnce}

// Schedule is one scheduled workflow.
type Schedule struct {
	// Name identifies the schedule across restarts: its last fire time is
	// kept under it, and its runs' idempotency keys hold it.
	Name     string
	Workflow string
	// Cron is a standard cron expression (five fields, or a descriptor
	// such as @daily), as ParseCron reads it.
	Cron   string
	Inputs map[string]any
	Missed Missed
}

// ParseCron reads a standard cron expression (minute hour day-of-month
// month day-of-week, or @hourly, @daily, ..., @every DURATION; CRON_TZ=
// or TZ= may lead), as robfig/cron's standard parser does.
func ParseCron(expr string) (cron.Schedule, error) {
	return cron.ParseStandard(expr)
}

// Submitter starts a run of a workflow. A second submission with the same
// idempotency key returns the first's run and starts nothing (daemon.Runs
// implements it).
type Submitter interface {
	Submit(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (runID string, err error)
}

// Clock tells the time; nil in SchedulerOptions is the system clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SchedulerOptions configures NewScheduler.
type SchedulerOptions struct {
	Schedules []Schedule
	Submit    Submitter
	// StateDir holds schedules.json, each schedule's last fire time.
	StateDir string
	Clock    Clock
	Logger   *slog.Logger
}

// StateFile is the file in the state directory that keeps each
// schedule's last fire time.
const StateFile = "schedules.json"

// Scheduler submits scheduled runs. Each fire time of a schedule is
// submitted at most once, under the idempotency key IdempotencyKey gives
// it, and recorded in StateDir once submitted: a restart never submits a
// fire twice, and a crash between the submission and the record is
// covered by the key.
type Scheduler struct {
	opts   SchedulerOptions
	parsed []cron.Schedule
	cron   *cron.Cron

	mu   sync.Mutex
	last map[string]time.Time // schedule name -> last fire handled
}

// NewScheduler checks every schedule's cron expression and reads the
// state file; an unreadable state file is an error (it is never guessed
// at, which could submit a fire twice or lose one).
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Submit == nil {
		return nil, errors.New("scheduler: no Submitter")
	}
	s := &Scheduler{opts: opts, last: map[string]time.Time{}}
	names := map[string]bool{}
	for _, sc := range opts.Schedules {
		if names[sc.Name] {
			return nil, fmt.Errorf("schedule %q is named twice", sc.Name)
		}
		names[sc.Name] = true
		p, err := ParseCron(sc.Cron)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: cron %q: %w", sc.Name, sc.Cron, err)
		}
		s.parsed = append(s.parsed, p)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// IdempotencyKey is the key a schedule's run for the fire time at is
// submitted under.
func IdempotencyKey(schedule string, at time.Time) string {
	return "schedule:" + schedule + ":" + at.UTC().Format(time.RFC3339)
}

// Start applies the missed-run policies (see CatchUp) and then fires each
// schedule at its times until Stop. ctx bounds the submissions.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.CatchUp(ctx); err != nil {
		return err
	}
	s.cron = cron.New(cron.WithLogger(cron.DiscardLogger))
	for i := range s.opts.Schedules {
		i := i
		s.cron.Schedule(s.parsed[i], cron.FuncJob(func() { s.fireDue(ctx, i) }))
	}
	s.cron.Start()
	return nil
}

// Stop stops firing and waits for submissions under way.
func (s *Scheduler) Stop() {
	if s.cron != nil {
		<-s.cron.Stop().Done()
	}
}

// CatchUp handles, for each schedule, the fire times that passed since
// its last recorded one: with MissedRunOnce it submits one run, for the
// latest; with MissedSkip it submits none. Either way the latest becomes
// the last fire. A schedule with no record (new) starts from now.
func (s *Scheduler) CatchUp(ctx context.Context) error {
	now := s.opts.Clock.Now()
	var errs []error
	for i, sc := range s.opts.Schedules {
		s.mu.Lock()
		last, known := s.last[sc.Name]
		s.mu.Unlock()
		if !known {
			if err := s.record(sc.Name, now); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		fire, ok := latestFire(s.parsed[i], last, now)
		if !ok {
			continue
		}
		if sc.Missed == MissedRunOnce {
			if err := s.submit(ctx, i, fire); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		s.opts.Logger.Info("scheduled run missed while the daemon was down; skipped (missed: skip)",
			"schedule", sc.Name, "workflow", sc.Workflow, "fire_time", fire.UTC().Format(time.RFC3339))
		if err := s.record(sc.Name, fire); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fireDue submits schedule i's latest fire time up to now, if it has not
// been handled: cron calls it at each fire time.
func (s *Scheduler) fireDue(ctx context.Context, i int) {
	name := s.opts.Schedules[i].Name
	s.mu.Lock()
	last := s.last[name]
	s.mu.Unlock()
	fire, ok := latestFire(s.parsed[i], last, s.opts.Clock.Now())
	if !ok {
		return
	}
	if err := s.submit(ctx, i, fire); err != nil {
		s.opts.Logger.Error("scheduled run not submitted", "schedule", name, "error", err)
	}
}

// submit submits schedule i's run for fire and records fire. A failed
// submission is not recorded: the next start retries it by the missed
// policy.
func (s *Scheduler) submit(ctx context.Context, i int, fire time.Time) error {
	sc := s.opts.Schedules[i]
	key := IdempotencyKey(sc.Name, fire)
	id, err := s.opts.Submit.Submit(ctx, sc.Workflow, sc.Inputs, key)
	if err != nil {
		return fmt.Errorf("schedule %q: submitting workflow %s for %s: %w", sc.Name, sc.Workflow, fire.UTC().Format(time.RFC3339), err)
	}
	s.opts.Logger.Info("scheduled run submitted", "schedule", sc.Name, "workflow", sc.Workflow,
		"fire_time", fire.UTC().Format(time.RFC3339), "run", id)
	return s.record(sc.Name, fire)
}

// latestFire is the latest fire time of p after last and not after now.
// A schedule without CRON_TZ= runs in now's location (the state file
// keeps times in UTC, and robfig's schedules compute in their argument's).
func latestFire(p cron.Schedule, last, now time.Time) (time.Time, bool) {
	var fire time.Time
	for t := p.Next(last.In(now.Location())); !t.IsZero() && !t.After(now); t = p.Next(t) {
		fire = t
	}
	return fire, !fire.IsZero()
}

// LastFire is the last fire time handled for the named schedule.
func (s *Scheduler) LastFire(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.last[name]
	return t, ok
}

func (s *Scheduler) path() string { return filepath.Join(s.opts.StateDir, StateFile) }

type scheduleState struct {
	Last map[string]time.Time `json:"last_fire"`
}

func (s *Scheduler) load() error {
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the schedules' state: %w", err)
	}
	var st scheduleState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("reading the schedules' state %s: %w; move it aside to start every schedule afresh", s.path(), err)
	}
	for k, v := range st.Last {
		s.last[k] = v
	}
	return nil
}

// record sets name's last fire to at and writes the state file whole
// (a crash leaves the old file or the new one). Records of schedules no
// longer configured are kept, so one taken out and put back resumes.
func (s *Scheduler) record(name string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.last[name]; ok && !at.After(prev) {
		return nil
	}
	s.last[name] = at
	data, err := json.MarshalIndent(scheduleState{Last: s.last}, "", "  ")
	if err != nil {
		return err
	}
	if err := privfile.WriteFile(s.path(), append(data, '\n')); err != nil {
		return fmt.Errorf("recording schedule %q's last fire: %w", name, err)
	}
	return nil
}
