package orchestrator

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mediatorhq/mediator/credentials"
)

// Audit outcomes.
const (
	OutcomeOK        = "ok"         // the tool answered with a result
	OutcomeToolError = "tool-error" // the tool answered with IsError set
	OutcomeError     = "error"      // the call failed (connection, protocol)
	OutcomeRefused   = "refused"    // mediator refused before sending anything
)

// auditRecord is one line of the audit log, in field order. The hash field
// is not part of it: it is appended after hashing the encoded record, so
// the hash covers exactly the bytes on disk before it (see VerifyAuditFile).
type auditRecord struct {
	Seq        uint64          `json:"seq"`
	Time       string          `json:"time"` // RFC 3339, UTC, nanoseconds
	CallID     string          `json:"call_id"`
	Server     string          `json:"server"`
	Tool       string          `json:"tool"`
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Outcome    string          `json:"outcome"`
	ErrorClass string          `json:"error_class,omitempty"`
	Error      string          `json:"error,omitempty"`
	// Prev is the previous record's hash ("" for the first record), which
	// chains the records: editing, deleting or reordering one breaks the
	// chain at the next.
	Prev string `json:"prev"`
}

// hashField is how every record line ends: `,"hash":"sha256:<hex>"}`.
const (
	hashFieldOpen = `,"hash":"sha256:`
	hashHexLen    = 2 * sha256.Size
)

// auditEntry is what a call hands to the log.
type auditEntry struct {
	start    time.Time
	callID   string
	server   string
	tool     string
	argsJSON []byte // canonical JSON of the arguments
	duration time.Duration
	outcome  string
	err      error
}

// auditLog appends hash-chained JSON Lines. One mutex orders this
// process's records; an advisory file lock (where the OS has one) orders
// them against other mediator processes appending to the same file, and
// the chain resumes from whatever record another process wrote last.
//
// The file lock is held for a short while (lockHold) from the record that
// takes it rather than taken for each: while it is held no other process
// can have appended, so a record costs one write instead of lock, seek,
// write and unlock. After a release, the next record takes and drops the
// lock on its own, which lets a process waiting to append have its turn;
// it waits at most about lockHold.
type auditLog struct {
	path          string
	includeValues bool
	red           *credentials.Redactor

	mu     sync.Mutex
	f      *os.File
	seq    uint64
	prev   string
	size   int64 // file size after this process's last append; -1 = unknown
	buf    []byte
	closed bool

	held    bool        // this process holds the file lock
	yield   bool        // the lock was just released: the next record does not keep it
	release *time.Timer // runs releaseLock
}

// lockHold is how long a record's file lock is kept for the records after
// it. A timer ends it, so it is short enough for another process to wait
// and long enough for the timer to fire rarely.
const lockHold = 10 * time.Millisecond

func newAuditLog(path string, includeValues bool, red *credentials.Redactor) *auditLog {
	return &auditLog{path: path, includeValues: includeValues, red: red, size: -1}
}

// ready opens the file on first use, so commands that make no call do not
// create an audit log.
func (a *auditLog) ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.openLocked()
}

func (a *auditLog) openLocked() error {
	if a.closed {
		return &Error{Kind: KindAudit, Msg: "audit log is closed"}
	}
	if a.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return &Error{Kind: KindAudit, Msg: "creating the audit log directory", Err: err}
	}
	f, err := os.OpenFile(a.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return &Error{Kind: KindAudit, Msg: "opening the audit log", Err: err}
	}
	a.f = f
	// Check the tail now, so a log that cannot be continued stops the first
	// call before it is sent.
	if err := lockFile(f); err != nil {
		return &Error{Kind: KindAudit, Msg: "locking the audit log", Err: err}
	}
	defer unlockFile(f)
	return a.syncTail()
}

