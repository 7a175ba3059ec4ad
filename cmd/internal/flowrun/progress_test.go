package flowrun

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

const trackerFlow = `version: 1
name: track
steps:
  - id: each
    for_each: ${ [range(200)] }
    call: {server: s, tool: t}
  - id: one
    call: {server: s, tool: t}
  - id: grp
    for_each: ${ [1, 2] }
    steps:
      - id: inner
        call: {server: s, tool: t}
`

// feed plays a run's events through a tracker as the engine would send
// them, and returns the plain lines.
func feed(t *testing.T, tr *Tracker, secret string) []string {
	f := tr.flow
	each, one, grp, inner := f.Steps[0], f.Steps[1], f.Steps[2], f.Steps[2].Steps[0]
	now := time.Now()
	var lines []string
	add := func(ev workflows.Event) {
		ev.Time = now
		if l := tr.Handle(ev); l != "" {
			lines = append(lines, l)
		}
	}
	add(workflows.Event{Kind: workflows.EventRunStarted, RunID: "r1"})
	add(workflows.Event{Kind: workflows.EventStepStarted, Path: "each", Step: each, Total: 200})
	add(workflows.Event{Kind: workflows.EventStepStarted, Path: "one", Step: one})
	add(workflows.Event{Kind: workflows.EventRetrying, Path: "one", Step: one, Attempt: 1, Delay: time.Second, Err: errors.New("timeout")})
	for i := range 200 {
		ev := workflows.Event{Kind: workflows.EventItemFinished, Path: fmt.Sprintf("each[%d]", i), Step: each, Status: workflows.StatusSucceeded, Reused: i < 50}
		if i%7 == 0 {
			ev.Status, ev.Err = workflows.StatusFailed, fmt.Errorf("item %d broke, token %s", i, secret)
		}
		add(ev)
	}
	add(workflows.Event{Kind: workflows.EventStepFinished, Path: "each", Step: each, Status: workflows.StatusFailed, Err: errors.New("29 items failed")})
	add(workflows.Event{Kind: workflows.EventStepFinished, Path: "one", Step: one, Status: workflows.StatusSucceeded})
	add(workflows.Event{Kind: workflows.EventStepStarted, Path: "grp", Step: grp, Total: 2})
	for i := range 2 {
		p := fmt.Sprintf("grp[%d]/inner", i)
		add(workflows.Event{Kind: workflows.EventStepStarted, Path: p, Step: inner})
		add(workflows.Event{Kind: workflows.EventStepFinished, Path: p, Step: inner, Status: workflows.StatusSucceeded})
		add(workflows.Event{Kind: workflows.EventItemFinished, Path: fmt.Sprintf("grp[%d]", i), Step: grp, Status: workflows.StatusSucceeded})
	}
	add(workflows.Event{Kind: workflows.EventStepFinished, Path: "grp", Step: grp, Status: workflows.StatusSucceeded})
	add(workflows.Event{Kind: workflows.EventRunFinished, RunID: "r1", Status: workflows.RunFailed})
	return lines
}

func parse(t *testing.T) *flow.Flow {
	f, err := flow.Parse("track.flow.yaml", []byte(trackerFlow))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPlainProgress(t *testing.T) {
	tr := NewTracker(parse(t), time.Now())
	out := strings.Join(feed(t, tr, "s3cret"), "\n")
	for _, w := range []string{
		"run r1: track started",
		"▸ each: 200 item(s)",
		"↻ one: attempt 1 failed (timeout); retrying in 1s",
		"✗ each[0]: item 0 broke",
		"further failures of each are counted",
		"each: 100/200",
		"✗ each: failed (171 succeeded, 29 failed, 50 from the journal)",
		"✓ one: succeeded",
		"✓ grp: succeeded (2 succeeded)",
		"run r1: failed in",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("plain progress lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "✗ each["); n != 20 {
		t.Errorf("%d failure lines, want 20 (capped)", n)
	}
	if strings.Contains(out, "grp[0]/inner") {
		t.Errorf("nested instances got their own lines:\n%s", out)
	}
}

func TestLiveView(t *testing.T) {
	const secret = "canary-view-secret"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(secret))
	tr := NewTracker(parse(t), time.Now())
	cancelled := false
	m := newViewModel(tr, red, func() { cancelled = true })
	feed(t, tr, secret)
	view := m.render()
	for _, w := range []string{"track · run r1", "failed", "200/200", "29 failed", "50 reused", "1 retries", "  inner", "2 done"} {
		if !strings.Contains(view, w) {
			t.Errorf("view lacks %q:\n%s", w, view)
		}
	}
	if strings.Contains(view, secret) {
		t.Fatalf("view shows a secret:\n%s", view)
	}
	if _, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}); cmd != nil || !cancelled {
		t.Fatalf("ctrl+c did not cancel the run (cancelled=%v)", cancelled)
	}
	if _, cmd := m.Update(runDoneMsg{}); cmd == nil {
		t.Fatal("the view does not quit when the run is done")
	}
}

