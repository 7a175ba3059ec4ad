package orchestrator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// AuditVerifyError says where and why an audit log fails verification.
type AuditVerifyError struct {
	Path   string // the log, or its head file
	Line   int    // 0 when the problem is not one line's
	Reason string
}

func (e *AuditVerifyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("audit log %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("audit log %s: line %d: %s", e.Path, e.Line, e.Reason)
}

// Head states in an AuditReport.
const (
	HeadMatched = "matched" // the log's last record is the one the head names
	HeadBehind  = "behind"  // keyed records follow it: a process stopped before updating the head
	HeadNone    = "none"    // no head: the log was never written with a key
)

// AuditReport is what VerifyAuditFile found.
type AuditReport struct {
	Path     string `json:"path"`
	HeadPath string `json:"head_path"`
	// Records counts the intact records: every record when verification
	// succeeds, else those before the problem.
	Records int `json:"records"`
	// Unkeyed counts records sealed by a plain SHA-256: records of a log
	// written before mediator keyed its audit log. Alone, they prove
	// nothing against someone who can write the file; a keyed record after
	// them fixes them, since its MAC covers the chain up to it.
	Unkeyed int `json:"unkeyed"`
	// Keyed counts records sealed with an HMAC under the audit key.
	Keyed int `json:"keyed"`
	// KeyChecked says a key was given, so the keyed records' MACs and the
	// head's were checked; without one only their chain was.
	KeyChecked bool `json:"key_checked"`
	// KeyID identifies the key the head was written with (it reveals
	// nothing about the key).
	KeyID string `json:"key_id,omitempty"`
	// Head is HeadMatched, HeadBehind or HeadNone.
	Head string `json:"head"`
	// HeadSeq is the seq of the record the head names.
	HeadSeq uint64 `json:"head_seq"`
	// Writing says the log ended in a line without its newline, left out
	// as a record still being written (ReadAuditFile with Growing only).
	Writing bool `json:"writing,omitempty"`
}

// VerifyAuditFile checks every record's hash or MAC and the chain between
// them, and the log's end against its head. With key (the keyring's audit
// key), it checks keyed records' MACs and the head's; without, it checks
// everything else and says so in KeyChecked. It catches edited, deleted,
// inserted and reordered records, lines that are not records, records cut
// off the end of a keyed log, and rewrites that drop the key: an unkeyed
// record after a keyed one, after the record a head names, or (with key)
// dated after the key was made.
//
// The report is filled in as far as verification got; the error is an
// *AuditVerifyError when the log or its head fails, another error when they
// cannot be read.
func VerifyAuditFile(path string, key *credentials.AuditKey) (AuditReport, error) {
	return ReadAuditFile(path, AuditReadOptions{Key: key})
}

// AuditReadOptions say how ReadAuditFile reads a log.
type AuditReadOptions struct {
	// Key is the keyring's audit key, or nil, as for VerifyAuditFile.
	Key *credentials.AuditKey
	// Each, when set, is handed every record that verifies, in order, as
	// soon as it has (the head is checked after the last); an error from
	// it ends the reading and is returned.
	Each func(AuditRecord) error
	// Growing says another writer may be appending meanwhile (the log of a
	// running daemon): a last line without its newline is then a record
	// still being written, left out and reported as Writing rather than as
	// a failure. The head is read before the records, so it never names
	// one that is not there yet.
	Growing bool
}

// ReadAuditFile verifies the log at path as VerifyAuditFile does, handing
// each record that verifies to opts.Each: the one reader of the log, so
// what is shown of it is what was verified.
func ReadAuditFile(path string, opts AuditReadOptions) (AuditReport, error) {
	key := opts.Key
	rep := AuditReport{Path: path, HeadPath: AuditHeadPath(path), Head: HeadNone}
	v := auditVerifier{rep: &rep, unkeyed: newAuditSealer(nil), each: opts.Each, growing: opts.Growing}
	if key != nil {
		b, err := key.Bytes()
		if err != nil {
			return rep, fmt.Errorf("verifying audit log %s: %w", path, err)
		}
		v.keyed, v.created = newAuditSealer(b), key.Created
		rep.KeyChecked = true
	}
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("verifying audit log: %w", err)
	}
	defer f.Close()
	data, err := os.ReadFile(rep.HeadPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("verifying audit log %s: reading its head: %w", path, err)
	}
	head, err := parseHead(data)
	switch {
	case err == nil:
		v.head = &head
		rep.KeyID, rep.HeadSeq = head.KeyID, head.Seq
	case !errors.Is(err, errNoHead):
		return rep, &AuditVerifyError{Path: rep.HeadPath, Reason: err.Error()}
	}
	if err := v.records(f); err != nil {
		return rep, err
	}
	return rep, v.end()
}

// auditVerifier is one verification's state.
type auditVerifier struct {
	rep     *AuditReport
	unkeyed *auditSealer
	keyed   *auditSealer // nil without a key
	created time.Time    // the key's
	head    *auditHead   // nil without one
	each    func(AuditRecord) error
	growing bool

	lastSeq    uint64
	lastHash   string
	headHash   string // the hash field of the record the head names
	headFound  bool
	keyedSince uint64 // seq of the first keyed record; 0 before one
}