// write appends one record. The caller's call has already happened (or
// been refused); a failure here is reported but cannot undo it.
func (a *auditLog) write(e auditEntry) error {
	var args json.RawMessage
	if a.includeValues && len(e.argsJSON) > 0 {
		args = redactJSON(a.red, e.argsJSON)
	}
	rec := auditRecord{
		CallID:     e.callID,
		Server:     e.server,
		Tool:       e.tool,
		ArgsDigest: argsDigest(e.argsJSON),
		Args:       args,
		DurationMS: float64(e.duration.Microseconds()) / 1000,
		Outcome:    e.outcome,
	}
	if e.err != nil {
		rec.ErrorClass = ErrorClass(e.err)
		rec.Error = a.red.Redact(auditText(e.err, a.includeValues))
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.openLocked(); err != nil {
		return err
	}
	if !a.held {
		if err := lockFile(a.f); err != nil {
			return &Error{Kind: KindAudit, Msg: "locking the audit log", Err: err}
		}
		if a.yield || !haveFileLock {
			// Right after a release, another process may be waiting for
			// its turn. Without a real lock, keeping it would only skip
			// the check for records another process appended.
			a.yield = false
			defer unlockFile(a.f)
		} else {
			a.held = true
			if a.release == nil {
				a.release = time.AfterFunc(lockHold, a.releaseLock)
			} else {
				a.release.Reset(lockHold)
			}
		}
		if err := a.syncTail(); err != nil {
			a.unlockLocked()
			return err
		}
	}
	rec.Seq = a.seq + 1
	rec.Prev = a.prev
	// The record is encoded by hand into one reused buffer: this runs on
	// every call, and reflection-based encoding was the largest part of
	// mediation's cost per call.
	line := appendRecord(a.buf[:0], &rec, e.start)
	sum := sha256.Sum256(line)
	line = line[:len(line)-1] // reopen the object for the hash field
	line = append(line, hashFieldOpen...)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, '"', '}', '\n')
	a.buf = line
	if _, err := a.f.Write(line); err != nil {
		a.size = -1 // a partial line may be on disk: re-read before the next record
		a.unlockLocked()
		return &Error{Kind: KindAudit, Msg: "writing the audit log", Err: err}
	}
	a.size += int64(len(line))
	a.seq = rec.Seq
	a.prev = string(line[len(line)-len(`sha256:`)-hashHexLen-3 : len(line)-3])
	return nil
}

// appendRecord encodes rec as encoding/json would (same field order, same
// escaping), with Time taken from start.
func appendRecord(b []byte, rec *auditRecord, start time.Time) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `,"time":"`...)
	b = start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","call_id":`...)
	b = appendJSONString(b, rec.CallID)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, rec.Server)
	b = append(b, `,"tool":`...)
	b = appendJSONString(b, rec.Tool)
	b = append(b, `,"args_digest":`...)
	b = appendJSONString(b, rec.ArgsDigest)
	if len(rec.Args) > 0 {
		b = append(b, `,"args":`...)
		b = append(b, rec.Args...)
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, rec.DurationMS, 'f', -1, 64)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, rec.Outcome)
	if rec.ErrorClass != "" {
		b = append(b, `,"error_class":`...)
		b = appendJSONString(b, rec.ErrorClass)
	}
	if rec.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, rec.Error)
	}
	b = append(b, `,"prev":`...)
	b = appendJSONString(b, rec.Prev)
	return append(b, '}')
}

// appendJSONString quotes s the way encoding/json does: HTML-safe, with
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// syncTail resumes the chain from the file's last record when the file is
// not as this process left it (first write, or another process appended).
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
		return &Error{Kind: KindAudit, Msg: fmt.Sprintf("audit log %s: %v; run `mediator audit verify`, "+
			"and move the file aside to start a new chain", a.path, err)}
	}
	a.seq, a.prev = 0, ""
	if last != nil {
		var r struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(last, &r); err != nil || r.Seq == 0 || r.Hash == "" {
			return &Error{Kind: KindAudit, Msg: fmt.Sprintf("audit log %s: the last line is not an audit record, so the "+
				"hash chain cannot continue; run `mediator audit verify`, and move the file aside to start a new chain", a.path)}
		}
		a.seq, a.prev = r.Seq, r.Hash
	}
	a.size = size
	return nil
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

// releaseLock ends a record's hold of the file lock.
func (a *auditLog) releaseLock() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held {
		a.unlockLocked()
		a.yield = true
	}
}

// unlockLocked drops the file lock if this process holds it. a.mu must be held.
func (a *auditLog) unlockLocked() {
	if a.held {
		unlockFile(a.f)
		a.held = false
	}
}

func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.release != nil {
		a.release.Stop()
	}
	if a.f == nil {
		return nil
	}
	a.unlockLocked()
	err := a.f.Close()
	a.f = nil
	if err != nil {
		return &Error{Kind: KindAudit, Msg: "closing the audit log", Err: err}
	}
	return nil
}

