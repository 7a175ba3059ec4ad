//go:build !linux

package reaper

import (
	"errors"
	"os"
)

// Handoff fails with errors.ErrUnsupported outside Linux: without pidfds
// the watchdog could signal a process that reused a server's pid.
func Handoff(procs []Process) error {
	if len(procs) == 0 {
		return nil
	}
	return errors.ErrUnsupported
}

// Invoked is false outside Linux.
func Invoked() bool { return false }

// Main is never reached outside Linux.
func Main() int { return 2 }

// Exited is false outside Linux, where there are no pidfds.
func Exited(pidfd *os.File) bool { return false }
