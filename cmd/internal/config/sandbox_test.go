package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
)

// sandbox: off, or paths (relative to the config file, ~ expanded) and
// rights; mediator's own directories are refused where the config names
// them.
func TestSandboxSettings(t *testing.T) {
	cfg, p, err := load(t, "config.yaml", `state_dir: /home/u/.local/state/mediator
servers:
  off:
    command: node
    sandbox: off
  paths:
    command: node
    sandbox: {read: [/srv/in, ~/models], write: [/srv/out], network: false, unix_sockets: true}
  default:
    command: node
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	want := map[string]connectors.SandboxConfig{
		"off":     {Off: true},
		"paths":   {Read: []string{"/srv/in", "/home/u/models"}, Write: []string{"/srv/out"}, NoNetwork: true, UnixSockets: true},
		"default": {},
	}
	for _, s := range cfg.Servers {
		w := want[s.Name]
		if s.Sandbox.Off != w.Off || !slices.Equal(s.Sandbox.Read, w.Read) || !slices.Equal(s.Sandbox.Write, w.Write) || s.Sandbox.NoNetwork != w.NoNetwork || s.Sandbox.UnixSockets != w.UnixSockets {
			t.Errorf("%s: sandbox %+v, want %+v", s.Name, s.Sandbox, w)
		}
	}
	if got := cfg.ProtectedPaths(); !slices.Contains(got, dir) || !slices.Contains(got, "/home/u/.local/state/mediator") {
		t.Errorf("protected paths %v lack the config dir or the state dir", got)
	}

	_, p, err = load(t, "config.yaml", `state_dir: /home/u/state
servers:
  a:
    command: node
    sandbox: maybe
  b:
    command: node
    sandbox: {read: [/home/u/state/pins, data], write: [/home], networks: false}
  c:
    url: https://c.example.com/mcp
    sandbox: off
`, nil)
	got := problems(t, err, p)
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], filepath.Dir(p), "DIR")
	}
	assertProblems(t, got, []string{
		`FILE:5:14: servers.a.sandbox: expected off, or a mapping {read: [PATH...], write: [PATH...], network: false, unix_sockets: true}, got "maybe"`,
		`FILE:8:22: servers.b.sandbox.read[0]: /home/u/state/pins is inside /home/u/state, one of mediator's own directories, which the sandbox never grants a server; give it a directory of its own`,
		`FILE:8:42: servers.b.sandbox.read[1]: DIR/data is inside DIR, one of mediator's own directories, which the sandbox never grants a server; give it a directory of its own`,
		`FILE:8:57: servers.b.sandbox.write[0]: /home holds /home/u/.local/share/mediator/keyring, one of mediator's own directories, which the sandbox never grants a server; give it a directory of its own`,
		`FILE:8:65: servers.b.sandbox.networks: unknown field (did you mean "network"?); valid: network, read, unix_sockets, write`,
		`FILE:9:3: servers.c: sandbox: sandbox applies only to stdio servers, which mediator starts; an HTTP server runs elsewhere`,
	})
}
