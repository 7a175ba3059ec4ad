package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/filelock"
)

// lockHolderEnv makes the test binary a process that holds the lock of
// the state directory it names until its stdin closes.
const lockHolderEnv = "MEDIATOR_TEST_LOCK_HOLDER"

// TestLockHolder is that process's body (it does nothing in a test run).
func TestLockHolder(t *testing.T) {
	dir := os.Getenv(lockHolderEnv)
	if dir == "" {
		return
	}
	l, err := AcquireLock(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = l.Release()
	os.Exit(0)
}

// A second daemon for a state directory is refused with the running
// one's pid, whether that one is another process or this one; once it
// ends (its lock goes with it), the directory can be taken.
func TestLockOneDaemonPerStateDir(t *testing.T) {
	if !filelock.Supported {
		t.Fatal("this OS has no advisory file lock")
	}
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestLockHolder$")
	holder.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}

	_, err = AcquireLock(dir)
	var re *RunningError
	if !errors.As(err, &re) || re.PID != holder.Process.Pid {
		t.Fatalf("second daemon: %v; want a RunningError with pid %d", err, holder.Process.Pid)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("another mediator daemon (pid %d) is running for the state directory %s", holder.Process.Pid, dir)) {
		t.Errorf("message: %s", msg)
	}

	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("after the holder ended: %v", err)
	}
	defer l.Release()
	if _, err := AcquireLock(dir); !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Errorf("second daemon in this process: %v; want pid %d", err, os.Getpid())
	}
}
