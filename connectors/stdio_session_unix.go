//go:build unix && !linux

package connectors

import (
	"os"
	"syscall"
)

// sessionAttr starts a stdio server in a session of its own; there are no
// pidfds here.
func sessionAttr() (*syscall.SysProcAttr, func() *os.File) {
	return &syscall.SysProcAttr{Setsid: true}, func() *os.File { return nil }
}
