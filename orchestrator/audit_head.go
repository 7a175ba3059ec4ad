package orchestrator

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The head anchors a keyed log's end outside the log: a small file next to
// it (AuditHeadPath) naming the last record's seq and hash, with an HMAC
// under the audit key. Records cut off the end leave a log whose last
// record is not the one the head names, and only a holder of the key can
// write a head naming another; a head that exists says the log is keyed,
// so a log rewritten without the key fails against it.
//
// The writer updates the head after each batch, under the log's file lock.
// A process stopped between the two writes leaves the head behind the log;
// records after the one it names are still accepted when keyed, since only
// a holder of the key can make them. What the head cannot catch: the log
// and its head both put back to an earlier copy of the pair.
//
// The file has a fixed size, so one write at offset 0 replaces it.
type auditHead struct {
	Seq   uint64 `json:"seq"`
	Hash  string `json:"hash"` // the hash field of record Seq ("" for seq 0: an empty log)
	KeyID string `json:"key_id"`
	MAC   string `json:"mac"`
}

// headSize is the head file's size: the JSON object, spaces, a newline.
const headSize = 256

// AuditHeadPath is the head file of the audit log at path.
func AuditHeadPath(path string) string { return path + ".head" }

// headMAC authenticates a head's seq and hash.
func (s *auditSealer) headMAC(seq uint64, hash string) string {
	msg := make([]byte, 0, len(headLabel)+20+1+len(hash))
	msg = append(msg, headLabel...)
	msg = strconv.AppendUint(msg, seq, 10)
	msg = append(msg, '\n')
	msg = append(msg, hash...)
	return hex.EncodeToString(s.sum(msg))
}

// appendHead appends the head file's content naming record seq with hash
// field hash. s must be keyed.
func appendHead(b []byte, s *auditSealer, seq uint64, hash string) []byte {
	off := len(b)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, hash)
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, s.keyID)
	b = append(b, `,"mac":`...)
	b = appendJSONString(b, s.headMAC(seq, hash))
	b = append(b, '}')
	for len(b)-off < headSize-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// errNoHead means the head file is absent or empty.
var errNoHead = errors.New("no head")

// readHead reads a head from r: errNoHead when there is none, another
// error when what is there is not a head.
func readHead(r io.ReaderAt) (auditHead, error) {
	buf := make([]byte, 2*headSize)
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return auditHead{}, err
	}
	return parseHead(buf[:n])
}

func parseHead(data []byte) (auditHead, error) {
	if len(data) == 0 {
		return auditHead{}, errNoHead
	}
	var h auditHead
	if err := json.Unmarshal(bytes.TrimRight(data, " \n"), &h); err != nil || h.KeyID == "" || h.MAC == "" {
		return auditHead{}, errors.New("it is not a head mediator writes (a JSON object with seq, hash, key_id and mac)")
	}
	return h, nil
}

// checkHead says what is wrong with h under s's key, or "".
func (s *auditSealer) checkHead(h auditHead) string {
	if h.KeyID != s.keyID {
		return fmt.Sprintf("the head was written with another audit key (key id %s; the keyring's key has id %s): "+
			"the keyring's audit key was replaced, or the log and head come from another keyring", h.KeyID, s.keyID)
	}
	if !hmac.Equal([]byte(s.headMAC(h.Seq, h.Hash)), []byte(h.MAC)) {
		return "the head's MAC does not match: the head file was edited"
	}
	return ""
}
