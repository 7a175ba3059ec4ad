package commands_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// canaryCalendarKey is the calendar server's key in the Secret Service
// tests; like the other canaries it must never be printed.
const canaryCalendarKey = "canary-cal-Vb3Nm7Qw1Ez5Rt"

// secretServiceEnv is a testEnv whose config says `backend: auto`, with
// gnome-keyring's Secret Service on a private bus in its environment (and
// the file keyring's passphrase too, so auto could fall back to it).
func secretServiceEnv(t *testing.T) (*testEnv, *testenv.SecretService) {
	t.Helper()
	ss := testenv.StartSecretService(t)
	e := newTestEnv(t)
	e.useSecretService(ss.Env)
	e.canary = append(e.canary, canaryCalendarKey)
	return e, ss
}

// With `backend: auto` and a Secret Service on the session bus, the secret
// commands store into its login collection, one item per (server, name),
// and an HTTP server and a stdio server get their credentials from there.
func TestSecretServiceCommands(t *testing.T) {
	e, ss := secretServiceEnv(t)
	srv, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		stdioServerYAML(t, "leaky", "talk", "    secret_env: {API_TOKEN: token}\n    timeout: 20s\n"))

	r := e.mustRun(canaryKey+"\n", "secret", "set", "weather", "api-key")
	if !strings.Contains(r.stderr, `Stored secret "api-key" of server "weather" in the secret-service keyring (collection login)`) {
		t.Errorf("set: %s", r.stderr)
	}
	e.mustRun(canaryKey+"\n", "secret", "set", "weather", "api-key")
	if items := ss.Items(t, map[string]string{"profile": "mediator/weather/api-key"}); len(items) != 1 {
		t.Errorf("two sets left %d items for weather/api-key, want 1", len(items))
	}
	e.mustRun(canaryKey, "secret", "set", "leaky", "token")
	if _, err := os.Stat(filepath.Join(e.dir, "keyring")); !os.IsNotExist(err) {
		t.Errorf("auto used the file keyring too: %v", err)
	}

	r = e.mustRun("", "secret", "list")
	if r.stdout != "SERVER   NAME\nleaky    token\nweather  api-key\n" || !strings.Contains(r.stderr, "secret-service keyring (collection login)") {
		t.Errorf("list:\n%s%s", r.stdout, r.stderr)
	}
	r = e.mustRun("", "secret", "list", "--json")
	var listing struct{ Backend, Location string }
	if err := json.Unmarshal([]byte(r.stdout), &listing); err != nil || listing.Backend != "secret-service" || listing.Location != "collection login" {
		t.Errorf("list --json: %v\n%s", err, r.stdout)
	}

	r = e.mustRun("", "call", "weather", "echo", "-a", "text=from the keyring")
	if !strings.Contains(r.stdout, `"echo": "from the keyring"`) {
		t.Errorf("call weather: %s", r.stdout)
	}
	// The stdio server logs the token it was given; it arrives masked,
	// which shows it is exactly the stored value.
	r = e.mustRun("", "--log-level", "info", "call", "leaky", "echo", "-a", "text=hi")
	if !strings.Contains(r.stderr, "[leaky] echo called; my token is [REDACTED]\n") {
		t.Errorf("the stdio server did not get the stored token:\n%s", r.stderr)
	}

	e.mustRun("", "secret", "rm", "weather", "api-key")
	if items := ss.Items(t, map[string]string{"profile": "mediator/weather/api-key"}); len(items) != 0 {
		t.Errorf("rm left %d items", len(items))
	}
	r = e.run("", "secret", "rm", "weather", "api-key")
	expectCode(t, r, 2, "removing a missing secret")
	if !strings.Contains(r.stderr, `has no secret "api-key" in the secret-service keyring`) {
		t.Errorf("rm missing: %s", r.stderr)
	}
}

// A locked collection makes every command that needs the keyring exit 3
// with how to unlock it; none waits for an unlock dialog, and auto does
// not switch to the file keyring.
func TestSecretServiceLockedCommands(t *testing.T) {
	e, ss := secretServiceEnv(t)
	srv, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n  weather:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	prompts := ss.SilentPrompter(t)
	ss.Lock(t)

	for _, args := range [][]string{
		{"secret", "list"},
		{"secret", "set", "weather", "token"},
		{"secret", "rm", "weather", "api-key"},
		{"call", "weather", "echo", "-a", "text=hi"},
	} {
		r := e.run("some-value", args...)
		expectCode(t, r, 3, strings.Join(args, " "))
		for _, want := range []string{`collection "login" is locked`, "gnome-keyring-daemon --unlock", "credentials.backend: file"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", strings.Join(args, " "), want, r.stderr)
			}
		}
	}
	if n := prompts(); n != 0 {
		t.Errorf("%d calls reached the prompter", n)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "keyring")); !os.IsNotExist(err) {
		t.Errorf("auto fell back to the file keyring: %v", err)
	}
}

// The session bus goes away in the middle of a run, after the keyring is
// open and the first step has run: the step whose server still needs its
// key fails with an error that says the bus is gone (exit 3), and the run
// ends instead of hanging.
func TestSecretServiceGoneMidRun(t *testing.T) {
	e, ss := secretServiceEnv(t)
	weather, ws := startServer(t, canaryKey)
	mcp.AddTool(ws, &mcp.Tool{Name: "cut", Description: "Ends the D-Bus session bus."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, echoOut, error) {
			ss.StopBus(t)
			return nil, echoOut{Echo: "the bus is gone"}, nil
		})
	calendar, _ := startServer(t, canaryCalendarKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  calendar:\n    url: " + calendar.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	e.mustRun(canaryCalendarKey, "secret", "set", "calendar", "api-key")
	flow := filepath.Join(e.dir, "cut.flow.yaml")
	if err := os.WriteFile(flow, []byte(`version: 1
name: cut
flows: [weather -> calendar]
steps:
  - id: one
    call: {server: weather, tool: cut}
  - id: two
    call: {server: calendar, tool: echo}
    with: {text: "${ .steps.one.result.echo }"}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	r := e.run("", "run", flow)
	expectCode(t, r, 3, "run with the bus gone after step one")
	for _, want := range []string{"calendar", `secret "api-key"`, "the connection to the D-Bus session bus", "is closed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
