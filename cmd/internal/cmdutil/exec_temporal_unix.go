//go:build unix

package cmdutil

import (
	"os"
	"syscall"
)

// execBinary replaces this process with path; it returns only on failure.
func execBinary(path string, argv []string) error {
	return syscall.Exec(path, argv, os.Environ())
}
