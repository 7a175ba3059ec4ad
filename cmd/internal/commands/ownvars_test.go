package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mediator's own variables never reach a server through the config: a
// ${MEDIATOR_KEYRING_PASSPHRASE} (or any MEDIATOR_*) anywhere a value is
// expanded is a problem with its file and line, though the variable is
// set, and the passphrase appears in no output (the harness checks).
func TestConfigRefusesMediatorVariables(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(`servers:
  leak:
    command: srv
    args: ["--key=${MEDIATOR_KEYRING_PASSPHRASE}"]
    env: {X: "${MEDIATOR_KEYRING_PASSPHRASE}", Y: "${env:mediator_keyring_passphrase}"}
  web:
    url: https://web.example.com/${MEDIATOR_CONFIG}
    headers: {X-Trace: "${MEDIATOR_KEYRING_PASSPHRASE}", X-Other: "${UNSET:-${MEDIATOR_KEYRING_PASSPHRASE}}"}
`)
	r := e.run("", "config", "validate")
	expectCode(t, r, 2, "config validate")
	for _, want := range []string{
		"config.yaml:7:12: servers.leak.args[0]: ${MEDIATOR_KEYRING_PASSPHRASE} refers to mediator's own environment",
		"config.yaml:8:14: servers.leak.env.X: ${MEDIATOR_KEYRING_PASSPHRASE} refers to mediator's own environment",
		"config.yaml:8:51: servers.leak.env.Y: ${mediator_keyring_passphrase} refers to mediator's own environment",
		"config.yaml:10:10: servers.web.url: ${MEDIATOR_CONFIG} refers to mediator's own environment",
		"config.yaml:11:24: servers.web.headers.X-Trace: ${MEDIATOR_KEYRING_PASSPHRASE} refers to mediator's own environment",
		"config.yaml:11:67: servers.web.headers.X-Other: ${UNSET:-${MEDIATOR_KEYRING_PASSPHRASE}: a default is plain text",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// Every command loads the config the same way; none gets as far as
	// starting the server.
	r = e.run("", "call", "leak", "anything")
	expectCode(t, r, 2, "call")
	if !strings.Contains(r.stderr, "servers.leak.env.X: ${MEDIATOR_KEYRING_PASSPHRASE} refers to mediator's own environment") {
		t.Errorf("call:\n%s", r.stderr)
	}
}

// Import refuses the reference wherever the source file has it, naming
// the source file's line, and writes nothing: neither a config that keeps
// the reference nor a keyring item holding the passphrase.
func TestImportRefusesMediatorVariables(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("")
	src := filepath.Join(e.dir, "claude.json")
	for _, c := range []struct{ name, entry, want string }{
		{"env", `{"command": "srv",
      "env": {"X": "${MEDIATOR_KEYRING_PASSPHRASE}"}}`, `claude.json:3:20: mcpServers.s.env.X: ${MEDIATOR_KEYRING_PASSPHRASE} refers to mediator's own environment`},
		{"credential env", `{"command": "srv",
      "env": {"API_TOKEN": "${env:MEDIATOR_KEYRING_PASSPHRASE}"}}`, `claude.json:3:28: mcpServers.s.env.API_TOKEN: ${MEDIATOR_KEYRING_PASSPHRASE} refers`},
		{"header", `{"url": "https://s.example.com/mcp",
      "headers": {"X-Trace": "${MEDIATOR_KEYRING_PASSPHRASE}"}}`, `claude.json:3:30: mcpServers.s.headers.X-Trace: ${MEDIATOR_KEYRING_PASSPHRASE} refers`},
		{"authorization", `{"url": "https://s.example.com/mcp",
      "headers": {"Authorization": "Bearer ${MEDIATOR_KEYRING_PASSPHRASE}"}}`, `claude.json:3:36: mcpServers.s.headers.Authorization: ${MEDIATOR_KEYRING_PASSPHRASE} refers`},
		{"args", `{"command": "srv",
      "args": ["--x", "${MEDIATOR_KEYRING_PASSPHRASE}"]}`, `claude.json:3:23: mcpServers.s.args[1]: ${MEDIATOR_KEYRING_PASSPHRASE} refers`},
		{"url", `{"url": "https://s.example.com/${MEDIATOR_CONFIG}"}`, `claude.json:2:16: mcpServers.s.url: ${MEDIATOR_CONFIG} refers`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(src, []byte("{\"mcpServers\": {\n  \"s\": "+c.entry+"}}"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := e.run("", "servers", "import", src)
			expectCode(t, r, 2, "import")
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, r.stderr)
			}
			if b, _ := os.ReadFile(e.cfgPath); strings.Contains(string(b), "MEDIATOR_") {
				t.Errorf("the config keeps the reference:\n%s", b)
			}
			if r := e.mustRun("", "secret", "list"); strings.TrimSpace(r.stdout) != "" && !strings.Contains(r.stdout, "no items") {
				t.Errorf("a keyring item was written:\n%s", r.stdout)
			}
		})
	}
}
