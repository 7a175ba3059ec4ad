package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Short canaries: secrets under 8 characters, which detection used to miss.
const (
	shortPassword = "h7Qz"
	urlPassword   = "Vb3Nw"
)

// One server's problem (an unset ${VAR}, a secret written inline) is that
// server's: commands that do not use it work, `servers` shows it with its
// problem, what needs it fails with the problem, and `config validate`
// still fails. No secret value from the file is ever printed.
func TestOneServersProblemLeavesTheOthersWorking(t *testing.T) {
	e := newTestEnv(t)
	e.canary = append(e.canary, shortPassword, urlPassword)
	srv, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  vars:\n    command: srv\n    env: {DATA_DIR: \"${MY_UNSET_VAR}\"}\n" +
		"  leaky:\n    command: srv\n    args: [\"redis://:" + urlPassword + "@cache:6379\"]\n    env: {DB_PASSWORD: " + shortPassword + "}\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")

	r := e.mustRun("", "call", "weather", "echo", "-a", "text=hello")
	if !strings.Contains(r.stdout, `"echo": "hello"`) {
		t.Errorf("call weather: %s", r.stdout)
	}
	flow := filepath.Join(e.dir, "echo.flow.yaml")
	os.WriteFile(flow, []byte("version: 1\nname: echo\nsteps:\n  - id: one\n    call: {server: weather, tool: echo}\n    with: {text: hi}\n"), 0o600)
	e.mustRun("", "run", flow)

	varsProblem := e.cfgPath + ":11:21: servers.vars.env.DATA_DIR: environment variable MY_UNSET_VAR is not set"
	r = e.run("", "servers")
	expectCode(t, r, 2, "servers")
	for _, want := range []string{
		"leaky    -                -",
		"invalid-config  0      servers.leaky.args[0]: holds a URL with a password (user:password@) on the command line; store it with \"mediator secret set leaky NAME\" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment (and 1 more)",
		"invalid-config  0      servers.vars.env.DATA_DIR: environment variable MY_UNSET_VAR is not set",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("servers lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "weather  streamable-http  "+srv.URL) || !strings.Contains(r.stdout, "ready") {
		t.Errorf("servers does not show weather ready:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "error: 2 of 3 servers have problems in the config (`mediator config validate` lists them)") {
		t.Errorf("servers stderr:\n%s", r.stderr)
	}
	r = e.run("", "servers", "--json")
	expectCode(t, r, 2, "servers --json")
	var rows []struct {
		Name, State string
		Problems    []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("servers --json: %v\n%s", err, r.stdout)
	}
	if len(rows) != 3 || rows[1].Name != "vars" || rows[1].State != "invalid-config" || len(rows[1].Problems) != 1 || !strings.HasPrefix(rows[1].Problems[0], varsProblem) ||
		rows[0].Name != "leaky" || len(rows[0].Problems) != 2 || rows[2].State != "ready" {
		t.Errorf("servers --json:\n%s", r.stdout)
	}

	// What needs the server fails with its problem, at its line.
	r = e.run("", "call", "vars", "anything")
	expectCode(t, r, 2, "call vars")
	if !strings.Contains(r.stderr, `error: server "vars" cannot be used until its entry in the config is fixed:`) || !strings.Contains(r.stderr, varsProblem) {
		t.Errorf("call vars:\n%s", r.stderr)
	}
	os.WriteFile(flow, []byte("version: 1\nname: vars\nsteps:\n  - id: one\n    call: {server: vars, tool: echo}\n"), 0o600)
	r = e.run("", "run", flow)
	expectCode(t, r, 2, "run a flow calling vars")
	if !strings.Contains(r.stderr, varsProblem) {
		t.Errorf("run:\n%s", r.stderr)
	}
	r = e.run("", "tools")
	expectCode(t, r, 2, "tools")
	if !strings.Contains(r.stdout, "weather.echo") || !strings.Contains(r.stderr, varsProblem) {
		t.Errorf("tools:\n%s\n%s", r.stdout, r.stderr)
	}

	// config validate still reports every problem and fails.
	r = e.run("", "config", "validate")
	expectCode(t, r, 2, "config validate")
	if !strings.Contains(r.stderr, varsProblem) || !strings.Contains(r.stderr, "servers.leaky.env.DB_PASSWORD: looks like a secret written inline") ||
		!strings.Contains(r.stderr, "3 problems in "+e.cfgPath) {
		t.Errorf("config validate:\n%s", r.stderr)
	}

	// The fix the messages suggest works while the server is broken.
	r = e.mustRun("value-of-item", "secret", "set", "leaky", "db-password")
	if strings.Contains(r.stderr, "not in the config") {
		t.Errorf("secret set for a configured server warns:\n%s", r.stderr)
	}
	r = e.mustRun("", "auth", "status")
	if !strings.Contains(r.stdout, "vars     stdio    invalid config") {
		t.Errorf("auth status:\n%s", r.stdout)
	}
}
