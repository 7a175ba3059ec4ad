package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is set by the test; the scheduler's missed-run math is
// robfig/cron's own, at the times the test gives.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// recorder is a Submitter that keeps each submission and, like
// daemon.Runs, starts nothing twice for one idempotency key.
type recorder struct {
	mu   sync.Mutex
	keys []string
	runs map[string]string
	fail error
}

func (r *recorder) Submit(_ context.Context, workflow string, inputs map[string]any, key string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	if r.runs == nil {
		r.runs = map[string]string{}
	}
	r.keys = append(r.keys, workflow+" "+key)
	if id, ok := r.runs[key]; ok {
		return id, nil
	}
	id := "run-" + key
	r.runs[key] = id
	return id, nil
}

func (r *recorder) submitted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

var day0 = time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)

func newTestScheduler(t *testing.T, dir string, clock *fakeClock, sub Submitter, schedules ...Schedule) *Scheduler {
	t.Helper()
	s, err := NewScheduler(SchedulerOptions{Schedules: schedules, Submit: sub, StateDir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// After downtime, run-once submits one run for the latest fire time that
// passed (however many passed) and skip submits none; both record it, so
// a further restart submits nothing more. A new schedule starts from now.
func TestSchedulerMissedRuns(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: day0}
	daily := Schedule{Name: "morning", Workflow: "rain", Cron: "0 6 * * *", Missed: MissedRunOnce, Inputs: map[string]any{"city": "Paris"}}
	skipped := Schedule{Name: "evening", Workflow: "rain", Cron: "0 18 * * *", Missed: MissedSkip}
	rec := &recorder{}

	// First start: nothing has fired, nothing is submitted.
	s := newTestScheduler(t, dir, clock, rec, daily, skipped)
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rec.submitted(); len(got) != 0 {
		t.Fatalf("first start submitted %v", got)
	}
	if last, _ := s.LastFire("morning"); !last.Equal(day0) {
		t.Errorf("a new schedule's last fire = %v, want now (%v)", last, day0)
	}

	// Down for three days: three 06:00 and three 18:00 fire times passed.
	clock.set(day0.Add(3*24*time.Hour + time.Hour)) // Dec 4, 06:00
	s = newTestScheduler(t, dir, clock, rec, daily, skipped)
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	latest := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	want := []string{"rain " + IdempotencyKey("morning", latest)}
	if got := rec.submitted(); !slices.Equal(got, want) {
		t.Fatalf("after downtime submitted %v, want %v", got, want)
	}
	if last, _ := s.LastFire("evening"); !last.Equal(time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("skip: last fire = %v, want the latest passed (Dec 3 18:00)", last)
	}

	// Restarting at once submits nothing more.
	s = newTestScheduler(t, dir, clock, rec, daily, skipped)
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rec.submitted(); len(got) != 1 {
		t.Errorf("a restart submitted again: %v", got)
	}
}

// A fire time submitted but not recorded (a crash between the two) is
// submitted again on start under the same idempotency key, so the run
// manager starts it once.
func TestSchedulerCrashBetweenSubmitAndRecord(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: day0}
	sc := Schedule{Name: "m", Workflow: "rain", Cron: "0 6 * * *", Missed: MissedRunOnce}
	rec := &recorder{}
	s := newTestScheduler(t, dir, clock, rec, sc)
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}

	clock.set(day0.Add(time.Hour)) // 06:00: the fire is due
	s.fireDue(t.Context(), 0)
	// The crash: the state file is as it was before the record.
	if err := os.WriteFile(filepath.Join(dir, StateFile), state, 0o600); err != nil {
		t.Fatal(err)
	}
	s = newTestScheduler(t, dir, clock, rec, sc)
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := rec.submitted()
	if len(got) != 2 || got[0] != got[1] || len(rec.runs) != 1 {
		t.Errorf("submissions %v (runs %v): want the same key twice, one run", got, rec.runs)
	}
}

// cron's job submits the latest due fire time once: a second call for
// the same time (a late or doubled tick) submits nothing.
func TestSchedulerFireDue(t *testing.T) {
	clock := &fakeClock{now: day0}
	rec := &recorder{}
	s := newTestScheduler(t, t.TempDir(), clock, rec, Schedule{Name: "q", Workflow: "w", Cron: "*/15 * * * *"})
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.fireDue(t.Context(), 0) // 05:00 is not after the last fire (now)
	clock.set(day0.Add(15*time.Minute + 2*time.Second))
	s.fireDue(t.Context(), 0)
	s.fireDue(t.Context(), 0)
	want := []string{"w " + IdempotencyKey("q", day0.Add(15*time.Minute))}
	if got := rec.submitted(); !slices.Equal(got, want) {
		t.Errorf("submitted %v, want %v", got, want)
	}
}

// A failed submission is not recorded, so the next start retries it
// (run-once), and the failure names the schedule and workflow.
func TestSchedulerSubmitFails(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: day0}
	sc := Schedule{Name: "m", Workflow: "rain", Cron: "0 6 * * *", Missed: MissedRunOnce}
	rec := &recorder{}
	if err := newTestScheduler(t, dir, clock, rec, sc).CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.set(day0.Add(2 * time.Hour))
	rec.fail = errors.New("workflow rain does not validate")
	err := newTestScheduler(t, dir, clock, rec, sc).CatchUp(t.Context())
	if err == nil || !strings.Contains(err.Error(), `schedule "m": submitting workflow rain`) {
		t.Fatalf("err = %v", err)
	}
	rec.fail = nil
	if err := newTestScheduler(t, dir, clock, rec, sc).CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rec.submitted(); len(got) != 1 {
		t.Errorf("the retry submitted %v", got)
	}
}

// A schedule's cron expression and the state file are checked when the
// scheduler is made; a damaged state file is not guessed at.
func TestSchedulerRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewScheduler(SchedulerOptions{Submit: &recorder{}, StateDir: dir, Schedules: []Schedule{{Name: "x", Cron: "0 6 * *"}}}); err == nil || !strings.Contains(err.Error(), `schedule "x": cron "0 6 * *"`) {
		t.Errorf("bad cron: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewScheduler(SchedulerOptions{Submit: &recorder{}, StateDir: dir}); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Errorf("damaged state: %v", err)
	}
}

// Start and Stop run robfig's cron over the schedules; Stop returns.
func TestSchedulerStartStop(t *testing.T) {
	s := newTestScheduler(t, t.TempDir(), &fakeClock{now: day0}, &recorder{}, Schedule{Name: "q", Workflow: "w", Cron: "@hourly"})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Stop()
}
