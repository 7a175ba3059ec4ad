package config

import (
	"math"
	"regexp"
	"strings"
	"unicode"
)

// The heuristics below decide when a literal in a config or an imported
// mcpServers file is a credential. They serve two callers with one rule:
// validation rejects such literals, import moves them into the keyring, so
// what import leaves in the config always validates.

// secretWords appear anywhere in a name that carries a credential.
var secretWords = []string{"token", "secret", "password", "passwd", "apikey", "api_key", "api-key", "credential", "authorization", "cookie"}

// secretParts are whole name components (split at _ - . and case changes)
// that mark a credential; as substrings they would match "keyboard".
var secretParts = map[string]bool{"key": true, "pat": true, "pwd": true, "bearer": true}

// SecretLikeName reports whether a header or environment variable name
// conventionally carries a credential (Authorization, X-API-Key, GITHUB_TOKEN).
func SecretLikeName(name string) bool {
	lower := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	for _, part := range nameParts(name) {
		if secretParts[part] {
			return true
		}
	}
	return false
}

func nameParts(name string) []string {
	var parts []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			continue
		case unicode.IsUpper(r) && i > 0 && unicode.IsLower(rs[i-1]):
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	return parts
}

// IsReference reports whether a value only refers to the environment
// (${VAR}, ${VAR:-default}) instead of holding a literal.
func IsReference(value string) bool {
	v := strings.TrimSpace(value)
	return v != "" && refPattern.ReplaceAllString(v, "") == ""
}

var refPattern = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`)

// LooksLikeSecret reports whether value, found under name, is a literal
// credential: either the name says so and the value is not obviously
// something else (a path, a number, a flag word), or the value looks like
// a token on its own.
func LooksLikeSecret(name, value string) bool {
	v := strings.TrimSpace(value)
	if v == "" || IsReference(v) {
		return false
	}
	if SecretLikeValue(v) {
		return true
	}
	if !SecretLikeName(name) || len(v) < 8 {
		return false
	}
	return !harmlessValue(v)
}

// harmlessValue: settings that secret-sounding names often hold
// (GOOGLE_APPLICATION_CREDENTIALS=/path/key.json, TOKEN_LIMIT=4096).
func harmlessValue(v string) bool {
	lower := strings.ToLower(v)
	switch lower {
	case "true", "false", "yes", "no", "on", "off", "none", "null":
		return true
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "~") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") ||
		(len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/')) {
		return true
	}
	if allIn(v, "0123456789.") {
		return true
	}
	if (strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")) && !strings.Contains(v, "@") && !strings.Contains(v, "?") {
		return true
	}
	return false
}

var tokenPrefixes = []string{"sk-", "sk_", "pk_live_", "rk_live_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "AKIA", "ASIA", "AIza", "eyJ", "ya29.", "npm_", "hf_", "pypi-"}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// SecretLikeValue reports a value that is a credential whatever its name:
// a well-known token prefix, or a long random-looking string. Hex digests
// and UUIDs are left alone: they are usually identifiers.
func SecretLikeValue(v string) bool {
	if strings.ContainsAny(v, " \t\n/") {
		return false
	}
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(v, p) && len(v) >= len(p)+12 {
			return true
		}
	}
	if len(v) < 24 || uuidPattern.MatchString(v) || allIn(strings.ToLower(v), "0123456789abcdef") {
		return false
	}
	var upper, lower, digit bool
	for _, r := range v {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	return upper && lower && digit && entropy(v) >= 4.0
}

func entropy(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

func allIn(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}
