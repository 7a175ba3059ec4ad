package commands_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
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
	timePattern     = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)`)
	durationPattern = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(ns|µs|ms|s)\b`)
)

func normalizeRun(r result) result {
	for _, re := range []*regexp.Regexp{runIDPattern, timePattern, durationPattern} {
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
	// description fails, so nothing is called; each of the 5 runs that
	// connect first asks which of its texts are secrets; the undeclared
	// flow is refused by the CLI before anything connects.
	warmCalls := d.calls.Load()
	if warmCalls != 2*(2*2)+2+4+1+5 {
		t.Errorf("the daemon answered %d requests, want 20: 5 calls and their tools' descriptions, 4 for the dry run, 1 for the unreachable server, 5 secret-span questions", warmCalls)
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

// journalBytes is every byte of the run journals under dir: the database
// and its write-ahead log, as they are on disk.
func journalBytes(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "runs.db") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			all = append(all, b...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatalf("no run journal under %s", dir)
	}
	return all
}

// A secret the keyring holds, given to a run through the daemon as an
// input, is masked everywhere the CLI puts it (the CLI has not opened the
// keyring; the daemon tells it which parts of its inputs and flow files
// are secrets): in the journal's bytes, on stdout and stderr, with and
// without --json, in `runs show`, also when a server answers it back and
// when a refused call's error holds it; and everything printed equals the
// --no-daemon run's.
func TestWarmRunMasksInputSecret(t *testing.T) {
	e := newTestEnv(t)
	weather, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	fl := filepath.Join(e.dir, "token.flow.yaml")
	body := "version: 1\nname: token\ninputs:\n  token: {type: string}\n" +
		"steps:\n" +
		"  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: \"${ .inputs.token }\"}\n" +
		"  - id: b\n    needs: [a]\n    call: {server: weather, tool: say}\n    with: {text: \"${ .inputs.token }\"}\n" +
		"outputs:\n  given: ${ .inputs.token }\n  echoed: ${ .steps.a.result.echo }\n"
	if err := os.WriteFile(fl, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.dir, "bad.flow.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nname: bad\ninputs:\n  token: {type: string}\n"+
		"steps:\n  - id: a\n    call: {server: weather, tool: add}\n    with: {a: \"${ .inputs.token }\", b: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An input that holds the secret base64-encoded, which the flow
	// decodes: the CLI learns the value, not only its encoding.
	dec := filepath.Join(e.dir, "dec.flow.yaml")
	if err := os.WriteFile(dec, []byte("version: 1\nname: dec\ninputs:\n  enc: {type: string}\n"+
		"steps:\n  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: hi}\n"+
		"outputs:\n  decoded: ${ .inputs.enc | @base64d }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A secret the flow assembles from parts that are not secrets, sent
	// to a tool: the daemon names it in the call's arguments.
	join := filepath.Join(e.dir, "join.flow.yaml")
	if err := os.WriteFile(join, []byte("version: 1\nname: join\ninputs:\n  a: {type: string}\n  b: {type: string}\n"+
		"steps:\n  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: \"${ .inputs.a + .inputs.b }\"}\n"+
		"outputs:\n  joined: ${ .inputs.a + .inputs.b }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	half := len(canaryKey) / 2
	invocations := [][]string{
		{"run", join, "-i", "a=" + canaryKey[:half], "-i", "b=" + canaryKey[half:], "--json"},
		{"run", fl, "-i", "token=" + canaryKey},
		{"run", fl, "-i", "token=" + canaryKey, "--json"},
		{"run", bad, "-i", "token=" + canaryKey},
		{"run", dec, "-i", "enc=" + base64.StdEncoding.EncodeToString([]byte(canaryKey)), "--json"},
	}
	// e.run fails the test when a canary is printed.
	cold := make([]result, len(invocations))
	for i, args := range invocations {
		cold[i] = normalizeRun(e.run("", append([]string{"--no-daemon"}, args...)...))
	}
	if cold[1].code != 0 || !strings.Contains(cold[1].stdout, "[REDACTED]") || cold[3].code == 0 || !strings.Contains(cold[4].stdout, `"decoded": "[REDACTED]"`) ||
		!strings.Contains(cold[0].stdout, `"joined": "[REDACTED]"`) {
		t.Fatalf("the runs without the daemon are not what this test expects: %+v", cold)
	}
	coldShow := normalizeRun(e.run("", "runs", "show", runID(t, e.run("", "--no-daemon", "run", fl, "-i", "token="+canaryKey)), "--json"))
	if bytes.Contains(journalBytes(t, e.dir), []byte(canaryKey)) {
		t.Fatal("the journal holds the secret after runs without the daemon")
	}

	d := startWarmDaemon(t, e)
	for i, args := range invocations {
		if got := normalizeRun(e.run("", args...)); got != cold[i] {
			t.Errorf("mediator %s through the daemon:\ngot  exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
				strings.Join(args, " "), got.code, got.stdout, got.stderr, cold[i].code, cold[i].stdout, cold[i].stderr)
		}
	}
	if d.calls.Load() == 0 {
		t.Fatal("the runs did not go through the daemon")
	}
	warmShow := normalizeRun(e.run("", "runs", "show", runID(t, e.run("", "run", fl, "-i", "token="+canaryKey)), "--json"))
	if warmShow != coldShow {
		t.Errorf("runs show of a run through the daemon:\n%+v\nwithout:\n%+v", warmShow, coldShow)
	}
	if bytes.Contains(journalBytes(t, e.dir), []byte(canaryKey)) {
		t.Error("the journal holds the secret given to a run through the daemon")
	}
}

// `mediator resume` opens the journal before it connects, and connecting
// opens the keyring, which replaces the redactor: the journal masks with
// the redactor of the moment, so a secret in what the resumed run
// journals (here a server's answer quoting a literal of the flow, the
// server down in the first run) is masked there too.
func TestResumeJournalMasksKeyringSecrets(t *testing.T) {
	e := newTestEnv(t)
	weather, _ := startServer(t, canaryKey)
	config := func(url string) {
		e.writeConfig("servers:\n" +
			"  weather:\n    url: " + url + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
	}
	config(downURL(t))
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	fl := filepath.Join(e.dir, "lit.flow.yaml")
	if err := os.WriteFile(fl, []byte("version: 1\nname: lit\nsteps:\n  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: \"key "+canaryKey+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "--no-daemon", "run", fl)
	expectCode(t, r, cmdutil.ExitConnect, "a run with its server down")
	id := runID(t, r)
	config(weather.URL)
	expectCode(t, e.run("", "--no-daemon", "resume", id), 0, "the resume")
	if bytes.Contains(journalBytes(t, e.dir), []byte(canaryKey)) {
		t.Fatal("the journal holds the secret after the resume")
	}
}
