//go:build unix

package orchestrator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// Two logs on one file, each with its own store on one file keyring, stand
// for two mediator processes: each has its own open file, so their file
// locks exclude each other as two processes' do.
func twoWriters(t *testing.T) (path string, a, b *auditLog, verify func() (AuditReport, error)) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "audit.jsonl")
	keyring := filepath.Join(dir, "keyring")
	open := func() *credentials.Store {
		s, err := credentials.Open(t.Context(), credentials.Options{Backend: credentials.BackendFile, FileDir: keyring,
			Passphrase: func(string) (string, error) { return "lock-test-passphrase", nil }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	writer := func() *auditLog {
		return newAuditLog(Options{AuditPath: path, Redactor: credentials.NewRedactor(), AuditKeys: open()}, nil)
	}
	a, b = writer(), writer()
	t.Cleanup(func() {
		if err := errors.Join(a.close(), b.close()); err != nil {
			t.Error(err)
		}
	})
	verify = func() (AuditReport, error) {
		key, err := open().AuditKey(t.Context(), false)
		if err != nil {
			return AuditReport{}, err
		}
		return VerifyAuditFile(path, &key)
	}
	return path, a, b, verify
}

func syncBoth(t *testing.T, a, b *auditLog) {
	t.Helper()
	if err := errors.Join(a.sync(t.Context()), b.sync(t.Context())); err != nil {
		t.Fatal(err)
	}
}

func waitOrFail(t *testing.T, done <-chan error, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s: still waiting for the audit log's lock", what)
	}
}

// A writer that keeps appending holds the file lock for bursts, not for
// good: another process's record gets in, and the chain stays one.
func TestAuditLockLetsAnotherProcessIn(t *testing.T) {
	_, a, b, verify := twoWriters(t)
	stop := make(chan struct{})
	busy := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			if err := a.record(lockTestEntry("a")); err != nil {
				busy <- err
				return
			}
			if i == 0 {
				close(first)
			}
			// A call takes a while between records; an unbroken loop of
			// writes would win the lock back before the waiter runs, as
			// with a lock per record.
			select {
			case <-stop:
				busy <- nil
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	<-first
	done := make(chan error, 1)
	go func() { done <- b.record(lockTestEntry("b")) }()
	waitOrFail(t, done, "the second process's record")
	close(stop)
	waitOrFail(t, busy, "the busy process")
	syncBoth(t, a, b)
	if rep, err := verify(); err != nil || rep.Records < 2 || rep.Keyed != rep.Records || rep.Head != HeadMatched {
		t.Fatalf("VerifyAuditFile = %+v, %v", rep, err)
	}
}

// A writer that has gone quiet lets the lock go, and picks the chain up
// after whatever another process appended meanwhile.
func TestAuditLockReleasedWhenIdle(t *testing.T) {
	_, a, b, verify := twoWriters(t)
	for i, w := range []*auditLog{a, b, a, b} {
		done := make(chan error, 1)
		go func() { done <- w.record(lockTestEntry("x")) }()
		waitOrFail(t, done, "record "+string(rune('1'+i)))
	}
	syncBoth(t, a, b)
	if rep, err := verify(); err != nil || rep.Records != 4 || rep.Keyed != 4 || rep.Head != HeadMatched {
		t.Fatalf("VerifyAuditFile = %+v, %v", rep, err)
	}
}

// Losing records refuses calls until a record makes it to disk again, and
// the chain on disk goes on from the last record written.
func TestAuditRecoversAfterLostRecords(t *testing.T) {
	_, a, _, verify := twoWriters(t)
	ctx := t.Context()
	if err := a.record(lockTestEntry("1")); err != nil {
		t.Fatal(err)
	}
	if err := a.sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Swap the file for one whose writes fail, as a full disk would.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("needs /dev/full, whose writes fail with ENOSPC")
	}
	a.mu.Lock()
	good := a.f
	a.f = full
	a.mu.Unlock()
	if err := a.record(lockTestEntry("2")); err != nil {
		t.Fatal(err)
	}
	if err := a.sync(ctx); err == nil || !strings.Contains(err.Error(), "1 audit record(s) could not be written") {
		t.Fatalf("sync = %v, want the lost record", err)
	}
	if err := a.before(ctx, "s"); err == nil {
		t.Fatal("a call would be sent while records are being lost")
	}
	a.mu.Lock()
	a.f = good
	a.mu.Unlock()
	full.Close()
	if err := a.record(lockTestEntry("3")); err != nil {
		t.Fatal(err)
	}
	if err := a.sync(ctx); err != nil {
		t.Fatalf("sync after the disk recovered = %v", err)
	}
	if err := a.before(ctx, "s"); err != nil {
		t.Fatalf("calls still refused after a record was written: %v", err)
	}
	if rep, err := verify(); err != nil || rep.Records != 2 || rep.Head != HeadMatched {
		t.Fatalf("VerifyAuditFile = %+v, %v; want records 1 and 3 chained", rep, err)
	}
}
