package commands_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// The bad-input list, through the whole command line: each case
// gets its exit code (2 for the user's mistakes, 3 for a server or the
// keyring failing) and a message that says where and what; none hangs
// (the harness bounds every run).
func TestBadInputExitCodes(t *testing.T) {
	t.Run("broken YAML", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig("servers:\n  a:\n    url: [x\n")
		r := e.run("", "servers")
		expectCode(t, r, cmdutil.ExitUsage, "broken YAML")
		t.Logf("%s", r.stderr)
		// writeConfig puts three lines of credentials first.
		if !strings.Contains(r.stderr, e.cfgPath+":6: invalid YAML: did not find expected ',' or ']'") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})

	t.Run("unknown field", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig("servers:\n  a:\n    url: https://a.example.com/mcp\n    timout: 5s\n")
		r := e.run("", "call", "a", "echo")
		expectCode(t, r, cmdutil.ExitUsage, "unknown field")
		t.Logf("%s", r.stderr)
		if !strings.Contains(r.stderr, e.cfgPath+`:7:5: servers.a.timout: unknown field (did you mean "timeout"?)`) {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})

	t.Run("stdio server that never answers", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig("servers:\n" + stdioServerYAML(t, "silent", "silent", "    timeout: 300ms\n"))
		r := e.run("", "call", "silent", "echo", "-a", "text=x")
		expectCode(t, r, cmdutil.ExitConnect, "silent stdio server")
		t.Logf("%s", r.stderr)
		if !strings.Contains(r.stderr, `server "silent"`) || !strings.Contains(r.stderr, "300ms") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})

	t.Run("HTTP server that never answers", func(t *testing.T) {
		e := newTestEnv(t)
		stop := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice when mediator hangs up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(stop) }) // runs first
		e.writeConfig("servers:\n  slow:\n    url: " + srv.URL + "\n    timeout: 300ms\n")
		r := e.run("", "call", "slow", "echo", "-a", "text=x")
		expectCode(t, r, cmdutil.ExitConnect, "silent HTTP server")
		t.Logf("%s", r.stderr)
		if !strings.Contains(r.stderr, `server "slow"`) || !strings.Contains(r.stderr, "300ms") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})

	t.Run("server that crashes mid-call", func(t *testing.T) {
		e := newTestEnv(t)
		e.writeConfig("servers:\n" + stdioServerYAML(t, "crashy", "talk", "    timeout: 20s\n"))
		r := e.run("", "call", "crashy", "crash")
		expectCode(t, r, cmdutil.ExitConnect, "crash mid-call")
		t.Logf("%s", r.stderr)
		if !strings.Contains(r.stderr, "crashy.crash") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})

	t.Run("keyring with a wrong passphrase", func(t *testing.T) {
		e := callEnv(t)
		e.vars["MEDIATOR_KEYRING_PASSPHRASE"] = "not-the-passphrase"
		r := e.run("", "call", "weather", "echo", "-a", "text=x")
		// The keyring refused mediator: an authentication failure.
		expectCode(t, r, cmdutil.ExitConnect, "wrong passphrase")
		t.Logf("%s", r.stderr)
		if !strings.Contains(r.stderr, "wrong passphrase") || !strings.Contains(r.stderr, "MEDIATOR_KEYRING_PASSPHRASE") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
}
