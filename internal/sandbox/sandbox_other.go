//go:build !linux

package sandbox

import (
	"fmt"
	"runtime"
)

// Probe reports that children cannot be confined on this OS.
func Probe() Status {
	return Status{Reason: "mediator sandboxes stdio servers only on Linux (this is " + runtime.GOOS + ")"}
}

// Harden does nothing outside Linux.
func Harden() error { return nil }

// Start refuses: there is no sandbox here.
func Start(p Policy, start func() error) error {
	return errorUnavailable()
}

func errorUnavailable() error {
	return fmt.Errorf("sandbox: %s", Probe().Reason)
}
