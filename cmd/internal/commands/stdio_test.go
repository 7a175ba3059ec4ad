package commands_test

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// The reference server over stdio, as a user would configure it.
func TestStdioServerEverything(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	e := newTestEnv(t)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = `"` + a + `"`
	}
	e.writeConfig("servers:\n  everything:\n    command: " + command + "\n    args: [" + strings.Join(quoted, ", ") + "]\n    tools: {allow: [\"echo\", \"get-*\"]}\n    timeout: 20s\n")

	r := e.mustRun("", "tools", "everything")
	if !strings.Contains(r.stdout, "everything.echo ") {
		t.Fatalf("tools:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, " no ") {
		t.Errorf("the allow filter should exclude some tools:\n%s", r.stdout)
	}
	r = e.mustRun("", "call", "everything", "echo", "-a", "message=hello over stdio")
	if !strings.Contains(r.stdout, "hello over stdio") {
		t.Errorf("call echo: %s", r.stdout)
	}
	// Filtered out by tools.allow: refused before anything is sent.
	r = e.mustRun("", "call", "everything", "get-sum", "-a", "a=2", "-a", "b=3.5")
	if !strings.Contains(r.stdout, "5.5") {
		t.Errorf("get-sum: %s", r.stdout)
	}
	r = e.mustRun("", "call", "everything", "get-tiny-image")
	if !strings.Contains(r.stdout, "[image: image/png, ") {
		t.Errorf("an image is summarized, not dumped: %.300s", r.stdout)
	}
	r = e.run("", "call", "everything", "trigger-long-running-operation")
	if r.code != 2 || !strings.Contains(r.stderr, "allow") {
		t.Errorf("a tool outside tools.allow: exit %d, stderr %s", r.code, r.stderr)
	}
}
