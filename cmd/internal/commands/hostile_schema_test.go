package commands_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// A tool whose inputSchema is a $ref cycle or a 60-level anyOf chain is
// refused with a usage exit code and a message naming it; mediator goes
// on (the server's other tool works), and the refusals are audited.
func TestCallToolWithHostileSchema(t *testing.T) {
	h := hostile.NewSchemaServer()
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	e := newTestEnv(t)
	e.writeConfig("servers:\n  evil:\n    url: " + srv.URL + "\n    timeout: 10s\n")

	for tool, why := range map[string]string{
		"cyclic":    "its inputSchema cannot be checked safely: $ref cycle #/$defs/a → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a",
		"explosive": "its inputSchema cannot be checked safely: # expands into more checks of a single value than the work budget allows",
	} {
		r := e.run("", "call", "evil", tool, "-a", "text=x")
		expectCode(t, r, 2, "call "+tool)
		if !strings.Contains(r.stderr, "evil."+tool+": the tool cannot be used through mediator: "+why) {
			t.Errorf("call %s: stderr %s", tool, r.stderr)
		}
	}
	r := e.mustRun("", "call", "evil", "echo", "-a", "text=still here")
	if !strings.Contains(r.stdout, "still here") {
		t.Errorf("echo: %s", r.stdout)
	}
	if h.Calls("cyclic")+h.Calls("explosive") != 0 {
		t.Error("a hostile tool was called")
	}
	e.mustRun("", "audit", "verify")
	data, err := os.ReadFile(filepath.Join(e.dir, "state", "mediator", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var rec struct {
			Tool       string `json:"tool"`
			Outcome    string `json:"outcome"`
			ErrorClass string `json:"error_class"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Outcome == "refused" && rec.ErrorClass == "bad-schema" {
			refused[rec.Tool] = true
		}
	}
	if !refused["cyclic"] || !refused["explosive"] {
		t.Errorf("audit log lacks the refusals:\n%s", data)
	}
}

// buildMediator builds the mediator binary into a temporary directory.
func buildMediator(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "mediator")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/mediatorhq/mediator/cmd/mediator")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// SIGTERM ends the mediator process in the middle of a call, whatever it
// is doing: validating arguments against a 60-level anyOf chain (which
// took minutes, deaf to signals, before checks were bounded) or waiting
// for a server that never answers. The test allows the process 30 seconds
// to exit, to tell "exits" from "hangs", and logs how long it took.
func TestSIGTERMEndsMediatorMidCall(t *testing.T) {
	bin := buildMediator(t)
	for _, c := range []struct {
		tool  string
		after string        // the request after which mediator is busy with the call
		wait  time.Duration // and how long it may take to get there
		codes []int         // acceptable exit codes
	}{
		// Validation starts after the tool list, within moments. Unbounded,
		// it would then run for minutes; bounded, the call is refused (2)
		// before the signal comes, or ended by it (143).
		{tool: "explosive", after: "tools/list", wait: time.Second, codes: []int{2, 143}},
		{tool: "stall", after: "tools/call", codes: []int{143}},
	} {
		t.Run(c.tool, func(t *testing.T) {
			h := hostile.NewSchemaServer()
			busy := make(chan struct{}, 16)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				mark := bytes.Contains(body, []byte(`"`+c.after+`"`))
				if mark && c.after == "tools/call" {
					busy <- struct{}{} // the handler then holds the call
				}
				h.Handler().ServeHTTP(w, r)
				if mark && c.after != "tools/call" {
					busy <- struct{}{}
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(h.Release) // before srv.Close
			e := newTestEnv(t)
			e.writeConfig("servers:\n  evil:\n    url: " + srv.URL + "\n    timeout: 60s\n")

			cmd := exec.Command(bin, "call", "evil", c.tool)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range e.vars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-busy:
			case err := <-done:
				t.Fatalf("mediator exited before the call (%v): %s", err, stderr.String())
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("the call never reached the server: %s", stderr.String())
			}
			time.Sleep(c.wait)
			sent := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("mediator still running 30s after SIGTERM: %s", stderr.String())
			}
			code := cmd.ProcessState.ExitCode()
			t.Logf("call evil %s: mediator exited with code %d, %v after SIGTERM", c.tool, code, time.Since(sent))
			ok := false
			for _, want := range c.codes {
				ok = ok || code == want
			}
			if !ok {
				t.Errorf("exit code %d, want one of %v; stderr:\n%s", code, c.codes, stderr.String())
			}
			if code == 143 && !strings.Contains(stderr.String(), "interrupted") && !strings.Contains(stderr.String(), "stopping at once") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
			}
		})
	}
}
