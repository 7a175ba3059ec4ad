package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/filelock"
	"github.com/mediatorhq/mediator/internal/privfile"
)

// auditLog appends hash-chained JSON Lines, HMAC-sealed under the audit key
// when it has an AuditKeyring, and keeps the log's head (auditHead) current.
//
// Records are written behind the calls: a call hands its entry over as it
// returns, which fixes its place in the chain, and a drain writes what was
// handed over within flushDelay in one write. Still:
//   - [auditLog.before] returns once every record of an earlier call to
//     another server is on disk;
//   - sync and close return once every record handed over is on disk;
//   - while records are being lost, calls are refused and sync and close
//     report the loss (auditing fails closed).
//
// A mutex and an advisory file lock (kept for lockHold) order records within
// and across processes. Why, and the price: docs/design.md, "Hash-chained
// JSON Lines audit".
type auditLog struct {
	path          string
	includeValues bool
	red           *credentials.Redactor
	keys          AuditKeyring // nil: unkeyed
	keyLock       string       // the lock file around making the audit key
	log           *slog.Logger

	mu       sync.Mutex
	closed   bool
	f        *os.File
	queue    []auditEntry // handed over, not yet taken by a drain
	spare    []auditEntry // the last drained batch, reused
	draining bool
	flushing *time.Timer // starts a drain flushDelay after a first entry
	armed    bool        // flushing is set to fire
	// idle, made by the first to wait for a drain, is closed when the
	// drain has written everything handed over.
	idle chan struct{}
	// unwritten counts the records handed over and not yet on disk;
	// unwrittenServer is the server of them all, "" when they are of more
	// than one.
	unwritten       int
	unwrittenServer string
	// lost counts the records lost since the last write that succeeded,
	// lostErr is why; while lost > 0 every call is refused.
	lost    int
	lostErr error

	// seal is set once by the first open, under mu, and used by the drain.
	seal *auditSealer
	// head is the head file, open while f is, when the log is keyed.
	head *os.File

	// The drain's while one runs, else guarded by mu: the chain, the file
	// as this process left it, and the file lock.
	seq     uint64
	prev    string
	size    int64 // file size after this process's last append; -1 = unknown
	buf     []byte
	headBuf []byte
	held    bool        // this process holds the file lock
	yield   bool        // the lock was just released: the next batch does not keep it
	release *time.Timer // runs releaseLock
}

// flushDelay is the most a record waits for a drain unless something
// needs it sooner (the barrier, sync, close). Calls that return within it
// of each other share a write. A written record sits in the page cache
// for seconds before the kernel puts it on disk, so the delay widens only
// what a crash of this process (not of the machine) can lose; 5 ms rather
// than 2 ms batches about twice as many records per write.
const flushDelay = 5 * time.Millisecond

// lockHold is how long a batch's file lock is kept for the batches after
// it. A timer ends it, so it is short enough for another process to wait
// and long enough for the timer to fire rarely.
const lockHold = 10 * time.Millisecond

// newAuditLog writes opts.AuditPath, keyed when opts.AuditKeys is set;
// opts.Redactor must be set.
func newAuditLog(opts Options, log *slog.Logger) *auditLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lockDir := opts.LockDir
	if lockDir == "" {
		lockDir = filepath.Dir(opts.AuditPath)
	}
	return &auditLog{
		path: opts.AuditPath, includeValues: opts.AuditIncludeValues, red: opts.Redactor,
		keys: opts.AuditKeys, keyLock: filepath.Join(lockDir, "audit-key.lock"),
		log: log, size: -1,
	}
}

// ready opens the file on first use, so commands that make no call do not
// create an audit log (nor read the audit key): with auditing on, nothing
// is sent unless it can be recorded.
func (a *auditLog) ready(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.openLocked(ctx)
}

// isOpen reports whether ready has opened the log.
func (a *auditLog) isOpen() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f != nil
}

// openLocked gets the key, opens the log and its head, and checks the log's
// tail against the head. A log that cannot be continued is closed again,
// so every call after is refused as well, before it is sent.
func (a *auditLog) openLocked(ctx context.Context) error {
	if a.closed {
		return &Error{Kind: KindAudit, Msg: "audit log is closed"}
	}
	if a.f != nil {
		return nil
	}
	if err := privfile.Dir(filepath.Dir(a.path)); err != nil {
		return &Error{Kind: KindAudit, Msg: "creating the audit log directory", Err: err}
	}
	if a.seal == nil {
		seal, err := a.sealer(ctx)
		if err != nil {
			return err
		}
		a.seal = seal
	}
	// The log may hold argument values: only its owner reads it.
	f, err := privfile.OpenFile(a.path, os.O_RDWR|os.O_APPEND)
	if err != nil {
		return &Error{Kind: KindAudit, Msg: "opening the audit log", Err: err}
	}
	var head *os.File
	if a.seal.keyed() {
		if head, err = privfile.OpenFile(AuditHeadPath(a.path), os.O_RDWR); err != nil {
			f.Close()
			return &Error{Kind: KindAudit, Msg: "opening the audit log's head", Err: err}
		}
	}
	a.f, a.head = f, head
	// Check the tail now, so a log that cannot be continued stops the first
	// call before it is sent.
	err = filelock.Lock(f)
	if err == nil {
		err = a.syncTail()
		filelock.Unlock(f)
	} else {
		err = &Error{Kind: KindAudit, Msg: "locking the audit log", Err: err}
	}
	if err != nil {
		a.closeFilesLocked()
		return err
	}
	return nil
}

