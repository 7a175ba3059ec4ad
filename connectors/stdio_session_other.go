//go:build !unix

package connectors

import (
	"os"
	"syscall"
)

// sessionAttr leaves the process as os/exec starts it: there are no POSIX
// sessions here.
func sessionAttr() (*syscall.SysProcAttr, func() *os.File) {
	return nil, func() *os.File { return nil }
}
