package workflows

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestProcessAlive: this process is alive; a child that exited but was not
// yet waited for (a zombie) is not, where /proc can tell.
func TestProcessAlive(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Fatal("this process reads as dead")
	}
	if ProcessAlive(0) || ProcessAlive(-1) {
		t.Fatal("pid 0 or -1 reads as alive")
	}
	if runtime.GOOS != "linux" {
		t.Skip("zombies are recognised through /proc on Linux only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary run with -test.run=^$ exits at once.
	cmd := exec.Command(exe, "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Wait()
	// Until Wait reaps it, the exited child is a zombie; its state in
	// /proc says so once it has exited, which needs no timing: wait for the
	// exit through /proc's state itself.
	for !zombie(pid) {
		time.Sleep(time.Millisecond)
	}
	if ProcessAlive(pid) {
		t.Fatal("a zombie reads as alive")
	}
}
