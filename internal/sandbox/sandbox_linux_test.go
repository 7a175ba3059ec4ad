//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// probeEnv makes the test binary run one probe and exit instead of testing:
// the confined child of the tests below.
const probeEnv = "SANDBOX_TEST_PROBE"

func TestMain(m *testing.M) {
	if probe := os.Getenv(probeEnv); probe != "" {
		fmt.Print(runProbe(probe, os.Getenv("SANDBOX_TEST_ARG")))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runProbe tries one thing a hostile child would and says "ok" or the error.
func runProbe(probe, arg string) string {
	var err error
	switch probe {
	case "read":
		_, err = os.ReadFile(arg)
	case "write":
		err = os.WriteFile(arg, []byte("x"), 0o600)
	case "environ":
		_, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid()))
	case "keyctl":
		_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
	case "add_key":
		_, err = unix.AddKey("user", "sandbox-test", []byte("v"), unix.KEY_SPEC_PROCESS_KEYRING)
	case "unix":
		var fd int
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
			unix.Close(fd)
		}
	case "socketpair":
		var fds [2]int
		if fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
		}
	case "inet":
		var fd int
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err == nil {
			unix.Close(fd)
		}
	case "signal":
		err = unix.Kill(os.Getppid(), 0)
	case "ptrace":
		err = unix.PtraceAttach(os.Getppid())
	}
	if err != nil {
		return "denied: " + err.Error()
	}
	return "ok"
}

func requireSandbox(t *testing.T) {
	t.Helper()
	if st := Probe(); !st.Available {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sandbox unavailable in CI: %s", st.Reason)
		}
		t.Skipf("sandbox unavailable: %s", st.Reason)
	}
}

// confined runs one probe in a child confined by p.
func confined(t *testing.T, p Policy, probe, arg string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{probeEnv + "=" + probe, "SANDBOX_TEST_ARG=" + arg}
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	p.Read = append(p.Read, append(SystemPaths(), filepath.Dir(exe))...)
	if err := Start(p, cmd.Start); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe %s: %v: %s", probe, err, out.String())
	}
	return out.String()
}

func TestConfinedChild(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	granted := filepath.Join(dir, "granted")
	secret := filepath.Join(dir, "secret")
	if err := os.Mkdir(granted, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := Policy{Write: []string{granted}}
	for _, c := range []struct {
		probe, arg string
		allowed    bool
	}{
		{"read", secret, false},
		{"write", filepath.Join(dir, "new"), false},
		{"write", filepath.Join(granted, "new"), true},
		{"read", filepath.Join(granted, "new"), true},
		{"environ", "", false},
		{"keyctl", "", false},
		{"add_key", "", false},
		{"unix", "", false},
		{"socketpair", "", true},
		{"inet", "", false},
		{"signal", "", false},
		{"ptrace", "", false},
	} {
		got := confined(t, p, c.probe, c.arg)
		if (got == "ok") != c.allowed {
			t.Errorf("%s %s: got %q, want allowed=%v", c.probe, c.arg, got, c.allowed)
		}
	}
	// The parent keeps every right.
	if _, err := os.ReadFile(secret); err != nil {
		t.Errorf("the parent lost access after starting a confined child: %v", err)
	}
	if got := confined(t, Policy{Network: true, UnixSockets: true}, "inet", ""); got != "ok" {
		t.Errorf("Network: true still refuses sockets: %s", got)
	}
	if got := confined(t, Policy{Network: true, UnixSockets: true}, "unix", ""); got != "ok" {
		t.Errorf("UnixSockets: true still refuses unix sockets: %s", got)
	}
}

// Start restricts a thread of its own, never the main thread: that one is
// the thread group leader, which children signal and ptrace as "mediator",
// and the Go runtime keeps it (wedged) instead of ending it, so a
// restriction there would put mediator itself in the child's domain. The
// restriction shows on a thread as its seccomp mode.
func TestStartLeavesTheMainThreadAlone(t *testing.T) {
	requireSandbox(t)
	// Goroutines that keep the other threads busy, so the scheduler often
	// has only the main thread free for Start's goroutine.
	stop := make(chan struct{})
	defer close(stop)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	for i := range 20 {
		got := confined(t, Policy{}, "signal", "")
		if strings.Contains(got, "ok") {
			t.Fatalf("run %d: the confined child could signal mediator: %s", i+1, got)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Seccomp:") && strings.TrimSpace(strings.TrimPrefix(line, "Seccomp:")) != "0" {
				t.Fatalf("run %d: the main thread was restricted (%s)", i+1, line)
			}
		}
	}
}
