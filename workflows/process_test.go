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
	// true exits at once; the test binary would too, but starts slower.
	exe, err := exec.LookPath("true")
	if err != nil {
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
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
