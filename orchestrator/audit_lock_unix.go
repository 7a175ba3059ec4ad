//go:build unix

package orchestrator

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on the audit log, so records of
// concurrent mediator processes are appended one at a time, each chained to
// the one written before it.
func lockFile(f *os.File) (unlock func(), err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = flock(fd, syscall.LOCK_EX) }); err != nil {
		return nil, err
	}
	if lerr != nil {
		return nil, lerr
	}
	return func() { _ = rc.Control(func(fd uintptr) { _ = flock(fd, syscall.LOCK_UN) }) }, nil
}

func flock(fd uintptr, how int) error {
	for {
		err := syscall.Flock(int(fd), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
