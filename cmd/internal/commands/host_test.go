package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// A server that asks for input while `mediator call` runs without a
// terminal gets a decline, the user is told which server asked, and the
// request is in the audit log by method and outcome.
func TestCallDeclinesElicitationWithoutTerminal(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	e := newTestEnv(t)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = `"` + a + `"`
	}
	audit := filepath.Join(e.dir, "audit", "audit.jsonl")
	e.writeConfig("audit:\n  path: " + audit + "\nservers:\n  everything:\n    command: " + command + "\n    args: [" + strings.Join(quoted, ", ") + "]\n    timeout: 20s\n")

	// Every command offers the same client features, so the tools a
	// server lists (and their pins) do not depend on the command.
	r := e.mustRun("", "tools", "everything")
	if !strings.Contains(r.stdout, "everything.trigger-elicitation-request") || strings.Contains(r.stdout, "trigger-sampling-request") {
		t.Errorf("tools: want the elicitation tool and no sampling tool (the command line has no model):\n%s", r.stdout)
	}
	r = e.mustRun("", "call", "everything", "trigger-elicitation-request")
	if !strings.Contains(strings.ToLower(r.stdout), "declined") {
		t.Errorf("the server did not see a decline: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "server everything asked for input") || !strings.Contains(r.stderr, "declined: mediator asks only on a terminal") {
		t.Errorf("stderr does not say which server asked and why it was declined: %s", r.stderr)
	}
	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"method":"elicitation/create"`) || !strings.Contains(string(data), `"outcome":"declined"`) {
		t.Errorf("audit log lacks the elicitation:\n%s", data)
	}
}

// On a terminal, `mediator call` shows the server's progress on one
// stderr line while the call runs, and clears it before the result.
func TestCallShowsProgressOnTerminal(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	e := newTestEnv(t)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = `"` + a + `"`
	}
	e.writeConfig("servers:\n  everything:\n    command: " + command + "\n    args: [" + strings.Join(quoted, ", ") + "]\n    timeout: 20s\n")
	e.setup = func(f *cmdutil.Factory) { f.IOStreams.SetTTY(true, false, true) }
	r := e.mustRun("", "call", "everything", "trigger-long-running-operation", "-a", "duration=0.4", "-a", "steps=4")
	if !strings.Contains(r.stderr, "\r\x1b[Keverything: 25%") {
		t.Errorf("no progress line on stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "Long running operation completed") {
		t.Errorf("stdout: %s", r.stdout)
	}
}
