//go:build unix

package workflows

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process with this pid exists; signal 0
// checks without sending anything.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
