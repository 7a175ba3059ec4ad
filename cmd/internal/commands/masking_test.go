package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With audit.include_values, mediator learns every stored secret before
// the first call, so one server's key pasted into a call to a server that
// needs no credential is masked in the audit record and in the printed
// result, as is a token inside an OAuth item's JSON. Without it, the
// keyring is opened only for a server that needs it, and then every stored
// secret is masked in what mediator prints.
func TestEveryStoredSecretIsMasked(t *testing.T) {
	const calendarKey, oauthToken = "canary-calendar-Lp3Xr7Nq", "canary-oauth-access-Wd5Ke9Fm"
	e := newTestEnv(t)
	e.canary = append(e.canary, calendarKey, oauthToken)
	weather, _ := startServer(t, canaryKey)
	open, _ := startServer(t, "")
	audit := filepath.Join(e.dir, "audit.jsonl")
	servers := "servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  open:\n    url: " + open.URL + "\n    timeout: 10s\n"
	e.writeConfig(servers + "audit: {path: " + audit + ", include_values: true}\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	e.mustRun(calendarKey, "secret", "set", "calendar", "token")
	e.mustRun(`{"access_token": "`+oauthToken+`", "token_type": "Bearer"}`, "secret", "set", "github", "oauth-token-0123")

	for _, value := range []string{canaryKey, calendarKey, oauthToken} {
		r := e.mustRun("", "call", "open", "echo", "-a", "text=pasted "+value)
		if !strings.Contains(r.stdout, `"echo": "pasted [REDACTED]"`) {
			t.Errorf("result printed as:\n%s", r.stdout)
		}
	}
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.canary {
		if strings.Contains(string(b), c) {
			t.Fatalf("the audit log holds a secret value:\n%s", b)
		}
	}
	if strings.Count(string(b), "pasted [REDACTED]") != 3 {
		t.Errorf("the audit log does not hold the masked values:\n%s", b)
	}

	// Values not recorded: a call to a server without a credential still
	// needs the keyring, for the audit log's key: without the passphrase
	// nothing is sent, and the error says why the keyring was needed, ...
	e.writeConfig(servers)
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	r := e.run("", "call", "open", "echo", "-a", "text=plain")
	if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "the audit log is keyed with a secret in the keyring") ||
		!strings.Contains(r.stderr, "MEDIATOR_KEYRING_PASSPHRASE") {
		t.Errorf("a call without the keyring's passphrase: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	e.vars["MEDIATOR_KEYRING_PASSPHRASE"] = canaryPassphrase
	r = e.mustRun("", "call", "open", "echo", "-a", "text=plain")
	if !strings.Contains(r.stdout, `"echo": "plain"`) {
		t.Errorf("result printed as:\n%s", r.stdout)
	}
	// ... and one to a server with a credential masks every stored secret.
	r = e.mustRun("", "call", "weather", "echo", "-a", "text=pasted "+calendarKey)
	if !strings.Contains(r.stdout, `"echo": "pasted [REDACTED]"`) {
		t.Errorf("result printed as:\n%s", r.stdout)
	}

	// include_values with a keyring that cannot be opened: nothing is
	// called, and the error says why the keyring was needed.
	e.writeConfig(servers + "audit: {path: " + audit + ", include_values: true}\n")
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	r = e.run("", "call", "open", "echo", "-a", "text=x")
	if r.code == 0 || !strings.Contains(r.stderr, "audit.include_values is on") || !strings.Contains(r.stderr, "MEDIATOR_KEYRING_PASSPHRASE") {
		t.Errorf("include_values without a keyring: exit %d\n%s", r.code, r.stderr)
	}
}
