//go:build linux

package bench

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	warm       = flag.Bool("warm", false, "measure a warm `mediator call` through the daemon's socket against a cold one on server-everything (builds the binaries; needs `make tools` for the node server)")
	warmRounds = flag.Int("warm.rounds", 30, "alternating rounds of cold and warm calls")
)

// TestWarmCallRatio measures what a shell script sees: the wall time of
// one `mediator call` process to server-everything's echo, cold (with
// --no-daemon: mediator starts node, lists, pins and calls) against warm
// (through the socket of a daemon that holds the session), alternating
// in the same run, with the ratio cold/warm per round and its median.
// The daemon is `mediator daemon` (HTTP on a loopback port of its
// choosing). mediator runs as a user runs it: file
// keyring with a passphrase, keyed audit log, pins on disk. Leftover
// processes of a cold call (node exiting, mediator's watchdog) are waited
// for between runs, outside the timing. It prints numbers and asserts
// nothing about time.
func TestWarmCallRatio(t *testing.T) {
	if !*warm {
		t.Skip("pass -warm to measure")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	bins := filepath.Join(t.TempDir(), "bin")
	build(t, bins, "./cmd/mediator")
	mediator := filepath.Join(bins, "mediator")

	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	node, everything := nodeServer(t)
	cfgPath := filepath.Join(home, "config.yaml")
	config := fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nservers:\n  everything:\n    command: %q\n    args: [%q, \"stdio\"]\n",
		filepath.Join(home, "keyring"), node, everything)
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=bench-passphrase",
	}
	args := []string{"--config", cfgPath, "call", "everything", "echo", "--args", `{"message":"hi"}`}
	cold := side{name: "cold", argv: append([]string{mediator, "--no-daemon"}, args...), env: env}
	warmSide := side{name: "warm", argv: append([]string{mediator}, args...), env: env}

	// The cold call pins the tools first, so the daemon finds them pinned.
	coldOut := runOut(t, &cold)
	reapExcept(t, 0)

	d := exec.Command(mediator, "--config", cfgPath, "daemon", "--listen", "127.0.0.1:0")
	d.Env = env
	var daemonErr bytes.Buffer
	d.Stdout, d.Stderr = io.Discard, &daemonErr
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = d.Process.Signal(unix.SIGTERM)
		_ = d.Wait()
	}()
	socket := filepath.Join(home, "state", "mediator", "daemon.sock")
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("mediator daemon did not listen on %s in 30s\n%s", socket, daemonErr.String())
		}
	}
	// The first warm call connects the daemon's session to node.
	if out := runOut(t, &warmSide); out != coldOut {
		t.Fatalf("warm output %q, cold %q", out, coldOut)
	}
	reapExcept(t, d.Process.Pid)

	for r := range *warmRounds {
		order := []*side{&cold, &warmSide}
		if r%2 == 1 {
			order = []*side{&warmSide, &cold}
		}
		for _, s := range order {
			dur, ps := s.run(t)
			s.wall = append(s.wall, float64(dur.Microseconds())/1e3)
			s.cpu = append(s.cpu, float64((ps.UserTime()+ps.SystemTime()).Microseconds())/1e3)
			reapExcept(t, d.Process.Pid)
		}
	}
	within := "OVER"
	if median(warmSide.wall) < 30 {
		within = "within"
	}
	t.Logf("server-everything echo wall: cold (--no-daemon) %7.1f ms, warm (daemon socket) %6.1f ms (min %.1f, max %.1f; target < 30 ms: %s) | ratio cold/warm %.1f | cpu: cold %5.1f ms, warm %5.1f ms | %d rounds",
		median(cold.wall), median(warmSide.wall), minOf(warmSide.wall), maxOf(warmSide.wall), within,
		pairedRatio(cold.wall, warmSide.wall), median(cold.cpu), median(warmSide.cpu), *warmRounds)
}

func runOut(t *testing.T, s *side) string {
	t.Helper()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(s.argv, " "), err, stderr.String())
	}
	return string(out)
}

// reapExcept waits for every child of this process but keep (0: none)
// to exit: what a run left behind, now this subreaper's.
func reapExcept(t *testing.T, keep int) {
	t.Helper()
	for {
		kids := children(t)
		var other []int
		for _, k := range kids {
			if k != keep {
				other = append(other, k)
			}
		}
		if len(other) == 0 {
			return
		}
		for _, pid := range other {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil && !errors.Is(err, unix.ECHILD) && !errors.Is(err, unix.EINTR) {
				t.Fatal(err)
			}
		}
	}
}

// children lists this process's children (/proc/self/task/*/children).
func children(t *testing.T) []int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that exited
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
