//go:build unix

package reaper_test

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/reaper"
)

// childEnv makes the test binary a child that reads stdin to EOF and then
// exits (its value "exit"), or writes "term" to the file in childFileEnv
// at SIGTERM and carries on until SIGKILL ("stubborn").
const (
	childEnv     = "REAPER_TEST_CHILD"
	childFileEnv = "REAPER_TEST_FILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "exit":
		buf := make([]byte, 512)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				os.Exit(0)
			}
		}
	case "stubborn":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		os.WriteFile(os.Getenv(childFileEnv), []byte("ready"), 0o600)
		<-sigs
		os.WriteFile(os.Getenv(childFileEnv), []byte("term"), 0o600)
		select {}
	}
	os.Exit(m.Run())
}

// start runs the test binary as a child of kind, with a pipe as its
// stdin, and returns a wait function for Stop and the exit channel.
func start(t *testing.T, kind, file string) (*exec.Cmd, *os.File, func(time.Duration) bool) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = []string{childEnv + "=" + kind, childFileEnv + "=" + file}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	wait := func(d time.Duration) bool {
		select {
		case <-exited:
			return true
		case <-time.After(d):
			return false
		}
	}
	return cmd, w, wait
}

// A process that exits once its stdin is closed is never signalled.
func TestStopLeavesAProcessExitingOnItsOwnAlone(t *testing.T) {
	cmd, stdin, wait := start(t, "exit", "")
	stdin.Close()
	signalled := false
	err := reaper.Stop(time.Minute, time.Minute, wait, func(s syscall.Signal) error {
		signalled = true
		return cmd.Process.Signal(s)
	})
	if err != nil || signalled {
		t.Fatalf("Stop: %v, signalled: %v", err, signalled)
	}
	if !cmd.ProcessState.Exited() || cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("the process ended as %v", cmd.ProcessState)
	}
}

// A process that ignores EOF gets SIGTERM after term, and one that
// ignores SIGTERM gets SIGKILL after grace.
func TestStopEscalatesToSIGTERMThenSIGKILL(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	cmd, stdin, wait := start(t, "stubborn", file)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(file); string(b) == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never got ready")
		}
	}
	stdin.Close()
	var sent []syscall.Signal
	err := reaper.Stop(50*time.Millisecond, 2*time.Second, wait, func(s syscall.Signal) error {
		sent = append(sent, s)
		return cmd.Process.Signal(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0] != syscall.SIGTERM || sent[1] != syscall.SIGKILL {
		t.Errorf("signals sent: %v, want SIGTERM then SIGKILL", sent)
	}
	if b, _ := os.ReadFile(file); string(b) != "term" {
		t.Errorf("the child did not see SIGTERM (its file says %q)", b)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the process ended as %v, want killed by SIGKILL", cmd.ProcessState)
	}
}