// sealer makes the sealer records are written with: keyed with the
// keyring's audit key, made at the first use under a lock that mediator
// processes share, so that those starting together agree on one key.
func (a *auditLog) sealer(ctx context.Context) (*auditSealer, error) {
	if a.keys == nil {
		return newAuditSealer(nil), nil
	}
	fail := func(err error) (*auditSealer, error) {
		return nil, &Error{Kind: KindAudit, Err: err,
			Msg: "the audit log is keyed with a secret in the keyring, which cannot be read (auditing fails closed: nothing is sent)"}
	}
	key, err := a.keys.AuditKey(ctx, false)
	if err != nil {
		// Not there yet, or caught half-written by a process making it
		// now (the file keyring writes items in place): look again, and
		// make it if it is missing, under the lock that process holds.
		unlock, lerr := filelock.LockPath(ctx, a.keyLock)
		if lerr != nil {
			return fail(fmt.Errorf("making the audit key: %w", lerr))
		}
		key, err = a.keys.AuditKey(ctx, true)
		unlock()
	}
	if err != nil {
		return fail(err)
	}
	b, err := key.Bytes()
	if err != nil {
		return fail(err)
	}
	a.red.Add(key.Secret)
	return newAuditSealer(b), nil
}

// before is the barrier a call to server passes just before it is sent:
// it waits until no record of a call to another server is unwritten, and
// reports lost records. Records of calls to the same server may still be
// on their way: no data crosses a server boundary there.
func (a *auditLog) before(ctx context.Context, server string) error {
	return a.wait(ctx, func() bool { return a.unwritten > 0 && a.unwrittenServer != server })
}

// sync waits until every record handed over is on disk.
func (a *auditLog) sync(ctx context.Context) error {
	return a.wait(ctx, func() bool { return a.unwritten > 0 })
}

// wait drains, or waits for a drain to end, while blocking holds (checked
// with a.mu held), then reports lost records.
func (a *auditLog) wait(ctx context.Context, blocking func() bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for blocking() {
		if !a.draining {
			// On this goroutine: a handoff would only add a wakeup.
			a.drainLocked()
			continue
		}
		if err := a.awaitDrainLocked(ctx); err != nil {
			return &Error{Kind: KindAudit, Msg: "waiting for earlier calls' audit records to be written", Err: err}
		}
	}
	return a.lostLocked()
}

// awaitDrainLocked returns once no drain runs, or ctx ends; a.mu is
// released while it waits.
func (a *auditLog) awaitDrainLocked(ctx context.Context) error {
	for a.draining {
		if a.idle == nil {
			a.idle = make(chan struct{})
		}
		ch := a.idle
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			a.mu.Lock()
			return ctx.Err()
		}
		a.mu.Lock()
	}
	return nil
}

// lostLocked reports the records lost since the last write that
// succeeded. The records of the calls it refuses are written like any
// other, so the first that makes it to disk ends the refusals.
func (a *auditLog) lostLocked() error {
	if a.lost == 0 {
		return nil
	}
	return &Error{Kind: KindAudit, Err: a.lostErr, Msg: fmt.Sprintf("%d audit record(s) could not be written to %s; "+
		"calls are refused until the log can be written again", a.lost, a.path)}
}

// record hands a finished (or refused) call's entry to the drain. Whether
// it gets written is known later: a loss is reported to the calls after
// it, and by sync and close.
func (a *auditLog) record(e auditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return &Error{Kind: KindAudit, Msg: "audit log is closed"}
	}
	// Every call's path opened the log already (ready); an open here
	// serves the entries of tests and the calls after a failed reopen.
	if err := a.openLocked(context.Background()); err != nil {
		a.lost++
		a.lostErr = err
		return err
	}
	a.queue = append(a.queue, e)
	if a.unwritten == 0 {
		a.unwrittenServer = e.server
	} else if a.unwrittenServer != e.server {
		a.unwrittenServer = ""
	}
	a.unwritten++
	if !a.armed {
		a.armed = true
		if a.flushing == nil {
			a.flushing = time.AfterFunc(flushDelay, a.drain)
		} else {
			a.flushing.Reset(flushDelay)
		}
	}
	return nil
}

