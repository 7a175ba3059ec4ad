//go:build !unix

package workflows

// ProcessAlive cannot be checked cheaply here; a run marked running is
// then assumed dead, and resume relies on the operator not resuming a run
// that is still going.
func ProcessAlive(pid int) bool { return false }
