package commands_test

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// A stdio server that logs the credential mediator gave it: at --log-level
// info its stderr reaches mediator's, each line masked and marked with
// the server's name, including a value split over two writes and a last
// line without a newline. The harness fails the test if the canary shows.
func TestStdioServerStderrIsMasked(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n" + stdioServerYAML(t, "leaky", "talk", "    secret_env: {API_TOKEN: token}\n    timeout: 20s\n"))
	e.mustRun(canaryKey, "secret", "set", "leaky", "token")

	r := e.mustRun("", "--log-level", "info", "call", "leaky", "echo", "-a", "text=hi")
	if !strings.Contains(r.stdout, `"echo": "hi"`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	for _, want := range []string{
		"[leaky] starting with API_TOKEN=[REDACTED]\n",
		"[leaky] split: API_TOKEN=[REDACTED] (done)\n",
		"[leaky] echo called; my token is [REDACTED]\n",
		"[leaky] bye, API_TOKEN=[REDACTED]\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// At the default level the server's log is not shown at all.
	r = e.mustRun("", "call", "leaky", "echo", "-a", "text=hi")
	if strings.Contains(r.stderr, "[leaky]") {
		t.Errorf("server log at level warn:\n%s", r.stderr)
	}
}

// With several stdio servers each one's lines carry its own name, not a
// prefix naming them all, so the user can tell whose line it is.
func TestStdioServersLogUnderTheirOwnNames(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n" +
		stdioServerYAML(t, "one", "talk", "    secret_env: {API_TOKEN: token}\n    timeout: 20s\n") +
		stdioServerYAML(t, "two", "talk", "    secret_env: {API_TOKEN: token}\n    timeout: 20s\n"))
	e.mustRun(canaryKey, "secret", "set", "one", "token")
	e.mustRun(canaryKey, "secret", "set", "two", "token")

	r := e.mustRun("", "--log-level", "info", "servers")
	for _, want := range []string{
		"[one] starting with API_TOKEN=[REDACTED]\n",
		"[two] starting with API_TOKEN=[REDACTED]\n",
		"[one] bye, API_TOKEN=[REDACTED]\n",
		"[two] bye, API_TOKEN=[REDACTED]\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "[one|two]") {
		t.Errorf("a shared prefix:\n%s", r.stderr)
	}
}

// A server that exits while starting: the error shows why, from the last
// lines of its stderr, at the default log level; masked (the harness
// fails the test on the canary) and with no terminal controls.
func TestStdioStartFailureShowsItsStderr(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n" + stdioServerYAML(t, "broken", "fail-start", "    secret_env: {API_TOKEN: token}\n    timeout: 20s\n"))
	e.mustRun(canaryKey, "secret", "set", "broken", "token")

	r := e.run("", "call", "broken", "echo", "-a", "text=hi")
	expectCode(t, r, 3, "server that exits while starting")
	t.Logf("%s", r.stderr)
	for _, want := range []string{"exit status 0", "the last lines of its stderr:", "  " + hostile.FailStartLast, "token [REDACTED]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.ContainsAny(r.stderr, "\x1b\x07\r") {
		t.Errorf("stderr holds terminal controls: %q", r.stderr)
	}
	// `servers` says the same in its reason column, on one line.
	r = e.run("", "servers", "--json")
	expectCode(t, r, 3, "servers")
	if !strings.Contains(r.stdout, hostile.FailStartLast) {
		t.Errorf("servers --json does not show why:\n%s", r.stdout)
	}
}
