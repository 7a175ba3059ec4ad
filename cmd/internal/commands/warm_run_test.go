package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/internal/hostile"
)

// runIDs and durations differ from one run to the next, with or without
// the daemon.
var (
	runIDPattern    = regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z?-[0-9a-f]+|[0-9a-f]{8,}-[0-9a-f]{4,}`)
	durationPattern = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(ns|µs|ms|s)\b`)
)

func normalizeRun(r result) result {
	for _, re := range []*regexp.Regexp{runIDPattern, durationPattern} {
		r.stdout = re.ReplaceAllString(r.stdout, "<X>")
		r.stderr = re.ReplaceAllString(r.stderr, "<X>")
	}
	return r
}

// TestWarmRunSameAsCold: `mediator run` through the daemon (its calls made
// by the daemon's orchestrator, the run and its journal in the CLI)
// prints what it prints alone, with the same exit codes: a chain across
// two servers its flows: declares (also --json and --dry-run), the same
// chain undeclared (refused, exit 2), a tool's error result (exit 1) and
// an unreachable server (exit 3); --no-daemon bypasses the
// daemon; and `mediator resume` of the failed run goes through it too.
func TestWarmRunSameAsCold(t *testing.T) {
	e := newTestEnv(t)
	weather, _ := startServer(t, canaryKey)
	notes, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  notes:\n    url: " + notes.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  down:\n    url: " + downURL(t) + "\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	e.mustRun(canaryKey, "secret", "set", "notes", "api-key")
	flowFile := func(name, body string) string {
		p := filepath.Join(e.dir, name+".flow.yaml")
		if err := os.WriteFile(p, []byte("version: 1\nname: "+name+"\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	chain := "steps:\n" +
		"  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: hello}\n" +
		"  - id: b\n    call: {server: notes, tool: echo}\n    with: {text: \"${ .steps.a.result.echo }\"}\n" +
		"outputs:\n  said: ${ .steps.b.result.echo }\n"
	okFlow := flowFile("chain", "flows: [\"weather -> notes\"]\n"+chain)
	leakFlow := flowFile("leak", chain)
	failFlow := flowFile("fail", "steps:\n  - id: a\n    call: {server: weather, tool: fail}\n")
	downFlow := flowFile("down", "steps:\n  - id: a\n    call: {server: down, tool: echo}\n    with: {text: hi}\n")
	invocations := [][]string{
		{"run", okFlow},
		{"run", okFlow, "--json"},
		{"run", okFlow, "--dry-run"},
		{"run", leakFlow},
		{"run", failFlow},
		{"run", downFlow},
	}
	cold := make([]result, len(invocations))
	for i, args := range invocations {
		cold[i] = e.run("", args...)
	}
	if cold[0].code != 0 || !strings.Contains(cold[0].stdout, `"said": "hello"`) || cold[3].code != 2 || cold[4].code != 1 || cold[5].code != 3 {
		t.Fatalf("the cold answers are not what this test expects: %+v", cold)
	}
	failedRun := runID(t, cold[4])
	coldResume := normalizeRun(e.run("", "resume", failedRun))

	d := startWarmDaemon(t, e)
	compare := func(what string, extra ...string) {
		t.Helper()
		for i, args := range invocations {
			r := e.run("", append(extra, args...)...)
			if got, want := normalizeRun(r), normalizeRun(cold[i]); got != want {
				t.Errorf("%s: mediator %s\ngot  exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
					what, strings.Join(args, " "), got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
			}
		}
	}
	compare("warm")
	// The chain's two calls (twice) and the failing call reach the
	// daemon, each after the tool's description the retry rule reads;
	// the dry run asks for the descriptions (each twice: for the retry
	// rule and to check the arguments); the unreachable server's
	// description fails, so nothing is called; the undeclared flow is
	// refused by the CLI before anything connects.
	warmCalls := d.calls.Load()
	if warmCalls != 2*(2*2)+2+4+1 {
		t.Errorf("the daemon answered %d requests, want 15: 5 calls and their tools' descriptions, 4 for the dry run, 1 for the unreachable server", warmCalls)
	}
	if r := normalizeRun(e.run("", "resume", failedRun)); r != coldResume {
		t.Errorf("resume through the daemon:\n%+v\nalone:\n%+v", r, coldResume)
	}
	if d.calls.Load() == warmCalls {
		t.Errorf("resume did not go through the daemon")
	}
	before := d.calls.Load()
	compare("--no-daemon", "--no-daemon")
	if got := d.calls.Load() - before; got != 0 {
		t.Errorf("--no-daemon: the daemon answered %d requests", got)
	}

	// The daemon's records and the CLI's are one intact audit log.
	e.mustRun("", "audit", "verify")
}

// Ctrl-C during a run whose call the daemon is making as an MCP task
// cancels the task on the server (the daemon's orchestrator sees the
// CLI's request end) and exits 130; the task's id reached the CLI's
// journal.
func TestWarmRunCtrlCCancelsTask(t *testing.T) {
	s := hostile.NewTaskServer(hostile.TaskServerOptions{})
	e := taskEnv(t, s)
	fl := filepath.Join(e.dir, "research.flow.yaml")
	if err := os.WriteFile(fl, []byte("version: 1\nname: research\nsteps:\n  - id: r\n    call: {server: lab, tool: "+hostile.TaskTool+"}\n    with: {topic: tides}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startWarmDaemon(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for s.Count("tasks/get") == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // Ctrl-C
	}()
	r := e.runCtx(ctx, "", "run", fl)
	expectCode(t, r, cmdutil.ExitInterrupted, "Ctrl-C during a task through the daemon")
	if d.calls.Load() == 0 {
		t.Fatal("the run did not go through the daemon")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Status("task-1") != "cancelled" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.Status("task-1"); got != "cancelled" {
		t.Errorf("task-1 is %q on the server, want cancelled (sent %+v)", got, s.Sent())
	}
	if j := e.run("", "runs", "show", runID(t, r), "--json"); !strings.Contains(j.stdout, "task-1") {
		t.Errorf("the journal does not hold the task's id:\n%s\n%s", j.stdout, j.stderr)
	}
}