// drain writes what has been handed over, unless a drain runs already.
func (a *auditLog) drain() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed = false
	if !a.draining {
		a.drainLocked()
	}
}

// drainLocked writes what has been handed over until nothing is left,
// with a.mu released during each write. A batch that cannot be written is
// lost, with whatever is queued behind it (it would chain to a record that
// is not on disk), and the file lock is dropped, so the next batch
// re-reads the tail.
func (a *auditLog) drainLocked() {
	a.draining = true
	for len(a.queue) > 0 {
		batch := a.queue
		a.queue = a.spare[:0]
		a.mu.Unlock()
		err := a.writeBatch(batch)
		a.mu.Lock()
		a.unwritten -= len(batch)
		if err != nil {
			lost := len(batch) + len(a.queue)
			a.queue = a.queue[:0]
			a.unwritten = 0
			a.unlockLocked()
			a.lost += lost
			a.lostErr = err
			a.log.Error("audit records not written; calls are refused until the log can be written again",
				"records", lost, "path", a.path, "error", err)
		} else {
			a.lost = 0
		}
		clear(batch) // let go of the entries' arguments
		a.spare = batch[:0]
	}
	a.draining = false
	if a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

// writeBatch appends the entries' records in one write, continuing the
// chain, taking the file lock first if this process does not hold it. It
// needs the drain's state: it runs in the drain, or with a.mu held and no
// drain running.
func (a *auditLog) writeBatch(batch []auditEntry) error {
	if !a.held {
		if err := filelock.Lock(a.f); err != nil {
			return &Error{Kind: KindAudit, Msg: "locking the audit log", Err: err}
		}
		if err := a.syncTail(); err != nil {
			filelock.Unlock(a.f)
			return err
		}
		if a.yield || !filelock.Supported {
			// Right after a release, another process may be waiting for
			// its turn. Without a real lock, keeping it would only skip
			// the check for records another process appended.
			a.yield = false
			defer filelock.Unlock(a.f)
		} else {
			a.held = true
			if a.release == nil {
				a.release = time.AfterFunc(lockHold, a.releaseLock)
			} else {
				a.release.Reset(lockHold)
			}
		}
	}
	b := a.buf[:0]
	seq, prev := a.seq, a.prev
	for i := range batch {
		seq++
		b = a.appendLine(b, a.seal, &batch[i], seq, prev)
		prev = lineHash(b, a.seal)
	}
	a.buf = b
	if _, err := a.f.Write(b); err != nil {
		a.size = -1 // a partial line may be on disk: re-read before the next record
		return &Error{Kind: KindAudit, Msg: "writing the audit log", Err: err}
	}
	a.size += int64(len(b))
	a.seq, a.prev = seq, prev
	if err := a.writeHead(seq, prev); err != nil {
		// The records are on disk; the tail is checked against the head
		// before the next batch, which a head one batch behind passes.
		a.size = -1
		return err
	}
	return nil
}

// writeHead anchors the log's end at record seq with hash field hash, when
// the log is keyed. The file lock must be held.
func (a *auditLog) writeHead(seq uint64, hash string) error {
	if a.head == nil {
		return nil
	}
	a.headBuf = appendHead(a.headBuf[:0], a.seal, seq, hash)
	if _, err := a.head.WriteAt(a.headBuf, 0); err != nil {
		return &Error{Kind: KindAudit, Msg: fmt.Sprintf("the records were written, but the audit log's head %s could not be updated", AuditHeadPath(a.path)), Err: err}
	}
	return nil
}

// syncTail resumes the chain from the file's last record when the file is
// not as this process left it (first write, or another process appended),
// after checking it against the head. The file lock must be held.
func (a *auditLog) syncTail() error {
	// The end offset is the size, without Stat's allocation. The file is
	// opened O_APPEND, so where the offset stays does not matter.
	size, err := a.f.Seek(0, io.SeekEnd)
	if err != nil {
		return &Error{Kind: KindAudit, Msg: "reading the audit log", Err: err}
	}
	if size == a.size {
		return nil
	}
	last, err := lastLine(a.f, size)
	if err != nil {
		return a.cannotContinue(err.Error())
	}
	var seq uint64
	var hash string
	if last != nil {
		var r struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(last, &r); err != nil || r.Seq == 0 || r.Hash == "" {
			return a.cannotContinue("the last line is not an audit record, so the hash chain cannot continue")
		}
		seq, hash = r.Seq, r.Hash
	}
	if err := a.checkTail(last, seq, hash); err != nil {
		return err
	}
	a.seq, a.prev = seq, hash
	a.size = size
	return nil
}

// checkTail checks the log's last record (seq 0: none) against the head
// before the chain goes on from it: chaining onto a log cut short, and
// moving the head along, would hide the cut. The file lock must be held.
func (a *auditLog) checkTail(last []byte, seq uint64, hash string) error {
	tailKeyed := strings.HasPrefix(hash, algHMAC)
	if !a.seal.keyed() {
		if _, err := os.Stat(AuditHeadPath(a.path)); tailKeyed || err == nil {
			return a.cannotContinue("the log is keyed (it has a head file, or keyed records), " +
				"and this mediator has no audit key to continue it with")
		}
		return nil
	}
	h, err := readHead(a.head)
	switch {
	case errors.Is(err, errNoHead) && tailKeyed:
		return a.cannotContinue(fmt.Sprintf("its head %s is missing although the log holds keyed records: "+
			"it was deleted, which hides records cut off the end of the log", AuditHeadPath(a.path)))
	case errors.Is(err, errNoHead):
		// A log not keyed yet: from here on it is. Anchor its end before
		// the first keyed record, so a head exists whenever one does.
		return a.writeHead(seq, hash)
	case err != nil:
		return a.cannotContinue(fmt.Sprintf("its head %s: %v", AuditHeadPath(a.path), err))
	}
	if why := a.seal.checkHead(h); why != "" {
		return a.cannotContinue(why)
	}
	switch {
	case h.Seq > seq:
		return a.cannotContinue(fmt.Sprintf("the log ends at seq %d but its head names seq %d: records were cut off the end", seq, h.Seq))
	case h.Seq == seq && h.Hash == hash:
		return nil
	case h.Seq == seq:
		return a.cannotContinue(fmt.Sprintf("the last record (seq %d) is not the one the head names: the log was rewritten", seq))
	}
	// Records follow the one the head names: a process stopped between
	// writing them and updating the head. Only a holder of the key can
	// have sealed the last of them.
	body, alg, sum, ok := sealedLine(last)
	if !ok || alg != algHMAC || !a.seal.check(body, sum) {
		return a.cannotContinue(fmt.Sprintf("records after seq %d, which the head names, are not sealed with the audit key", h.Seq))
	}
	return a.writeHead(seq, hash)
}

// cannotContinue is the error for a log whose chain cannot go on.
func (a *auditLog) cannotContinue(why string) error {
	return &Error{Kind: KindAudit, Msg: fmt.Sprintf("audit log %s: %s; run `mediator audit verify`, "+
		"and move the file (and its head %s) aside to start a new chain", a.path, why, filepath.Base(AuditHeadPath(a.path)))}
}

// lastLine returns the last newline-terminated line of f (without the
// newline), nil for an empty file, or an error if the file ends mid-line.
func lastLine(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], size-1); err != nil {
		return nil, err
	}
	if one[0] != '\n' {
		return nil, errors.New("the file ends with an incomplete record (a write was cut off)")
	}
	const chunk = 8 << 10
	// tail holds the bytes [pos, size-1): everything after pos up to, not
	// including, the final newline.
	var tail []byte
	for pos := size - 1; pos > 0; {
		n := min(int64(chunk), pos)
		pos -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, pos); err != nil {
			return nil, err
		}
		tail = append(buf, tail...)
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return tail[i+1:], nil
		}
	}
	return tail, nil
}