// records checks the lines of r one by one.
func (v *auditVerifier) records(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if v.head != nil && v.head.Seq == 0 {
		v.headFound = true // an empty log, anchored before its first record
	}
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if len(line) == 0 && rerr == io.EOF {
			return nil
		}
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("verifying audit log %s: %w", v.rep.Path, rerr)
		}
		fail := func(format string, args ...any) error {
			return &AuditVerifyError{Path: v.rep.Path, Line: lineNo, Reason: fmt.Sprintf(format, args...)}
		}
		if rerr == io.EOF {
			if v.growing {
				v.rep.Writing = true
				return nil
			}
			return fail("incomplete last record (no newline): a write was cut off or the file was truncated")
		}
		line = line[:len(line)-1]
		var rec struct {
			AuditRecord
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return fail("not a JSON record: %v", err)
		}
		body, alg, sum, ok := sealedLine(line)
		if !ok {
			return fail("record seq %d does not end with a hash field (%q or %q and %d hex digits): the record was edited",
				rec.Seq, algSHA256, algHMAC, hashHexLen)
		}
		keyed := alg == algHMAC
		switch {
		case !keyed && !v.unkeyed.check(body, sum):
			return fail("record seq %d does not match its hash: the record was edited", rec.Seq)
		case keyed && v.keyed != nil && !v.keyed.check(body, sum):
			return fail("record seq %d does not match its MAC: the record was edited, or sealed with another audit key than the keyring's", rec.Seq)
		}
		switch {
		case lineNo == 1 && rec.Seq != 1:
			return fail("the chain starts at seq %d, not 1: %s", rec.Seq, whereAreMissing(br, lineNo, 1, rec.Seq))
		case lineNo > 1 && rec.Seq <= v.lastSeq:
			return fail("seq %d follows seq %d: records were reordered or duplicated", rec.Seq, v.lastSeq)
		case lineNo > 1 && rec.Seq != v.lastSeq+1:
			return fail("seq %d follows seq %d: %s", rec.Seq, v.lastSeq, whereAreMissing(br, lineNo, v.lastSeq+1, rec.Seq))
		case rec.Prev != v.lastHash:
			return fail("record seq %d does not chain to the record before it (prev %q, want %q): "+
				"a record was replaced or re-hashed", rec.Seq, rec.Prev, v.lastHash)
		}
		if !keyed {
			if why := v.unkeyedAllowed(rec.Seq, rec.Time); why != "" {
				return fail("record seq %d is unkeyed (a plain SHA-256), but %s: the log was rewritten without the key", rec.Seq, why)
			}
			v.rep.Unkeyed++
		} else {
			if v.keyedSince == 0 {
				v.keyedSince = rec.Seq
			}
			v.rep.Keyed++
		}
		if v.head != nil && rec.Seq == v.head.Seq {
			v.headHash, v.headFound = rec.Hash, true
		}
		v.lastSeq, v.lastHash = rec.Seq, rec.Hash
		v.rep.Records++
		if v.each != nil {
			if err := v.each(rec.AuditRecord); err != nil {
				return err
			}
		}
	}
}

// unkeyedAllowed says why an unkeyed record cannot be at seq, or "".
func (v *auditVerifier) unkeyedAllowed(seq uint64, recTime string) string {
	if v.keyedSince != 0 {
		return fmt.Sprintf("keyed records come before it (from seq %d), and mediator never goes back to unkeyed ones", v.keyedSince)
	}
	if v.head != nil && seq > v.head.Seq {
		return fmt.Sprintf("it follows seq %d, which the head names, and only keyed records follow a head", v.head.Seq)
	}
	if v.keyed != nil {
		if t, err := time.Parse(time.RFC3339Nano, recTime); err != nil || !t.Before(v.created) {
			return fmt.Sprintf("it is dated %q, not before the audit key was made (%s), and since then mediator writes only keyed records",
				recTime, v.created.UTC().Format(time.RFC3339Nano))
		}
	}
	return ""
}

// end checks the log's end against its head.
func (v *auditVerifier) end() error {
	fail := func(path, format string, args ...any) error {
		return &AuditVerifyError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	h := v.head
	if h == nil {
		if v.rep.Keyed > 0 {
			return fail(v.rep.Path, "the head file %s is missing although the log holds keyed records (from seq %d): "+
				"it was deleted, which hides records cut off the end of the log", v.rep.HeadPath, v.keyedSince)
		}
		return nil
	}
	if v.keyed != nil {
		if why := v.keyed.checkHead(*h); why != "" {
			return fail(v.rep.HeadPath, "%s", why)
		}
	}
	switch {
	case h.Seq > v.lastSeq:
		from := v.lastSeq + 1
		if from == h.Seq {
			return fail(v.rep.Path, "the log ends at seq %d but its head names seq %d: record seq %d was cut off the end", v.lastSeq, h.Seq, from)
		}
		return fail(v.rep.Path, "the log ends at seq %d but its head names seq %d: records seq %d to %d were cut off the end", v.lastSeq, h.Seq, from, h.Seq)
	case !v.headFound || v.headHash != h.Hash:
		return fail(v.rep.Path, "record seq %d is not the one the head names (hash %q, the head says %q): the log was rewritten",
			h.Seq, v.headHash, h.Hash)
	case h.Seq < v.lastSeq:
		v.rep.Head = HeadBehind
	default:
		v.rep.Head = HeadMatched
	}
	return nil
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
