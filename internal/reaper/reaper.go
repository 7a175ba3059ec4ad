// Package reaper ends stdio servers the way the MCP spec asks once their
// stdin is closed (wait for the exit, then SIGTERM, then SIGKILL), and lets
// a short-lived mediator leave that to a watchdog process: `mediator call`
// returns as soon as its work is done while a server it closed is still
// exiting, and the watchdog sees the shutdown through.
//
// The watchdog is the running program's own executable, started again with
// a marker in its environment; a program that hands servers over starts
// main with
//
//	if reaper.Invoked() {
//		os.Exit(reaper.Main())
//	}
//
// Why mediator works this way, and what a server sees, is in
// docs/design.md.
package reaper

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Process is a server whose stdin was closed and that has not exited yet,
// as Handoff passes it to the watchdog.
type Process struct {
	// PidFD refers to the process (a Linux pidfd), so that no signal can
	// reach another process that reused its pid.
	PidFD *os.File
	// Outputs are this side's ends of its stdout and stderr: the watchdog
	// reads and discards them, so the server never blocks on a full pipe
	// nor dies of SIGPIPE while it exits. Nil entries are skipped.
	Outputs []*os.File
	// Term is how long the server may still take to exit before SIGTERM,
	// and Grace how long after SIGTERM before SIGKILL.
	Term, Grace time.Duration
	// RemoveDir, when set, is removed once the server has exited (its
	// sandbox temp dir).
	RemoveDir string
}

// Stop is the MCP stdio shutdown after the server's stdin was closed:
// wait for it to exit for term, then send SIGTERM, wait grace, send
// SIGKILL, and wait grace again. wait(d) reports whether there is nothing
// left to do within d (the process exited, or is no longer the caller's
// to stop); signal sends one signal. A server that exits on its own within
// term is never signalled. Stop fails only when the process outlives
// SIGKILL by grace.
func Stop(term, grace time.Duration, wait func(time.Duration) bool, signal func(syscall.Signal) error) error {
	if wait(term) {
		return nil
	}
	// A failed SIGTERM (the process is gone) goes straight to SIGKILL,
	// which fails as well and leaves the wait to tell.
	if err := signal(syscall.SIGTERM); err == nil && wait(grace) {
		return nil
	}
	_ = signal(syscall.SIGKILL)
	if wait(grace) {
		return nil
	}
	return errors.New("the server process does not exit, even after SIGKILL")
}
