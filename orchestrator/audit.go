package orchestrator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// AuditRecord is one line of the audit log, in field order, as the writer
// encodes it and ReadAuditFile hands it back. The hash field is not part
// of it: it is appended after sealing the encoded record, so the hash (or,
// in a keyed log, the HMAC) covers exactly the bytes on disk before it
// (see VerifyAuditFile).
type AuditRecord struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"` // RFC 3339, UTC, nanoseconds
	CallID string `json:"call_id"`
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Method is the MCP request the record is about when it is not a
	// tools/call ("resources/read", "prompts/get", "skills/get",
	// "sampling/createMessage", "elicitation/create"); Tool then names
	// the prompt or skill, or is empty.
	Method     string          `json:"method,omitempty"`
	Run        string          `json:"run,omitempty"`  // the workflow run that made the call
	Step       string          `json:"step,omitempty"` // its step path in that run ("remind[3]")
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args,omitempty"`
	// Sources are the servers whose output went into what was sent (the
	// request's provenance); AllowedBy is the policy rule ("a -> b") or
	// approval that let it cross to Server. Neither is set for data that
	// came from Server alone.
	Sources    []string `json:"sources,omitempty"`
	AllowedBy  string   `json:"allowed_by,omitempty"`
	DurationMS float64  `json:"duration_ms"`
	Outcome    string   `json:"outcome"`
	ErrorClass string   `json:"error_class,omitempty"`
	Error      string   `json:"error,omitempty"`
	// Prev is the previous record's hash ("" for the first record), which
	// chains the records: editing, deleting or reordering one breaks the
	// chain at the next.
	Prev string `json:"prev"`
}

// hashFieldOpen starts the field every record line ends with:
// `,"hash":"<alg><hex>"}`, where alg is algSHA256 or algHMAC.
const hashFieldOpen = `,"hash":"`

// auditEntry is what a call hands to the log. Everything in it is final
// when the call returns: the drain reads it later, on another goroutine.
type auditEntry struct {
	start    time.Time
	callID   string
	server   string
	tool     string
	method   string // "" for tools/call
	origin   CallOrigin
	argsJSON []byte // canonical JSON of the arguments; never modified after the call
	duration time.Duration
	flow     FlowDecision // who the data came from and what allowed it here
	outcome  string
	errClass string // "" when the call did not fail
	errText  string // the failure as the log may hold it (see auditText), secrets masked
}

// appendLine appends e's record, numbered seq and chained to prev, with
// its hash field (sealed by seal) and newline: one line of the log.
func (a *auditLog) appendLine(b []byte, seal *auditSealer, e *auditEntry, seq uint64, prev string) []byte {
	var args json.RawMessage
	if a.includeValues && len(e.argsJSON) > 0 {
		args = redactJSON(a.red, e.argsJSON)
	}
	rec := AuditRecord{
		Seq:        seq,
		CallID:     e.callID,
		Server:     e.server,
		Tool:       e.tool,
		Method:     e.method,
		Run:        e.origin.Run,
		Step:       e.origin.Step,
		ArgsDigest: argsDigest(e.argsJSON),
		Args:       args,
		Sources:    e.flow.Sources,
		AllowedBy:  e.flow.AllowedBy,
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
	sum := seal.sum(b[off:])
	b = b[:len(b)-1] // reopen the object for the hash field
	b = append(b, hashFieldOpen...)
	b = append(b, seal.alg...)
	b = hex.AppendEncode(b, sum)
	return append(b, '"', '}', '\n')
}

// lineHash is the hash field's value ("<alg><hex>") of a line that
// appendLine wrote last into b with seal.
func lineHash(b []byte, seal *auditSealer) string {
	return string(b[len(b)-len(seal.alg)-hashHexLen-3 : len(b)-3])
}

// appendRecord encodes rec as encoding/json would (same field order, same
// escaping), with Time taken from start.
func appendRecord(b []byte, rec *AuditRecord, start time.Time) []byte {
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
	if rec.Method != "" {
		b = append(b, `,"method":`...)
		b = appendJSONString(b, rec.Method)
	}
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
	if len(rec.Sources) > 0 {
		b = append(b, `,"sources":[`...)
		for i, src := range rec.Sources {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, src)
		}
		b = append(b, ']')
	}
	if rec.AllowedBy != "" {
		b = append(b, `,"allowed_by":`...)
		b = appendJSONString(b, rec.AllowedBy)
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
