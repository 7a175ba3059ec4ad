package credentials

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/99designs/keyring"
)

// AuditKey is the secret that authenticates mediator's audit log: every
// record carries an HMAC-SHA256 under it, and so does the log's head (see
// orchestrator). It is an item of the keyring of its own, outside every
// server's items: no (server, name) pair addresses it, so no server's view
// of the store can read it, `mediator secret list` does not show it and
// `mediator secret remove` cannot delete it.
type AuditKey struct {
	// Secret is 32 random bytes, hex-encoded.
	Secret Secret
	// Created is when the key was made. mediator writes only keyed records
	// from then on, so an unkeyed record dated later was not written by it.
	Created time.Time
}

// Bytes returns the raw key for the MAC. Like Secret.Reveal, call it only
// where the key is used.
func (k AuditKey) Bytes() ([]byte, error) {
	b, err := hex.DecodeString(k.Secret.Reveal())
	if err != nil || len(b) < auditKeyLen {
		return nil, errors.New("the audit key in the keyring is not 32 hex-encoded bytes")
	}
	return b, nil
}

const auditKeyLen = 32

// storedAuditKey is the item's value.
type storedAuditKey struct {
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
}

// auditKeyKey is the audit key's keyring key: "<service>/.audit-key". It
// has one separator where item keys have two, so parseItemKey rejects it
// and no escaped server or item name can produce it.
func (s *Store) auditKeyKey() string { return escapeKeyPart(s.service) + "/.audit-key" }

// AuditKey returns the keyring's audit key. When there is none it makes
// and stores one if create is set, and otherwise returns an error wrapping
// ErrNotFound. Callers that may race to create it (several mediator
// processes at their first audited call) hold a lock around create: the
// keyring has no "set unless present".
func (s *Store) AuditKey(ctx context.Context, create bool) (AuditKey, error) {
	if err := ctx.Err(); err != nil {
		return AuditKey{}, fmt.Errorf("reading the audit key: %w", err)
	}
	key := s.auditKeyKey()
	s.mu.Lock()
	if s.auditItem != nil {
		data := s.auditItem
		s.mu.Unlock()
		return s.decodeAuditKey(data)
	}
	item, err := s.ring.Get(key)
	s.mu.Unlock()
	switch {
	case err == nil:
		return s.decodeAuditKey(item.Data)
	case !errors.Is(err, keyring.ErrKeyNotFound):
		return AuditKey{}, fmt.Errorf("reading the audit key: %w", s.backendErr(err))
	case !create:
		return AuditKey{}, fmt.Errorf("%w: the %s keyring holds no audit key; mediator makes one at the first audited call", ErrNotFound, s.backend)
	}
	var raw [auditKeyLen]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	data, err := json.Marshal(storedAuditKey{Key: hex.EncodeToString(raw[:]), Created: time.Now().UTC()})
	if err != nil {
		return AuditKey{}, fmt.Errorf("encoding the audit key: %w", err)
	}
	k, err := s.decodeAuditKey(data)
	if err != nil {
		return AuditKey{}, err
	}
	s.mu.Lock()
	err = s.ring.Set(keyring.Item{
		Key:         key,
		Data:        data,
		Label:       s.service + ": audit log key",
		Description: "authenticates mediator's audit log; without it `mediator audit verify` cannot check the log",
	})
	s.mu.Unlock()
	if err != nil {
		return AuditKey{}, fmt.Errorf("storing the audit key: %w", s.backendErr(err))
	}
	return k, nil
}

// decodeAuditKey parses the item's value and teaches the redactor both the
// item and the key in it.
func (s *Store) decodeAuditKey(data []byte) (AuditKey, error) {
	var st storedAuditKey
	if err := json.Unmarshal(data, &st); err != nil || st.Created.IsZero() {
		return AuditKey{}, fmt.Errorf("the audit key item %q in the %s keyring is damaged: it is not the JSON mediator writes", s.auditKeyKey(), s.backend)
	}
	s.redactor.Add(NewSecret(string(data)))
	k := AuditKey{Secret: NewSecret(st.Key), Created: st.Created}
	if _, err := k.Bytes(); err != nil {
		return AuditKey{}, fmt.Errorf("the audit key item %q in the %s keyring is damaged: %w", s.auditKeyKey(), s.backend, err)
	}
	s.redactor.Add(k.Secret)
	return k, nil
}
