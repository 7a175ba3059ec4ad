//go:build linux

package reaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// markerEnv marks the watchdog's environment, which holds nothing else.
const markerEnv = "MEDIATOR_STDIO_REAPER"

// plan is what the watchdog is told in its one argument. Process i's
// pidfd is descriptor 3+3i, its stdout 4+3i and its stderr 5+3i.
type plan struct {
	Procs []planned `json:"procs"`
}

type planned struct {
	Term      time.Duration `json:"term"`
	Grace     time.Duration `json:"grace"`
	RemoveDir string        `json:"remove_dir,omitempty"`
}

const fdsPerProc = 3

// Handoff starts the watchdog for procs and returns once it runs; it
// does not wait for it. The watchdog is a session of its own, out of the
// terminal's signals, with nothing of this process's environment, stdin,
// stdout or stderr. The caller keeps its own descriptors (in the mode they
// are in: it may still be reading them) and must not close them before
// Handoff returns, nor signal procs afterwards.
func Handoff(procs []Process) error {
	if len(procs) == 0 {
		return nil
	}
	// Its stdin, stdout and stderr are a pipe of its own: nothing of
	// this process's terminal, and no /dev/null, which not every user
	// may open in every sandbox.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the watchdog for the servers still shutting down: %w", err)
	}
	defer r.Close()
	defer w.Close()
	rfd, err := rawFD(r)
	if err != nil {
		return err
	}
	wfd, err := rawFD(w)
	if err != nil {
		return err
	}
	var p plan
	fds := []uintptr{rfd, wfd, wfd}
	for _, proc := range procs {
		if proc.PidFD == nil {
			return errors.New("handing a server to the watchdog: no pidfd for it")
		}
		p.Procs = append(p.Procs, planned{Term: max(proc.Term, 0), Grace: proc.Grace, RemoveDir: proc.RemoveDir})
		files := []*os.File{proc.PidFD, nil, nil}
		copy(files[1:], proc.Outputs)
		for _, f := range files {
			fd := ^uintptr(0) // closed in the watchdog
			if f != nil {
				if fd, err = rawFD(f); err != nil {
					return err
				}
			}
			fds = append(fds, fd)
		}
	}
	arg, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// syscall, not os/exec: os/exec would put each descriptor into
	// blocking mode, under the caller's reads. /proc/self/exe is this very
	// binary, even if its file was replaced or removed since it started.
	_, err = syscall.ForkExec("/proc/self/exe", []string{"mediator-stdio-reaper", string(arg)}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{markerEnv + "=1"},
		Files: fds,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("starting the watchdog for the servers still shutting down: %w", err)
	}
	return nil
}

// rawFD is f's descriptor, without the change to blocking mode that Fd
// makes.
func rawFD(f *os.File) (uintptr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd uintptr
	if err := rc.Control(func(d uintptr) { fd = d }); err != nil {
		return 0, err
	}
	return fd, nil
}

// Invoked reports whether this process was started as the watchdog.
func Invoked() bool { return os.Getenv(markerEnv) == "1" }

// Main is the watchdog: for each process handed over it drains the
// outputs, waits for the exit (SIGTERM and SIGKILL as Stop says) and
// removes its directory; it returns once every one has exited.
func Main() int {
	var p plan
	if len(os.Args) != 2 || json.Unmarshal([]byte(os.Args[1]), &p) != nil {
		fmt.Fprintln(os.Stderr, "mediator-stdio-reaper: started without a plan; it is started by mediator only")
		return 2
	}
	var wg sync.WaitGroup
	for i, proc := range p.Procs {
		base := 3 + fdsPerProc*i
		pidfd := base
		for fd := base + 1; fd < base+fdsPerProc; fd++ {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
				continue // no such output
			}
			// Not waited for: a child of the server may hold the pipe.
			go func() { _, _ = io.Copy(io.Discard, os.NewFile(uintptr(fd), "output")) }()
		}
		wg.Go(func() {
			wait := func(d time.Duration) bool { return pidfdWait(pidfd, d) }
			signal := func(s syscall.Signal) error { return unix.PidfdSendSignal(pidfd, s, nil, 0) }
			_ = Stop(proc.Term, proc.Grace, wait, signal)
			if proc.RemoveDir != "" {
				_ = os.RemoveAll(proc.RemoveDir)
			}
		})
	}
	wg.Wait()
	return 0
}

// Exited reports, without waiting, whether the process of pidfd has
// exited.
func Exited(pidfd *os.File) bool {
	fd, err := rawFD(pidfd)
	return err == nil && pidfdWait(int(fd), 0)
}

// pidfdWait reports whether the process of pidfd exits within d (d < 0:
// no limit). A descriptor that is not a pidfd counts as exited.
func pidfdWait(pidfd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ms := -1
		if d >= 0 {
			ms = int(time.Until(deadline).Milliseconds())
			if ms < 0 {
				ms = 0
			}
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, ms)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return true
		}
		return n > 0
	}
}
