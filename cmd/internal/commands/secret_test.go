package commands_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

func TestSecretSetListRemove(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n  weather:\n    url: https://weather.example.com/mcp\n    auth: {type: api-key, secret: api-key}\n")

	r := e.mustRun(canaryKey+"\n", "secret", "set", "weather", "api-key")
	if !strings.Contains(r.stderr, `Stored secret "api-key" of server "weather" in the file keyring`) || r.stdout != "" {
		t.Errorf("set: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// The value is on disk only encrypted.
	files, _ := filepath.Glob(filepath.Join(e.dir, "keyring", "*"))
	if len(files) == 0 {
		t.Fatal("no keyring files written")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), canaryKey) {
			t.Fatalf("%s holds the secret in plain text", f)
		}
	}

	r = e.run("", "secret", "set", "weathr", "token")
	expectCode(t, r, 2, "empty value")
	if !strings.Contains(r.stderr, `warning: server "weathr" is not in the config`) || !strings.Contains(r.stderr, `did you mean "weather"?`) || !strings.Contains(r.stderr, "the value is empty") {
		t.Errorf("stderr: %s", r.stderr)
	}

	r = e.mustRun("other-value\r\n", "secret", "set", "calendar", "token")
	if !strings.Contains(r.stderr, `warning: server "calendar" is not in the config`) {
		t.Errorf("no warning for a server missing from the config: %s", r.stderr)
	}

	r = e.mustRun("", "secret", "list")
	if r.stdout != "SERVER    NAME\ncalendar  token\nweather   api-key\n" {
		t.Errorf("list:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "file keyring") {
		t.Errorf("list does not name the backend: %s", r.stderr)
	}
	r = e.mustRun("", "secret", "list", "weather", "--json")
	var listing struct {
		Backend string
		Secrets []struct{ Server, Name string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &listing); err != nil {
		t.Fatal(err, r.stdout)
	}
	if listing.Backend != "file" || len(listing.Secrets) != 1 || listing.Secrets[0].Name != "api-key" {
		t.Errorf("list --json: %+v", listing)
	}

	e.mustRun("", "secret", "rm", "calendar", "token")
	r = e.run("", "secret", "rm", "calendar", "token")
	expectCode(t, r, 2, "removing a missing secret")
	if !strings.Contains(r.stderr, `has no secret "token"`) {
		t.Errorf("rm missing: %s", r.stderr)
	}

	// The value is never taken from argv, and a value typed as the name is refused.
	r = e.run("", "secret", "set", "weather", "api-key", canaryKey)
	expectCode(t, r, 2, "three arguments")
	r = e.run("x", "secret", "set", "weather", "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z")
	expectCode(t, r, 2, "a value as the name")
	if !strings.Contains(r.stderr, "looks like a secret value") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestSecretWrongPassphrase(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	e.vars["MEDIATOR_KEYRING_PASSPHRASE"] = "not-the-passphrase"
	r := e.run("", "secret", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("wrong passphrase: exit %d, stderr %s", r.code, r.stderr)
	}
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	r = e.run("", "secret", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "MEDIATOR_KEYRING_PASSPHRASE") {
		t.Errorf("no passphrase: exit %d, stderr %s", r.code, r.stderr)
	}
}

// On a terminal the passphrase and the value are read without echo (the
// reader is faked here: tests have no terminal), and neither is printed.
func TestSecretSetOnATerminal(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("")
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	answers := []string{canaryPassphrase, canaryKey}
	e.setup = func(f *cmdutil.Factory) {
		f.IOStreams.SetTTY(true, true, true)
		f.ReadPassword = func(int) ([]byte, error) {
			if len(answers) == 0 {
				return nil, errors.New("no more input")
			}
			a := answers[0]
			answers = answers[1:]
			return []byte(a), nil
		}
	}
	r := e.mustRun("", "secret", "set", "weather", "api-key")
	if !strings.Contains(r.stderr, "Passphrase for the mediator keyring at") || !strings.Contains(r.stderr, "Value of weather/api-key (input hidden): ") {
		t.Errorf("prompts: %s", r.stderr)
	}
	e.setup = nil
	e.vars["MEDIATOR_KEYRING_PASSPHRASE"] = canaryPassphrase
	r = e.mustRun("", "secret", "list")
	if !strings.Contains(r.stdout, "weather  api-key") {
		t.Errorf("list: %s", r.stdout)
	}
}
