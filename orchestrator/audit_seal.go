package orchestrator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/mediatorhq/mediator/credentials"
)

// AuditKeyring keeps the key that authenticates the audit log.
// *credentials.Store satisfies it.
type AuditKeyring interface {
	// AuditKey returns the key. When there is none it makes and stores one
	// if create is set, and otherwise returns an error wrapping
	// credentials.ErrNotFound. The orchestrator holds a file lock around
	// create, so mediator processes starting together make one key.
	AuditKey(ctx context.Context, create bool) (credentials.AuditKey, error)
}

// A record's hash field names how it was sealed. Logs written before
// mediator had an audit key hold plain SHA-256 hashes, which anyone who can
// write the file can recompute after rewriting it; a keyed log holds
// HMAC-SHA256 values under the keyring's audit key, which only a holder of
// the key can compute.
const (
	algSHA256  = "sha256:"
	algHMAC    = "hmac-sha256:"
	hashHexLen = 2 * sha256.Size
)

// auditSealer computes hash fields: keyed (HMAC) when it has a key, else
// the unkeyed SHA-256 of old logs. It is not safe for concurrent use; the
// writer's drain and each verification own one.
type auditSealer struct {
	alg   string    // algSHA256 or algHMAC
	mac   hash.Hash // nil when unkeyed
	keyID string    // "" when unkeyed
	buf   [sha256.Size]byte
}

// MAC inputs other than records start with these, so no record (which
// starts with '{') can stand for them.
const (
	keyIDLabel = "mediator audit key id\n"
	headLabel  = "mediator audit head v1\n"
)

// newAuditSealer seals with an HMAC under key, or unkeyed when key is nil.
func newAuditSealer(key []byte) *auditSealer {
	if key == nil {
		return &auditSealer{alg: algSHA256}
	}
	s := &auditSealer{alg: algHMAC, mac: hmac.New(sha256.New, key)}
	s.keyID = hex.EncodeToString(s.sum([]byte(keyIDLabel))[:8])
	return s
}

// keyed reports whether s seals with a key.
func (s *auditSealer) keyed() bool { return s.mac != nil }

// sum is the hash or MAC of b, valid until the next call.
func (s *auditSealer) sum(b []byte) []byte {
	if s.mac == nil {
		s.buf = sha256.Sum256(b)
		return s.buf[:]
	}
	s.mac.Reset()
	s.mac.Write(b)
	return s.mac.Sum(s.buf[:0])
}

// check reports whether hexSum is b's MAC (or hash), in constant time.
func (s *auditSealer) check(b []byte, hexSum string) bool {
	want, err := hex.DecodeString(hexSum)
	return err == nil && hmac.Equal(s.sum(b), want)
}

// sealedLine splits a record line into the bytes its hash field seals (the
// line up to that field, closed with '}') and the field's algorithm and
// hex value. ok is false when the line does not end with a hash field.
func sealedLine(line []byte) (body []byte, alg, hexSum string, ok bool) {
	i := bytes.LastIndex(line, []byte(hashFieldOpen))
	if i < 1 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", "", false
	}
	field := string(line[i+len(hashFieldOpen) : len(line)-2])
	for _, a := range []string{algSHA256, algHMAC} {
		if len(field) == len(a)+hashHexLen && field[:len(a)] == a {
			body = make([]byte, 0, i+1)
			body = append(body, line[:i]...)
			return append(body, '}'), a, field[len(a):], true
		}
	}
	return nil, "", "", false
}
