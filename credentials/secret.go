// Package credentials keeps every server's secrets in the OS keyring, one
// item per (server, name), and hands them out as [Secret] values that refuse
// to print themselves.
package credentials

import (
	"fmt"
	"log/slog"
)

// redacted is what every formatting path of a Secret prints instead of the value.
const redacted = "[REDACTED]"

// Secret holds one credential value. Every way Go has to print, log or
// marshal a value yields "[REDACTED]"; the raw value is reachable only
// through [Secret.Reveal], which connectors call at the moment they put the
// credential on the wire.
type Secret struct {
	value string
}

// NewSecret wraps a raw value.
func NewSecret(value string) Secret { return Secret{value: value} }

// Reveal returns the raw value. Call it only where the credential is sent to
// its own server; never to log, print or store it elsewhere.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format covers %v, %+v, %#v, %s, %q, %x and every other verb.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
