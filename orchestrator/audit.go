package orchestrator

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
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
	Run        string          `json:"run,omitempty"`  // the workflow run that made the call
	Step       string          `json:"step,omitempty"` // its step path in that run ("remind[3]")
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

// auditEntry is what a call hands to the log. Everything in it is final
// when the call returns: the drain reads it later, on another goroutine.
type auditEntry struct {
	start    time.Time
	callID   string
	server   string
	tool     string
	origin   CallOrigin
	argsJSON []byte // canonical JSON of the arguments; never modified after the call
	duration time.Duration
	outcome  string
	errClass string // "" when the call did not fail
	errText  string // the failure as the log may hold it (see auditText), secrets masked
}

// appendLine appends e's record, numbered seq and chained to prev, with
// its hash field and newline: one line of the log.
func (a *auditLog) appendLine(b []byte, e *auditEntry, seq uint64, prev string) []byte {
	var args json.RawMessage
	if a.includeValues && len(e.argsJSON) > 0 {
		args = redactJSON(a.red, e.argsJSON)
	}
	rec := auditRecord{
		Seq:        seq,
		CallID:     e.callID,
		Server:     e.server,
		Tool:       e.tool,
		Run:        e.origin.Run,
		Step:       e.origin.Step,
		ArgsDigest: argsDigest(e.argsJSON),
		Args:       args,
		DurationMS: float64(e.duration.Microseconds()) / 1000,
		Outcome:    e.outcome,
		ErrorClass: e.errClass,
		Error:      e.errText,
		Prev:       prev,
	}
	// The record is encoded by hand: this runs for every call, and
	// reflection-based encoding was once the largest part of mediation's
	// cost per call.
	off := len(b)
	b = appendRecord(b, &rec, e.start)
	sum := sha256.Sum256(b[off:])
	b = b[:len(b)-1] // reopen the object for the hash field
	b = append(b, hashFieldOpen...)
	b = hex.AppendEncode(b, sum[:])
	return append(b, '"', '}', '\n')
}

// lineHash is the hash field's value ("sha256:<hex>") of a line that
// appendLine wrote last into b.
func lineHash(b []byte) string {
	return string(b[len(b)-len(`sha256:`)-hashHexLen-3 : len(b)-3])
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
	if rec.Run != "" {
		b = append(b, `,"run":`...)
		b = appendJSONString(b, rec.Run)
	}
	if rec.Step != "" {
		b = append(b, `,"step":`...)
		b = appendJSONString(b, rec.Step)
	}
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
