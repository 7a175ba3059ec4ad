//go:build unix

package orchestrator

import (
	"os"
	"syscall"
)

// haveFileLock says lockFile really excludes other processes.
const haveFileLock = true

// lockFile takes an exclusive advisory lock on the audit log, so records of
// concurrent mediator processes are appended one at a time, each chained to
// the one written before it. unlockFile releases it.
func lockFile(f *os.File) error {
	// Fd is safe here: regular files are never in the runtime poller, so
	// it changes no blocking mode, and f stays open while locked.
	return flock(int(f.Fd()), syscall.LOCK_EX)
}

func unlockFile(f *os.File) { _ = flock(int(f.Fd()), syscall.LOCK_UN) }

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