func TestErrorLine(t *testing.T) {
	long := `server "calendar": transport: connect: calling "initialize": sending "initialize": rejected by transport: Post "http://127.0.0.1:18082/mcp": dial tcp 127.0.0.1:18082: connect: connection refused`
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 20, "short"},
		{"first line\nsecond", 0, "first line"},
		{long, 60, `server "calendar": tran…1:18082: connect: connection refused`},
		{"äöüäöüäöüä", 5, "ä…öüä"},
	} {
		got := ErrorLine(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("ErrorLine(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if tc.max > 0 && len([]rune(got)) > tc.max {
			t.Errorf("ErrorLine(%q, %d) is %d runes long", tc.in, tc.max, len([]rune(got)))
		}
	}
}

// TestSucceededWithFailures: a run that succeeded although a step failed
// under on_error says so on its last line.
func TestSucceededWithFailures(t *testing.T) {
	f, err := flow.Parse("c.flow.yaml", []byte("version: 1\nname: c\nsteps:\n  - id: a\n    call: {server: s, tool: t}\n    on_error: continue\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(f, time.Now())
	a := f.Steps[0]
	tr.Handle(workflows.Event{Kind: workflows.EventStepStarted, Path: "a", Step: a})
	tr.Handle(workflows.Event{Kind: workflows.EventStepFinished, Path: "a", Step: a, Status: workflows.StatusFailed, Err: errors.New("boom")})
	line := tr.Handle(workflows.Event{Kind: workflows.EventRunFinished, RunID: "r", Status: workflows.RunSucceeded, Time: time.Now()})
	if !strings.HasSuffix(line, "; failures that their on_error or tolerate_failures let the run go past: a") {
		t.Fatalf("last line %q", line)
	}
}

// A server's progress report shows on its step's row while the step runs,
// made safe for the terminal and masked, and never as a plain line.
func TestLiveViewShowsStepProgress(t *testing.T) {
	const secret = "canary-progress-secret"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(secret))
	tr := NewTracker(parse(t), time.Now())
	m := newViewModel(tr, red, func() {})
	one := tr.flow.Steps[1]
	tr.Handle(workflows.Event{Kind: workflows.EventStepStarted, Path: "one", Step: one, Time: time.Now()})
	line := tr.Handle(workflows.Event{Kind: workflows.EventProgress, Path: "one", Step: one, Time: time.Now(),
		Report: connectors.Progress{Server: "s", Progress: 1, Total: 4, Message: "copying \x1b[31mfiles\x1b[0m for " + secret}})
	if line != "" {
		t.Errorf("a progress report printed a plain line: %q", line)
	}
	view := m.render()
	if !strings.Contains(view, "25% copying files for") || strings.Contains(view, secret) || strings.Contains(view, "\x1b[31m") {
		t.Errorf("the row does not show the report safely:\n%q", view)
	}
	tr.Handle(workflows.Event{Kind: workflows.EventStepFinished, Path: "one", Step: one, Status: workflows.StatusSucceeded, Time: time.Now()})
	if view := m.render(); strings.Contains(view, "copying") {
		t.Errorf("a finished step still shows its progress:\n%s", view)
	}
}
