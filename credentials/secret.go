// Package credentials keeps every server's secrets in the OS keyring, one
// item per (server, name), and hands them out as [Secret] values that refuse
// to print themselves.
//
// A note on importing this package: github.com/99designs/keyring connects to
// the D-Bus session bus from its init functions, in every program that links
// it. When DBUS_SESSION_BUS_ADDRESS is unset, the old godbus it uses runs
// dbus-launch, which can leave a stray dbus-daemon behind on machines that
// have dbus-x11 installed. Nothing in this package can run before those init
// functions; programs that must avoid the side effect start with
// DBUS_SESSION_BUS_ADDRESS=disabled: in their environment (the Secret Service
// and KWallet backends are then unavailable, as they would be anyway).
package credentials

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// redacted is what every formatting path of a Secret prints instead of the value.
const redacted = "[REDACTED]"

// Secret holds one credential value. Every way Go has to print, log or
// marshal a value yields "[REDACTED]"; the raw value is reachable only
// through [Secret.Reveal], which connectors call at the moment they put the
// credential on the wire.
//
// The value sits behind a *string so that fmt, which cannot call Format on
// an unexported struct field, prints an address rather than the value when a
// Secret is a private field of something being printed, whatever the verb.
// (fmt dereferences pointers to structs, slices and maps when it reports a
// bad verb such as %s on a pointer, but never a pointer to a string.)
// A consequence: == compares identity, not value; use [Secret.Equal].
type Secret struct {
	v *string
}

// NewSecret wraps a raw value.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{v: &value}
}

// Reveal returns the raw value. Call it only where the credential is sent to
// its own server; never to log, print or store it elsewhere.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// Equal reports whether both secrets hold the same value, in constant time
// so that comparing a presented credential leaks nothing through timing.
// Comparison libraries such as go-cmp call it instead of looking inside.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format covers %v, %+v, %#v, %s, %q, %x, %d and every other verb, so no
// formatting directive reaches the value through fmt's reflection.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON keeps the value out of JSON, also as a field or map value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText covers encoding/xml, JSON map keys and other text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue keeps the value out of every slog handler.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
