// Package termtext makes text safe to show on a terminal. Servers supply
// much of what mediator prints (tool results, tool descriptions, their
// stderr, error messages that quote them), and a terminal obeys what it is
// sent: an escape sequence can set the clipboard (OSC 52), erase lines,
// move the cursor, retitle the window or hide a link, and a carriage
// return lets a later text overwrite an earlier one on the same line, so
// a server could forge what mediator appears to say.
//
// Sanitize removes all of that and keeps the text: tab and newline stay,
// everything else in C0 goes, as do DEL and C1 (U+0080–U+009F, which some
// terminals obey as 8-bit controls). Escape sequences that are complete
// go whole (a server's coloured log stays readable); a lone or cut-off
// ESC goes alone, leaving the rest as plain text. The bidirectional
// embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069)
// go too: they reorder how a line is displayed, so a tool's description
// could read differently from what it is ("trojan source"), and
// mediator's users review descriptions to decide what to trust. The
// left-to-right and right-to-left marks (U+200E, U+200F, U+061C), which
// right-to-left text needs and which cannot reorder a line, stay. Bytes
// that are not UTF-8 become U+FFFD, since a terminal in a legacy 8-bit
// mode reads a lone 0x9B as CSI.
package termtext

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

const esc = 0x1b

// Sanitize returns s without what could drive a terminal (see the package
// comment).
func Sanitize(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	sanitize(&b, s)
	return b.String()
}

// clean reports whether s is printable ASCII, tabs and newlines only: the
// common case, returned as it is.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n') || c >= 0x7f {
			return false
		}
	}
	return true
}

// sanitize writes the safe part of s to b.
func sanitize(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\t' || c == '\n' || (c >= 0x20 && c < 0x7f):
			b.WriteByte(c)
			i++
		case c == esc:
			i += escapeLen(s[i:])
		case c < 0x80: // other C0 controls, DEL
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n <= 1:
				b.WriteRune(utf8.RuneError)
			case dropped(r):
			default:
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
}

// dropped reports the non-ASCII runes Sanitize removes.
func dropped(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// escapeLen returns how many bytes at the start of s (which starts with
// ESC) to drop: a whole escape sequence when it is complete on this line,
// else the ESC alone.
func escapeLen(s string) int {
	if len(s) < 2 {
		return 1
	}
	switch c := s[1]; {
	case c == '[': // CSI: parameters, intermediates, a final byte
		i := 2
		for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
			i++
		}
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			return i + 1
		}
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
		for i := 2; i < len(s) && s[i] != '\n'; i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == esc && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
	case c >= 0x20 && c <= 0x2f: // nF: intermediates, then a final byte
		i := 2
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			return i + 1
		}
	case c >= 0x30 && c <= 0x7e: // a two-byte sequence, ESC c (reset) among them
		return 2
	}
	return 1
}

// EscapeJSON returns JSON text with every rune Sanitize would drop written
// as a \u escape, so it shows safely on a terminal and still decodes to
// the same value. encoding/json escapes C0 controls and invalid UTF-8
// already; DEL, C1 and the bidirectional controls it writes as they are,
// and outside strings JSON has none of them, so each one found is inside
// a string.
func EscapeJSON(data []byte) []byte {
	if !needsEscape(data) {
		return data
	}
	out := make([]byte, 0, len(data)+32)
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == 0x7f || dropped(r) {
			out = append(out, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		} else {
			out = append(out, data[i:i+n]...)
		}
		i += n
	}
	return out
}

const hex = "0123456789abcdef"

func needsEscape(data []byte) bool {
	if bytes.IndexByte(data, 0x7f) >= 0 {
		return true
	}
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if dropped(r) {
			return true
		}
		i += n
	}
	return false
}
