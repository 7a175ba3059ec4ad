package commands_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// termServerMode runs the test binary as hostile.TermServer.
const termServerMode = "hostile-term"

// termEnv configures hostile.TermServer as the stdio server "hostile";
// variant goes to its environment (hostile.TermVariantEnv).
func termEnv(t *testing.T, e *testEnv, variant string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e.writeConfig(fmt.Sprintf("servers:\n  hostile:\n    command: %q\n    args: [\"-test.run=^$\"]\n    env: {%s: %s, %s: %q}\n    timeout: 20s\n",
		exe, stdioServerEnv, termServerMode, hostile.TermVariantEnv, variant))
}

// assertTerminalSafe fails the test if anything of an attack reached what
// mediator printed, stdout or stderr.
func assertTerminalSafe(t *testing.T, what string, r result) {
	t.Helper()
	for _, a := range hostile.TermAttacks() {
		for _, m := range a.Marks {
			for stream, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
				if strings.Contains(out, m) {
					t.Errorf("%s: %s reached %s (%q):\n%q", what, a.Name, stream, m, out)
				}
			}
		}
	}
}

// A server's text reaches the terminal as text only: its stderr, its
// tool results, error results and protocol errors, its tools' titles and
// descriptions in listings and in `tools diff`, and the progress of a
// flow that calls it carry none of what would drive a terminal (clipboard
// writes, erased or forged lines, bidi overrides), while the text around
// it still shows. With --json the value is the server's exactly.
func TestServerTextCannotDriveTheTerminal(t *testing.T) {
	e := newTestEnv(t)
	termEnv(t, e, "")

	for _, c := range []struct {
		args []string
		code int
		// visible is where the server's plain text must still show.
		visible string
	}{
		{[]string{"--log-level", "info", "servers"}, 0, "stderr"},
		{[]string{"--log-level", "info", "tools", "hostile"}, 0, "stdout"},
		{[]string{"call", "hostile", "say"}, 0, "stdout"},
		{[]string{"call", "hostile", "fail"}, 1, "stderr"},
		{[]string{"call", "hostile", "explode"}, -1, "stderr"},
		{[]string{"--log-level", "info", "call", "hostile", "log"}, 0, "stderr"},
	} {
		what := strings.Join(c.args, " ")
		r := e.run("", c.args...)
		if c.code >= 0 {
			expectCode(t, r, c.code, what)
		} else if r.code == 0 {
			t.Errorf("%s: exit 0 for a protocol error", what)
		}
		assertTerminalSafe(t, what, r)
		shown := map[string]string{"stdout": r.stdout, "stderr": r.stderr}[c.visible]
		if !strings.Contains(shown, hostile.TermVisible) {
			t.Errorf("%s: the server's plain text is gone from %s:\nstdout:\n%s\nstderr:\n%s", what, c.visible, r.stdout, r.stderr)
		}
	}

	// An error message quoting the server's text has it indented below
	// its first line, so no line of it passes for one of mediator's own.
	r := e.run("", "call", "hostile", "explode")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	for i, l := range lines {
		if (i == 0) != strings.HasPrefix(l, "error: ") || (i > 0 && !strings.HasPrefix(l, "  ")) {
			t.Errorf("call hostile explode: line %d of the error is not indented: %q", i+1, l)
		}
	}

	// --json keeps the value exact: the text decodes to what the server
	// sent, though the bytes printed are terminal-safe.
	r = e.mustRun("", "call", "hostile", "say", "--json")
	assertTerminalSafe(t, "call --json", r)
	var res struct {
		Content []struct{ Type, Text, Name string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Content) != 2 {
		t.Fatalf("call --json: %v\n%s", err, r.stdout)
	}
	for _, a := range hostile.TermAttacks() {
		if !strings.Contains(res.Content[0].Text, a.Text) || !strings.Contains(res.Content[1].Name, a.Text) {
			t.Errorf("call --json lost %s from the value", a.Name)
		}
	}
	r = e.mustRun("", "tools", "hostile", "--json")
	assertTerminalSafe(t, "tools --json", r)
	if !strings.Contains(r.stdout, `\u001b]52;c;`) || !strings.Contains(r.stdout, `\u202e`) {
		t.Errorf("tools --json does not escape the attacks:\n%s", r.stdout)
	}

	// A changed description, shown by tools diff.
	termEnv(t, e, " Now different.")
	r = e.mustRun("", "tools", "diff", "hostile")
	assertTerminalSafe(t, "tools diff", r)
	if !strings.Contains(r.stdout, "Now different.") || !strings.Contains(r.stdout, hostile.TermVisible) {
		t.Errorf("tools diff shows no change:\n%s", r.stdout)
	}
	e.mustRun("", "tools", "accept", "hostile")

	// A flow's progress quotes the failures of its steps.
	flow := filepath.Join(e.dir, "hostile.flow.yaml")
	src := "version: 1\nname: hostile\nsteps:\n" +
		"  - id: said\n    call: {server: hostile, tool: say}\n" +
		"  - id: failed\n    call: {server: hostile, tool: fail}\n    on_error: continue\n" +
		"  - id: exploded\n    call: {server: hostile, tool: explode}\n"
	if err := os.WriteFile(flow, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "--log-level", "info", "run", flow)
	if r.code == 0 {
		t.Errorf("flow run: exit 0\n%s", r.stderr)
	}
	assertTerminalSafe(t, "run", r)
	if !strings.Contains(r.stderr, hostile.TermVisible) {
		t.Errorf("run: the failures' text is gone:\n%s", r.stderr)
	}
	r = e.run("", "runs", "list")
	assertTerminalSafe(t, "runs list", r)
}