// argsDigest identifies the arguments without revealing them.
func argsDigest(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	var b [len("sha256:") + hashHexLen]byte
	copy(b[:], "sha256:")
	hex.Encode(b[len("sha256:"):], sum[:])
	return string(b[:])
}

// redactJSON masks every known secret in the decoded strings (keys and
// values) and numbers of a JSON document. Masking decoded values rather
// than the encoded text matters: JSON escapes some characters, so a secret
// with a quote or '<' in it would not match its encoded form.
func redactJSON(red *credentials.Redactor, doc []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`"[unrecordable arguments]"`)
	}
	out, err := json.Marshal(red.RedactValue(v))
	if err != nil {
		return json.RawMessage(`"[unrecordable arguments]"`)
	}
	return out
}

// AuditVerifyError says where and why an audit log's hash chain breaks.
type AuditVerifyError struct {
	Path   string
	Line   int
	Reason string
}

func (e *AuditVerifyError) Error() string {
	return fmt.Sprintf("audit log %s: line %d: %s", e.Path, e.Line, e.Reason)
}

// VerifyAuditFile checks every record's hash and the chain between them,
// and returns the number of intact records before the first break. It
// catches edited, deleted, inserted and reordered records and lines that
// are not records. Records cut off the end of the file leave an intact
// shorter chain, which only a copy of the last seq and hash kept elsewhere
// can reveal.
func VerifyAuditFile(path string) (records int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("verifying audit log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var (
		prevSeq  uint64
		prevHash string
	)
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if len(line) == 0 && rerr == io.EOF {
			return records, nil
		}
		if rerr != nil && rerr != io.EOF {
			return records, fmt.Errorf("verifying audit log %s: %w", path, rerr)
		}
		fail := func(format string, args ...any) (int, error) {
			return records, &AuditVerifyError{Path: path, Line: lineNo, Reason: fmt.Sprintf(format, args...)}
		}
		if rerr == io.EOF {
			return fail("incomplete last record (no newline): a write was cut off or the file was truncated")
		}
		line = line[:len(line)-1]
		var rec struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return fail("not a JSON record: %v", err)
		}
		want, ok := recordHash(line)
		if !ok || rec.Hash != want {
			return fail("record seq %d does not match its hash: the record was edited", rec.Seq)
		}
		switch {
		case lineNo == 1 && rec.Seq != 1:
			return fail("the chain starts at seq %d, not 1: %s", rec.Seq, whereAreMissing(r, lineNo, 1, rec.Seq))
		case lineNo > 1 && rec.Seq <= prevSeq:
			return fail("seq %d follows seq %d: records were reordered or duplicated", rec.Seq, prevSeq)
		case lineNo > 1 && rec.Seq != prevSeq+1:
			return fail("seq %d follows seq %d: %s", rec.Seq, prevSeq, whereAreMissing(r, lineNo, prevSeq+1, rec.Seq))
		case rec.Prev != prevHash:
			return fail("record seq %d does not chain to the record before it (prev %q, want %q): "+
				"a record was replaced or re-hashed", rec.Seq, rec.Prev, prevHash)
		}
		prevSeq, prevHash = rec.Seq, rec.Hash
		records++
	}
}

// whereAreMissing tells deletion from reordering for the seqs [from, to)
// absent at line: it reads the rest of the file looking for them.
func whereAreMissing(r *bufio.Reader, line int, from, to uint64) string {
	for lineNo := line + 1; ; lineNo++ {
		l, err := r.ReadBytes('\n')
		var rec struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(l, &rec) == nil && rec.Seq >= from && rec.Seq < to {
			return fmt.Sprintf("records were reordered (seq %d is at line %d)", rec.Seq, lineNo)
		}
		if err != nil {
			break
		}
	}
	if to-from == 1 {
		return fmt.Sprintf("record seq %d was deleted", from)
	}
	return fmt.Sprintf("records seq %d to %d were deleted", from, to-1)
}

// recordHash recomputes a line's hash over its bytes up to the hash field,
// closed with '}', exactly as the writer hashed them.
func recordHash(line []byte) (string, bool) {
	n := len(line) - len(hashFieldOpen) - hashHexLen - 2
	if n < 1 || !bytes.Equal(line[n:n+len(hashFieldOpen)], []byte(hashFieldOpen)) || !bytes.HasSuffix(line, []byte(`"}`)) {
		return "", false
	}
	body := make([]byte, 0, n+1)
	body = append(body, line[:n]...)
	body = append(body, '}')
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:]), true
}
