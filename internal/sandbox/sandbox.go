// Package sandbox confines the processes mediator starts (stdio MCP
// servers) and hardens mediator itself. On Linux a child is started from an
// OS thread that first restricts itself with Landlock (what files the child
// may read, write and execute; no ptrace of, no signals to and no abstract
// sockets outside its own domain) and a seccomp filter (no kernel keyring
// syscalls, no io_uring, no Unix sockets and optionally no network sockets),
// so the child inherits the restrictions while mediator keeps none of them.
//
// Why each layer exists, and what stays possible, is in docs/design.md
// ("Stdio servers run sandboxed").
package sandbox

import (
	"fmt"
)

// Policy is what one confined child may reach. Paths are absolute; a path
// that does not exist is ignored.
type Policy struct {
	// Read lists directories and files the child may read and execute.
	Read []string
	// Write lists directories and files the child may read, write, create
	// and remove beneath.
	Write []string
	// Network allows Internet sockets (TCP, UDP). Without it, socket(2)
	// refuses AF_INET and AF_INET6 and Landlock refuses TCP bind and connect.
	Network bool
	// UnixSockets allows AF_UNIX sockets other than socketpair(2) (which
	// stays allowed). Without it the child cannot reach D-Bus, ssh-agent,
	// Docker or any other local socket service.
	UnixSockets bool
}

// Status says whether children can be confined here and how.
type Status struct {
	// Available is true when Start confines a child.
	Available bool
	// LandlockABI is the kernel's Landlock ABI version (0 without Landlock).
	LandlockABI int
	// Reason says why Available is false.
	Reason string
}

// String renders the status for `mediator servers`.
func (s Status) String() string {
	if !s.Available {
		return "unavailable: " + s.Reason
	}
	return fmt.Sprintf("landlock v%d + seccomp", s.LandlockABI)
}

// SystemPaths are the read-only system trees every program needs to start:
// its loader and libraries, /etc's configuration (resolver, certificates,
// time zones), and /proc and /sys, where Landlock still keeps the child
// out of any process outside its own domain.
func SystemPaths() []string {
	return []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix/store", "/snap", "/proc", "/sys"}
}
