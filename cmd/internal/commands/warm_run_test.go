package commands_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
// two servers its flows: declares, the same chain undeclared (refused,
// exit 2), and a tool's error result (exit 1); --no-daemon bypasses the
// daemon; and `mediator resume` of the failed run goes through it too.
func TestWarmRunSameAsCold(t *testing.T) {
	e := newTestEnv(t)
	weather, _ := startServer(t, canaryKey)
	notes, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  notes:\n    url: " + notes.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
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
	invocations := [][]string{
		{"run", okFlow},
		{"run", okFlow, "--json"},
		{"run", leakFlow},
		{"run", failFlow},
	}
	cold := make([]result, len(invocations))
	for i, args := range invocations {
		cold[i] = e.run("", args...)
	}
	if cold[0].code != 0 || !strings.Contains(cold[0].stdout, `"said": "hello"`) || cold[2].code != 2 || cold[3].code != 1 {
		t.Fatalf("the cold answers are not what this test expects: %+v", cold)
	}
	failedRun := runID(t, cold[3])
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
	// the undeclared flow is refused by the CLI before anything connects.
	warmCalls := d.calls.Load()
	if warmCalls != 2*(2*2)+2 {
		t.Errorf("the daemon answered %d requests, want 10: 5 calls and their tools' descriptions", warmCalls)
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
