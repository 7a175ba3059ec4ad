//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/sandbox"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// hostileServerEnv makes the test binary run as hostile.EscapeServer, a
// stdio server of the mediator binary under test.
const hostileServerEnv = "HOSTILE_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(hostileServerEnv) {
	case "escape":
		os.Exit(hostile.RunEscapeServer())
	case "shutdown":
		os.Exit(hostile.RunShutdownServer())
	}
	if code := testenv.RunKeyctlHelper(); code >= 0 {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// Canaries: the escape server reports "leaked" when it finds this prefix
// in anything it reads.
const (
	canaryPrefix     = "canary-"
	canaryPassphrase = "canary-pass-Hq3Zr8Wm"
	canaryToken      = "canary-token-Lp6Xs2Nv"
)

// mediatorHome is an isolated user of the mediator binary: config, keyring
// and state in a temp dir, and the passphrase in the real environment of
// the mediator process, where /proc/PID/environ shows it.
type mediatorHome struct {
	t                           *testing.T
	bin, server                 string
	dir, config, keyring, state string
	roots                       string
	// user runs mediator as another user; nil runs it as this process's.
	user *syscall.Credential
}

// newMediatorHome makes a home for mediator; with a user, everything in it
// (the binaries too, copied) belongs to that user.
func newMediatorHome(t *testing.T, bin string, user *syscall.Credential) *mediatorHome {
	dir := t.TempDir()
	server, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if user != nil {
		// t.TempDir is private to root; the user needs a dir of its own.
		if dir, err = os.MkdirTemp("", "mediator-user-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		bin, server = copyExecutable(t, bin, filepath.Join(dir, "bin")), copyExecutable(t, server, filepath.Join(dir, "bin"))
	}
	h := &mediatorHome{t: t, bin: bin, server: server, user: user, dir: dir,
		config:  filepath.Join(dir, "config", "mediator"),
		keyring: filepath.Join(dir, "keyring"),
		state:   filepath.Join(dir, "state", "mediator"),
		roots:   filepath.Join(dir, "roots"),
	}
	for _, d := range []string{h.config, h.state, h.roots} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if user != nil {
		err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(user.Uid), int(user.Gid))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func copyExecutable(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func (h *mediatorHome) run(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + h.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(h.dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(h.dir, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=" + canaryPassphrase,
	}
	cmd.Stdin = strings.NewReader(stdin)
	if h.user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: h.user}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		h.t.Errorf("mediator %s did not finish within 60s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errOut.String())
	}
	return out.String(), errOut.String(), err
}

// writeConfig configures the escape server (aimed at mediator's own
// directories and pin file) and a second server whose token it is after.
func (h *mediatorHome) writeConfig(backend, sandboxLine string) {
	h.t.Helper()
	exe := h.server
	list := func(ps ...string) string { return strings.Join(ps, string(os.PathListSeparator)) }
	cfg := fmt.Sprintf(`credentials:
  backend: %s
  file_dir: %s
servers:
  hostile:
    command: %q
    args: ["-test.run=^$", %q]
    env:
      %s: escape
      %s: %q
      %s: %q
      %s: %s
%s
  other:
    url: http://127.0.0.1:9/mcp
    auth: {type: bearer, secret: token}
`, backend, h.keyring, exe, h.roots,
		hostileServerEnv,
		hostile.EscapeReadEnv, list(h.keyring, h.state, h.config),
		hostile.EscapeWriteEnv, list(filepath.Join(h.state, "pins.json"), filepath.Join(h.config, "config.yaml")),
		hostile.EscapeCanaryEnv, canaryPrefix,
		sandboxLine)
	file := filepath.Join(h.config, "config.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if h.user != nil {
		if err := os.Chown(file, int(h.user.Uid), int(h.user.Gid)); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *mediatorHome) call(tool string) []hostile.Attempt {
	h.t.Helper()
	out, errOut, err := h.run("", "call", "hostile", tool, "--json")
	if err != nil {
		h.t.Fatalf("mediator call hostile %s: %v\nstdout:\n%s\nstderr:\n%s", tool, err, out, errOut)
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Content) == 0 {
		h.t.Fatalf("call %s: %v: %s", tool, err, out)
	}
	var attempts []hostile.Attempt
	if err := json.Unmarshal([]byte(res.Content[0].Text), &attempts); err != nil {
		h.t.Fatalf("call %s: %v: %s", tool, err, res.Content[0].Text)
	}
	return attempts
}

func buildMediator(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go tool is needed to build mediator (CI=true)")
		}
		t.Skip("no go tool to build mediator with")
	}
	bin := filepath.Join(t.TempDir(), "mediator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A hostile stdio server cannot reach mediator's secrets or state from
// the sandbox, with the file keyring (whose passphrase is in mediator's
// environment) and with the keyctl keyring (whose items sit in the user's
// kernel keyring); it still serves its tools and uses its roots. With
// sandbox: off the same server gets in, which shows the attacks are real.
func TestSandboxKeepsHostileServerOut(t *testing.T) {
	if st := sandbox.Probe(); !st.Available {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the sandbox is unavailable in CI: %s", st.Reason)
		}
		t.Skipf("sandbox unavailable: %s", st.Reason)
	}
	bin := buildMediator(t)
	type variant struct {
		name string
		user *syscall.Credential
	}
	variants := []variant{{"file", nil}, {"keyctl", nil}}
	if os.Geteuid() == 0 {
		// Landlock restricts root too; and as an unprivileged user, the
		// unsandboxed server is kept out of mediator's memory by
		// non-dumpability alone.
		nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
		variants = append(variants, variant{"file-as-nobody", nobody}, variant{"keyctl-as-nobody", nobody})
	}
	for _, v := range variants {
		backend := strings.TrimSuffix(v.name, "-as-nobody")
		t.Run(v.name, func(t *testing.T) {
			h := newMediatorHome(t, bin, v.user)
			if backend == "keyctl" {
				// The items (other/token, the audit key) and the "mediator"
				// keyring outlive mediator in the user's kernel keyring.
				if v.user == nil {
					testenv.KeyctlKeyring(t, credentials.DefaultServiceName)
				} else {
					testenv.KeyctlKeyringAs(t, credentials.DefaultServiceName, h.server, v.user)
				}
			}
			h.writeConfig(backend, "")
			if out, errOut, err := h.run(canaryToken, "secret", "set", "other", "token"); err != nil {
				t.Fatalf("secret set: %v\n%s%s", err, out, errOut)
			}
			pins := filepath.Join(h.state, "pins.json")
			before, _ := os.ReadFile(pins)

			out, errOut, err := h.run("", "servers")
			if err == nil || !strings.Contains(out, "hostile") {
				// other is down on purpose; hostile must be ready and on.
			}
			if !strings.Contains(lineOf(out, "hostile"), " on ") || !strings.Contains(lineOf(out, "hostile"), "ready") {
				t.Errorf("servers should show hostile ready and sandboxed:\n%s%s", out, errOut)
			}
			for _, a := range h.call("escape") {
				t.Logf("sandboxed: %s: %s", a.Target, a.Result)
				if a.Succeeded() {
					t.Errorf("sandboxed: %s got through (%s)", a.Target, a.Result)
				}
			}
			for _, a := range h.call("roots") {
				if !a.Succeeded() {
					t.Errorf("sandboxed: the server cannot use its root: %s: %s", a.Target, a.Result)
				}
			}
			if after, _ := os.ReadFile(pins); !bytes.Equal(before, after) && len(before) > 0 {
				t.Errorf("the pin file changed")
			}

			// The same attacks without the sandbox.
			h.writeConfig(backend, "    sandbox: off")
			out, errOut, _ = h.run("", "servers")
			if !strings.Contains(lineOf(out, "hostile"), " off ") || !strings.Contains(errOut, "warning: server hostile runs unsandboxed") {
				t.Errorf("servers should warn that hostile runs unsandboxed:\n%s%s", out, errOut)
			}
			got := map[string]string{}
			for _, a := range h.call("escape") {
				t.Logf("unsandboxed: %s: %s", a.Target, a.Result)
				got[a.Target] = a.Result
			}
			if r := got["read "+h.keyring]; backend == "file" && r != "ok" {
				t.Errorf("unsandboxed, the keyring dir should be readable: %s", r)
			}
			if r := got["keyctl user keyring"]; backend == "keyctl" && r != "leaked" {
				t.Errorf("unsandboxed, the keyctl item should be readable: %s", r)
			}
			environ := fmt.Sprintf("read /proc/%d/environ", 0)
			for k, r := range got {
				if strings.HasSuffix(k, "/environ") {
					environ = r
				}
			}
			root := v.user == nil && os.Geteuid() == 0
			if root && environ != "leaked" {
				// Root has CAP_SYS_PTRACE; only the sandbox stops it.
				t.Errorf("unsandboxed root server should read mediator's environ: %s", environ)
			}
			if !root && environ == "leaked" {
				t.Errorf("mediator is not non-dumpable: an unsandboxed server of the same user read its environ")
			}
		})
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}
