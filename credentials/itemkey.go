package credentials

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxKeyFileName is the longest file name most file systems accept. The
// file backend names each file after the item key (with '%' and '/'
// percent-encoded once more), so every key must fit it, whatever backend
// is in use today: secrets should survive a move between backends.
const maxKeyFileName = 255

// ValidateName checks a server name or an item name. Any printable text is valid:
// non-empty, valid UTF-8, without control characters (newlines, tabs, NUL,
// escape sequences). what names the argument in the error, e.g. "server".
func ValidateName(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty: give a non-empty %s (any printable text without control characters)", what, what)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s %q is not valid UTF-8: use printable text without control characters", what, v)
	}
	for i, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %q has the control character %U at byte %d: use printable text without control characters", what, v, r, i)
		}
	}
	return nil
}

// itemKey is the keyring key of one item: "<service>/<server>/<name>", each
// part escaped by escapeKeyPart. The service prefix keeps mediator's items
// apart in stores shared with other programs (the Secret Service "login"
// collection lists every application's items), and the escaping makes the
// key safe and collision-free in every backend:
//   - '/' inside a part cannot fake the separator, so a server cannot reach
//     another server's items through a crafted name;
//   - no part can be "." or "..", start with '-' (an option to pass), or
//     end in '.' (dropped by Windows file names);
//   - upper-case letters and non-ASCII are escaped, so case-insensitive
//     stores (Windows Credential Manager, macOS and Windows file systems)
//     never fold two different names into one item.
func itemKey(service, server, name string) (string, error) {
	if err := ValidateName("server", server); err != nil {
		return "", err
	}
	if err := ValidateName("name", name); err != nil {
		return "", err
	}
	key := escapeKeyPart(service) + "/" + escapeKeyPart(server) + "/" + escapeKeyPart(name)
	if n := keyFileNameLen(key); n > maxKeyFileName {
		return "", fmt.Errorf("server %q and name %q are too long together: their stored key takes %d bytes, at most %d fit (a-z, 0-9, '-', '_' and '.' take one byte each, every other byte of the UTF-8 text takes five)", server, name, n, maxKeyFileName)
	}
	return key, nil
}

// parseItemKey is the inverse of itemKey. It reports false for keys this
// service did not write, such as the canary or other programs' items.
func parseItemKey(service, key string) (server, name string, ok bool) {
	prefix := escapeKeyPart(service) + "/"
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	s, n, found := strings.Cut(rest, "/")
	if !found {
		return "", "", false
	}
	server, ok1 := unescapeKeyPart(s)
	name, ok2 := unescapeKeyPart(n)
	if !ok1 || !ok2 || ValidateName("server", server) != nil || ValidateName("name", name) != nil {
		return "", "", false
	}
	return server, name, true
}

func literalKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// escapeKeyPart keeps a-z, 0-9, '-', '_' and inner '.' and writes every
// other byte as %XX with upper-case hex. Literals are all lower case and
// hex digits all upper case, so two different escaped parts never differ
// only in letter case.
func escapeKeyPart(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		edgeDot := c == '.' && (i == 0 || i == len(s)-1)
		if literalKeyByte(c) && !edgeDot && !(c == '-' && i == 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// unescapeKeyPart accepts only the canonical form escapeKeyPart writes.
func unescapeKeyPart(s string) (string, bool) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhexUpper(s[i+1])
		lo, ok2 := unhexUpper(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	out := string(b)
	if escapeKeyPart(out) != s {
		return "", false
	}
	return out, true
}

func unhexUpper(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// keyFileNameLen is the length of the file the file backend writes for key:
// it percent-encodes '%' and '/' (three bytes each).
func keyFileNameLen(key string) int {
	return len(key) + 2*strings.Count(key, "%") + 2*strings.Count(key, "/")
}
