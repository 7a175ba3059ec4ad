// Package filelock holds advisory locks on files, which order mediator
// processes that share a file: the audit log's appends, an OAuth server's
// token refreshes. Where the OS has no such lock (Supported is false) the
// functions succeed without excluding anyone.
package filelock

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mediatorhq/mediator/internal/privfile"
)

// pollEvery is how often LockPath tries again while another process holds
// the lock.
const pollEvery = 5 * time.Millisecond

// LockPath takes an exclusive lock on the file at path, creating it (and
// its directory) if need be, and waits for another process's lock until
// ctx ends. unlock releases it and closes the file.
func LockPath(ctx context.Context, path string) (unlock func(), err error) {
	f, err := privfile.OpenFile(path, os.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return func() { Unlock(f); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another mediator process to release %s: %w", path, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// TryLock takes an exclusive lock on f if no other process holds one,
// and reports whether it did, without waiting.
func TryLock(f *os.File) (bool, error) { return tryLock(f) }
