package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

func TestConfigValidate(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun("", "config", "validate")
	if !strings.HasPrefix(r.stdout, "OK: 0 servers") || !strings.Contains(r.stderr, "no config file at") {
		t.Errorf("no config: %+v", r)
	}

	e.writeConfig("servers:\n  weather:\n    url: https://w.example.com\n    auth: {type: baerer, secret: token}\n  x:\n    comand: srv\n")
	r = e.run("", "config", "validate")
	expectCode(t, r, 2, "invalid config")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	want := []string{
		e.cfgPath + `:7:18: servers.weather.auth.type: unknown auth type "baerer" (did you mean "bearer"?); valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls`,
		e.cfgPath + `:8:3: servers.x: needs either url (an HTTP server) or command (a stdio server)`,
		e.cfgPath + `:9:5: servers.x.comand: unknown field (did you mean "command"?); valid: args, auth, command, elicitation, env, headers, max_resource_bytes, max_result_bytes, max_tools, prompts, resources, roots, sampling, sandbox, secret_env, timeout, tls, tools, transport, url`,
		"3 problems in " + e.cfgPath,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, strings.Join(want, "\n"))
	}
	if r.stdout != "" {
		t.Errorf("stdout: %s", r.stdout)
	}

	// The problems are the servers': `servers` shows each with its
	// problem, a command that needs one reports its problems, and both
	// exit 2.
	r = e.run("", "servers")
	expectCode(t, r, 2, "servers with an invalid config")
	if !strings.Contains(r.stdout, "weather  -          -         -        invalid-config  0      servers.weather.auth.type: unknown auth type \"baerer\"") ||
		!strings.Contains(r.stderr, "error: 2 of 2 servers have problems in the config (`mediator config validate` lists them)") {
		t.Errorf("servers:\n%s\n%s", r.stdout, r.stderr)
	}
	r = e.run("", "call", "weather", "echo")
	expectCode(t, r, 2, "call with an invalid config")
	if !strings.HasPrefix(r.stderr, "error: server \"weather\" cannot be used until its entry in the config is fixed:\n  "+e.cfgPath+":7:18: servers.weather.auth.type:") || strings.Count(r.stderr, "baerer") != 1 || strings.Contains(r.stderr, "servers.x") {
		t.Errorf("call:\n%s", r.stderr)
	}
	// A problem outside the servers stops every command.
	e.writeConfig("state_dir: ${NOPE}\nservers:\n  weather:\n    url: https://w.example.com\n    auth: {type: baerer, secret: token}\n")
	r = e.run("", "servers")
	expectCode(t, r, 2, "servers with a broken state_dir")
	if !strings.HasPrefix(r.stderr, "error: config file "+e.cfgPath+" has 2 problems:\n") || strings.Count(r.stderr, "baerer") != 1 {
		t.Errorf("stderr: %s", r.stderr)
	}

	// An explicit --config that does not exist is an error, not an empty config.
	r = e.run("", "--config", e.dir+"/nope.yaml", "config", "validate")
	expectCode(t, r, 2, "missing --config")
	if !strings.Contains(r.stderr, "nope.yaml does not exist") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "mediator"`},
		{[]string{"servers", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"call", "weather"}, "mediator call takes 2 argument(s), SERVER TOOL; got 1"},
		{[]string{"call", "weather", "echo", "-a", "novalue"}, "-a novalue: expected KEY=VALUE"},
		{[]string{"--log-level", "loud", "servers"}, `invalid log level "loud"`},
	} {
		r := e.run("", tc.args...)
		expectCode(t, r, 2, strings.Join(tc.args, " "))
		if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage.") || strings.Count(r.stderr, "error: ") != 1 {
			t.Errorf("%v: stderr %q", tc.args, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun("", "version")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || lines[0] != "mediator test" || !strings.HasPrefix(lines[1], "go1.") || !strings.HasPrefix(lines[2], "mcp go-sdk ") {
		t.Errorf("version:\n%s", r.stdout)
	}
	r = e.mustRun("", "version", "--json")
	if !strings.Contains(r.stdout, `"version": "test"`) {
		t.Errorf("version --json: %s", r.stdout)
	}
	// --version is the same text as the command.
	want := e.mustRun("", "version").stdout
	if r := e.mustRun("", "--version"); r.stdout != want {
		t.Errorf("--version printed\n%s\nwant\n%s", r.stdout, want)
	}
}

func TestCompletion(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n  weather:\n    url: https://w.example.com\n  calendar:\n    url: https://c.example.com\n")
	r := e.mustRun("", "completion", "bash")
	if !strings.Contains(r.stdout, "__start_mediator") {
		t.Errorf("completion bash: %.200s", r.stdout)
	}
	r = e.mustRun("", "__complete", "call", "")
	if !strings.HasPrefix(r.stdout, "calendar\nweather\n") {
		t.Errorf("server completion: %q", r.stdout)
	}
}

// The second argument of call completes with the server's tools, which
// means connecting to it: never with a prompt, and nothing at all for a
// server that cannot be reached.
func TestCompletionOfToolNames(t *testing.T) {
	e := callEnv(t)
	r := e.mustRun("", "__complete", "call", "weather", "")
	want := "add\tAdd two integers\necho\tEcho the text back.\nfail\tAlways fails\nsay\tPlain text result\n:4\n"
	if !strings.HasPrefix(r.stdout, want) {
		t.Errorf("tool completion:\n%q\nwant it to start with\n%q", r.stdout, want)
	}
	r = e.mustRun("", "__complete", "call", "down", "")
	if !strings.HasPrefix(r.stdout, ":4\n") {
		t.Errorf("completion for an unreachable server: %q", r.stdout)
	}
	r = e.mustRun("", "__complete", "call", "weather", "echo", "")
	if !strings.HasPrefix(r.stdout, ":4\n") {
		t.Errorf("completion after the tool: %q", r.stdout)
	}

	// On a terminal with no passphrase in the environment, a command would
	// ask for it; completion must not, or the shell would hang on it.
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	e.setup = func(f *cmdutil.Factory) {
		f.IOStreams.SetTTY(true, true, true)
		f.ReadPassword = func(int) ([]byte, error) {
			t.Error("completion prompted for the keyring passphrase")
			return nil, errors.New("no prompt in completion")
		}
	}
	r = e.mustRun("", "__complete", "call", "weather", "")
	if !strings.HasPrefix(r.stdout, ":4\n") {
		t.Errorf("completion without a passphrase: %q", r.stdout)
	}
}
