//go:build unix && !linux

package testenv

import (
	"syscall"
	"testing"
)

// KeyctlKeyringAs does nothing: the kernel keyring exists only on Linux.
func KeyctlKeyringAs(t testing.TB, name, exe string, user *syscall.Credential) {}
