//go:build !unix

package orchestrator

import "os"

// lockFile is a no-op where there is no flock: records of one process stay
// chained (the mutex orders them), but two processes appending to the same
// file at once can fork the chain, which `mediator audit verify` reports.
const haveFileLock = false

func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
