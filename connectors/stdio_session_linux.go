//go:build linux

package connectors

import (
	"os"
	"syscall"
)

// sessionAttr starts a stdio server in a session of its own and asks for
// its pidfd, which the returned function gives once it has started (nil
// on a kernel without pidfds).
func sessionAttr() (*syscall.SysProcAttr, func() *os.File) {
	fd := -1
	return &syscall.SysProcAttr{Setsid: true, PidFD: &fd}, func() *os.File {
		if fd < 0 {
			return nil
		}
		return os.NewFile(uintptr(fd), "pidfd")
	}
}