// releaseLock ends a hold of the file lock, once everything written under
// it is on disk.
func (a *auditLog) releaseLock() {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.awaitDrainLocked(context.Background())
	if a.held {
		a.unlockLocked()
		a.yield = true
	}
}

// unlockLocked drops the file lock if this process holds it. a.mu must be held.
func (a *auditLog) unlockLocked() {
	if a.held {
		filelock.Unlock(a.f)
		a.held = false
	}
}

// close writes what is still queued, closes the file and reports records
// that were lost.
func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.flushing != nil {
		a.flushing.Stop()
	}
	_ = a.awaitDrainLocked(context.Background())
	a.drainLocked()
	// Only now: a drain sets the lock's release timer, outside a.mu.
	if a.release != nil {
		a.release.Stop()
	}
	lost := a.lostLocked()
	if a.f == nil {
		return lost
	}
	a.unlockLocked()
	if err := a.closeFilesLocked(); err != nil {
		return errors.Join(lost, &Error{Kind: KindAudit, Msg: "closing the audit log", Err: err})
	}
	return lost
}

// closeFilesLocked closes the log and its head. a.mu must be held, and
// this process must not hold the file lock.
func (a *auditLog) closeFilesLocked() error {
	err := a.f.Close()
	if a.head != nil {
		err = errors.Join(err, a.head.Close())
	}
	a.f, a.head = nil, nil
	a.size = -1
	return err
}
