package cmdutil_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// buildBinaries builds mediator and mediator-temporal into dir.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for _, name := range []string{"mediator", "mediator-temporal"} {
		out, err := exec.Command(gobin, "build", "-o", filepath.Join(dir, name), "github.com/mediatorhq/mediator/cmd/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
}

type ran struct {
	stdout, stderr string
	code           int
}

func runBinary(t *testing.T, env []string, bin string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", bin, err)
	}
	return ran{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
}

// mediator hands `worker` to mediator-temporal beside it, the whole
// command line with it; without mediator-temporal it says how to get it.
func TestMediatorHandsWorkerToMediatorTemporal(t *testing.T) {
	dir := t.TempDir()
	buildBinaries(t, dir)
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_STATE_HOME=" + filepath.Join(home, "state"), "PATH="}

	want := runBinary(t, env, filepath.Join(dir, "mediator-temporal"), "worker", "--help")
	got := runBinary(t, env, filepath.Join(dir, "mediator"), "worker", "--help")
	if got.code != 0 || got.stdout != want.stdout || !strings.Contains(got.stdout, "--flows") {
		t.Errorf("mediator worker --help: exit %d\n%s%s\nwant mediator-temporal's:\n%s", got.code, got.stdout, got.stderr, want.stdout)
	}

	// Flags before and after the command reach mediator-temporal: its
	// error names the config's cluster.
	cfg := filepath.Join(home, "c.yaml")
	if err := os.WriteFile(cfg, []byte("engine: temporal\ntemporal: {host_port: \"127.0.0.1:1\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got = runBinary(t, env, filepath.Join(dir, "mediator"), "--config", cfg, "worker", "--flows")
	if got.code != cmdutil.ExitConnect || !strings.Contains(got.stderr, "dial 127.0.0.1:1") || !strings.Contains(got.stderr, "temporal.host_port in "+cfg) {
		t.Errorf("mediator --config C worker --flows with no cluster: exit %d\n%s", got.code, got.stderr)
	}

	// Alone, with nothing on PATH.
	alone := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, "mediator"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(alone, "mediator"), b, 0o700); err != nil {
		t.Fatal(err)
	}
	got = runBinary(t, env, filepath.Join(alone, "mediator"), "worker", "--flows")
	for _, w := range []string{"mediator worker needs the mediator-temporal binary", "neither beside this executable nor on PATH",
		"go install github.com/mediatorhq/mediator/cmd/mediator-temporal@latest"} {
		if !strings.Contains(got.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, got.stderr)
		}
	}
	if got.code != cmdutil.ExitUsage {
		t.Errorf("exit %d, want %d", got.code, cmdutil.ExitUsage)
	}
}
