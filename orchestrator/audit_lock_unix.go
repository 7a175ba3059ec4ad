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
	// Fd is safe here: regular files are never in the runtime poller, so
	// it changes no blocking mode, and f stays open while locked.
	fd := int(f.Fd())
	if err := flock(fd, syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { _ = flock(fd, syscall.LOCK_UN) }, nil
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
