//go:build unix

package filelock

import (
	"os"
	"syscall"
)

// Supported says Lock really excludes other processes.
const Supported = true

// Lock takes an exclusive lock on f, waiting for another process's.
func Lock(f *os.File) error {
	// Fd is safe here: regular files are never in the runtime poller, so
	// it changes no blocking mode, and f stays open while locked.
	return flock(int(f.Fd()), syscall.LOCK_EX)
}

// Unlock releases f's lock.
func Unlock(f *os.File) { _ = flock(int(f.Fd()), syscall.LOCK_UN) }

func tryLock(f *os.File) (bool, error) {
	err := flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return false, nil
	}
	return err == nil, err
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
