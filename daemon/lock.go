package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mediatorhq/mediator/internal/filelock"
	"github.com/mediatorhq/mediator/internal/privfile"
)

// LockFile is the file in the state directory a running daemon holds
// locked, with its pid in it.
const LockFile = "daemon.lock"

// Lock is a state directory held by this process's daemon.
type Lock struct {
	f    *os.File
	path string
}

// RunningError is AcquireLock's error when another daemon holds the
// state directory.
type RunningError struct {
	// PID is the running daemon's, 0 when it has not written it yet.
	PID  int
	Path string
}

func (e *RunningError) Error() string {
	who := "another mediator daemon"
	if e.PID > 0 {
		who = fmt.Sprintf("%s (pid %d)", who, e.PID)
	}
	return fmt.Sprintf("%s is running for the state directory %s (it holds %s); stop it first, or give this one another state_dir", who, filepath.Dir(e.Path), e.Path)
}

// AcquireLock takes stateDir for this process: one daemon per state
// directory. The lock is the OS's advisory lock on LockFile, so it goes
// with the process however it ends (kill -9 included); a stale file
// locks nothing. A second daemon gets a *RunningError naming the pid of
// the one running.
func AcquireLock(stateDir string) (*Lock, error) {
	path := filepath.Join(stateDir, LockFile)
	f, err := privfile.OpenFile(path, os.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	ok, err := filelock.TryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("daemon lock %s: %w", path, err)
	}
	if !ok {
		f.Close()
		return nil, &RunningError{PID: readPID(path), Path: path}
	}
	if err := writePID(f); err != nil {
		filelock.Unlock(f)
		f.Close()
		return nil, fmt.Errorf("daemon lock %s: writing the pid: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file's.
func (l *Lock) Path() string { return l.path }

// Release empties the pid and lets the state directory go.
func (l *Lock) Release() error {
	err := l.f.Truncate(0)
	filelock.Unlock(l.f)
	return errors.Join(err, l.f.Close())
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
