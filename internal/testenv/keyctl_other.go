//go:build !linux

package testenv

import "testing"

// KeyctlKeyring does nothing: the kernel keyring exists only on Linux.
func KeyctlKeyring(t testing.TB, name string) {}

// RunKeyctlHelper returns -1: there is no keyctl helper off Linux.
func RunKeyctlHelper() int { return -1 }
