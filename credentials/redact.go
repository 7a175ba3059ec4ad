package credentials

import "sync"

// Redactor masks every secret value it has been told about. The store feeds
// it each value it hands out, so the audit log and error paths can scrub
// values that a server echoed back or a user pasted into arguments.
type Redactor struct {
	mu     sync.RWMutex
	values map[string]struct{}
}

// NewRedactor returns an empty redactor.
func NewRedactor() *Redactor { return &Redactor{values: map[string]struct{}{}} }

// Add registers a secret value to be masked.
func (r *Redactor) Add(s Secret) {
	if s.IsZero() {
		return
	}
	r.mu.Lock()
	r.values[s.value] = struct{}{}
	r.mu.Unlock()
}

// Redact returns text with every known secret value (and its common
// encodings) replaced by "[REDACTED]".
func (r *Redactor) Redact(text string) string {
	// Implementation to follow: exact value, base64 and URL-encoded forms.
	return text
}
