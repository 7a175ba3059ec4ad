//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// These tests run the mediator binary as a user does, against the
// shutdown server (internal/hostile), which writes down what mediator's
// shutdown does to it. They assert the order of events, never durations;
// the durations are logged. waitEvent allows 30 seconds for an event, to
// tell "comes" from "never comes" on a loaded machine.

// shutdownHome is a mediator home whose config has one server, "slow",
// the shutdown server in the given mode.
type shutdownHome struct {
	*mediatorHome
	events, release string
	log             hostile.ShutdownLog
}

func newShutdownHome(t *testing.T, bin, mode string, user *syscall.Credential) *shutdownHome {
	h := &shutdownHome{mediatorHome: newMediatorHome(t, bin, user)}
	// Outside mediator's home: the sandbox grants the server paths it is
	// handed, but none that holds mediator's own files.
	dir, err := os.MkdirTemp("", "shutdown-events-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h.events, h.release = filepath.Join(dir, "events"), filepath.Join(dir, "release")
	h.log = hostile.ShutdownLog(h.events)
	if err := os.WriteFile(h.events, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if user != nil {
		for _, p := range []string{dir, h.events} {
			if err := os.Chown(p, int(user.Uid), int(user.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := fmt.Sprintf(`credentials:
  backend: file
  file_dir: %s
servers:
  slow:
    command: %q
    args: ["-test.run=^$"]
    env:
      %s: shutdown
      %s: %s
      %s: %q
      %s: %q
`, h.keyring, h.server, hostileServerEnv, hostile.ShutdownModeEnv, mode,
		hostile.ShutdownEventsEnv, h.events, hostile.ShutdownReleaseEnv, h.release)
	file := filepath.Join(h.config, "config.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if user != nil {
		if err := os.Chown(file, int(user.Uid), int(user.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// start starts mediator with args in a process group of its own, as a
// shell starts a job, so that a signal to the group is what the
// terminal's Ctrl-C does.
func (h *shutdownHome) start(args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer, done <-chan error) {
	h.t.Helper()
	cmd = exec.Command(h.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + h.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(h.dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(h.dir, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=" + canaryPassphrase,
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: h.user}
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	h.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return cmd, stdout, stderr, ch
}

// waitEvent waits for the server to write event (a prefix of a line).
func (h *shutdownHome) waitEvent(event string) {
	h.t.Helper()
	if !h.log.Wait(event, 30*time.Second) {
		h.t.Fatalf("the server never wrote %q; it wrote:\n%s", event, h.log)
	}
}

// before fails unless the server wrote a before b.
func (h *shutdownHome) before(a, b string) {
	h.t.Helper()
	if !h.log.Before(a, b) {
		h.t.Errorf("the server should have written %q before %q; it wrote:\n%s", a, b, h.log)
	}
}

func waitExit(t *testing.T, done <-chan error, stderr *bytes.Buffer) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("mediator still running after 30s:\n%s", stderr.String())
		return nil
	}
}

// Ctrl-C in the middle of a call to a stdio server: mediator cancels the
// call (the server reads notifications/cancelled), closes the server's
// stdin (it reads EOF) and exits with 130, without waiting for the server,
// which takes its time to exit. The terminal's SIGINT goes to mediator's
// process group only: the server, in a session of its own, never gets
// it, and exits on its own.
func TestInterruptCancelsCallAndClosesServer(t *testing.T) {
	h := newShutdownHome(t, buildMediator(t), hostile.ShutdownModeLinger, nil)
	cmd, _, stderr, done := h.start("call", "slow", hostile.ShutdownSlowTool)
	h.waitEvent(hostile.EventCallStarted)
	sent := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, done, stderr)
	t.Logf("mediator exited %v after SIGINT", time.Since(sent))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("mediator: %v, want exit code 130; stderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "stopping at once") {
		t.Errorf("mediator had to be stopped by force:\n%s", stderr.String())
	}
	h.waitEvent(hostile.EventEOF)
	if h.log.Has(hostile.EventCleanExit) {
		t.Fatalf("the server had exited when mediator did, so mediator waited for it:\n%s", h.log)
	}
	if err := os.WriteFile(h.release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(hostile.EventCleanExit)
	h.before(hostile.EventCallStarted, hostile.EventCancelNotice)
	h.before(hostile.EventCancelNotice, hostile.EventEOF)
	h.before(hostile.EventEOF, hostile.EventCleanExit)
	if h.log.Has(hostile.EventSIGINT) || h.log.Has(hostile.EventSIGTERM) {
		t.Errorf("the server was signalled:\n%s", h.log)
	}
}

// Ctrl-C while a server is still starting (it never answers initialize,
// nor reads its stdin): mediator exits with 130 at once rather than wait
// out the grace, and the server, which never got the terminal's SIGINT,
// gets SIGTERM from the watchdog.
func TestInterruptWhileServerStarts(t *testing.T) {
	h := newShutdownHome(t, buildMediator(t), hostile.ShutdownModeStall, nil)
	cmd, _, stderr, done := h.start("call", "slow", hostile.ShutdownQuickTool)
	h.waitEvent(hostile.EventTmpDir) // the server runs, its handshake pending
	sent := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, done, stderr)
	t.Logf("mediator exited %v after SIGINT", time.Since(sent))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("mediator: %v, want exit code 130; stderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "stopping at once") {
		t.Errorf("mediator had to be stopped by force:\n%s", stderr.String())
	}
	if h.log.Has(hostile.EventSIGTERM) {
		t.Fatalf("the server got SIGTERM before mediator exited, so mediator waited out the grace:\n%s", h.log)
	}
	h.waitEvent(hostile.EventSIGTERM)
	if h.log.Has(hostile.EventSIGINT) {
		t.Errorf("the server got the terminal's SIGINT:\n%s", h.log)
	}
}

// `mediator call` returns once the result is printed and its audit record
// written, while the server still takes its time to exit after EOF; the
// server is not signalled for it, and exits cleanly once it is done.
func TestCallReturnsBeforeServerExits(t *testing.T) {
	h := newShutdownHome(t, buildMediator(t), hostile.ShutdownModeLinger, nil)
	_, stdout, stderr, done := h.start("call", "slow", hostile.ShutdownQuickTool)
	if err := waitExit(t, done, stderr); err != nil {
		t.Fatalf("mediator call: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "echo") {
		t.Errorf("result printed as %q", stdout.String())
	}
	audit, err := os.ReadFile(filepath.Join(h.state, "audit.jsonl"))
	if err != nil || !bytes.Contains(audit, []byte(`"tool":"`+hostile.ShutdownQuickTool+`"`)) {
		t.Errorf("the call's audit record is not on disk when mediator returns (%v):\n%s", err, audit)
	}
	// mediator is gone; the server has read EOF (now or soon) and is
	// still shutting down.
	h.waitEvent(hostile.EventEOF)
	if h.log.Has(hostile.EventCleanExit) || h.log.Has(hostile.EventSIGTERM) {
		t.Fatalf("the server had exited when mediator returned, so mediator waited for it:\n%s", h.log)
	}
	if err := os.WriteFile(h.release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(hostile.EventCleanExit)
	if h.log.Has(hostile.EventSIGTERM) || h.log.Has(hostile.EventSIGINT) {
		t.Errorf("the server was signalled while it shut down on its own:\n%s", h.log)
	}
}

// A server that ignores EOF gets SIGTERM after the grace, from the
// watchdog mediator leaves behind: mediator itself returned at once.
// Once the server is gone its sandbox temp dir is removed. As root, also
// as an unprivileged user: mediator is not dumpable, and starts the
// watchdog from /proc/self/exe all the same.
func TestServerIgnoringEOFGetsSIGTERM(t *testing.T) {
	bin := buildMediator(t)
	users := map[string]*syscall.Credential{"self": nil}
	if os.Geteuid() == 0 {
		users["nobody"] = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	for name, user := range users {
		t.Run(name, func(t *testing.T) { testServerIgnoringEOFGetsSIGTERM(t, bin, user) })
	}
}

func testServerIgnoringEOFGetsSIGTERM(t *testing.T, bin string, user *syscall.Credential) {
	h := newShutdownHome(t, bin, hostile.ShutdownModeIgnore, user)
	_, _, stderr, done := h.start("call", "slow", hostile.ShutdownQuickTool)
	if err := waitExit(t, done, stderr); err != nil {
		t.Fatalf("mediator call: %v\n%s", err, stderr.String())
	}
	returned := time.Now()
	if h.log.Has(hostile.EventSIGTERM) {
		t.Fatalf("the server got SIGTERM before mediator returned, so mediator waited out the grace:\n%s", h.log)
	}
	h.waitEvent(hostile.EventSIGTERM)
	t.Logf("SIGTERM came %v after mediator returned", time.Since(returned))
	h.before(hostile.EventEOF, hostile.EventSIGTERM)
	if tmp := h.log.Value(hostile.EventTmpDir); tmp != "" {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(tmp); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the server's temp dir %s is still there", tmp)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
