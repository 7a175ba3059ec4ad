package config

import (
	"math"
	"net/url"
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

// aboutParts end a name that describes a credential rather than holding
// one: PASSWORD_FILE, TOKEN_URL, API_KEY_HEADER, SECRET_NAME.
var aboutParts = map[string]bool{
	"file": true, "path": true, "dir": true, "url": true, "uri": true, "endpoint": true, "host": true, "port": true,
	"name": true, "type": true, "header": true, "id": true, "env": true, "arn": true, "domain": true, "scope": true,
	"scopes": true, "mode": true, "format": true, "version": true, "prefix": true, "location": true, "provider": true,
}

// settingParts anywhere in a name make it a setting about credentials
// (MAX_TOKENS, TOKEN_LIMIT, PASSWORD_MIN_LENGTH, TOKEN_TTL_SECONDS), or
// the public half of a pair (PUBLIC_KEY, NEXT_PUBLIC_API_KEY).
var settingParts = map[string]bool{
	"max": true, "min": true, "limit": true, "count": true, "num": true, "size": true, "length": true, "ttl": true,
	"timeout": true, "expiry": true, "expires": true, "seconds": true, "minutes": true, "hours": true, "days": true,
	"public": true, "publishable": true,
}

// SecretLikeName reports whether a header or environment variable name
// conventionally holds a credential (Authorization, X-API-Key, GITHUB_TOKEN,
// DB_PASSWORD), as opposed to a setting about one (PASSWORD_FILE,
// TOKEN_URL, MAX_TOKENS) or a public key. A value can still be a
// credential under any name (SecretLikeValue).
func SecretLikeName(name string) bool {
	parts := nameParts(name)
	if len(parts) == 0 || aboutParts[parts[len(parts)-1]] {
		return false
	}
	for _, part := range parts {
		if settingParts[part] {
			return false
		}
	}
	lower := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	for _, part := range parts {
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
// credential: the value is one whatever its name (SecretLikeValue), or the
// name says it holds one and the value is not obviously something else (a
// path, a flag word, a URL without a password). Under such a name the
// length does not matter: PASSWORD=p4ss is a password.
func LooksLikeSecret(name, value string) bool {
	v := strings.TrimSpace(value)
	if v == "" || IsReference(v) {
		return false
	}
	if SecretLikeValue(v) {
		return true
	}
	return SecretLikeName(name) && !harmlessValue(v)
}

// SecretArg reports whether a command-line argument carries a literal
// credential: --token=VALUE, a flag named for a credential followed by
// its value in next (inNext), NAME=VALUE as env(1) and docker -e take it,
// or a value that is a credential on its own.
func SecretArg(arg, next string) (secret, inNext bool) {
	if flag, ok := strings.CutPrefix(arg, "-"); ok {
		flag, val, hasVal := strings.Cut(strings.TrimLeft(flag, "-"), "=")
		if hasVal {
			return LooksLikeSecret(flag, val), false
		}
		if SecretLikeName(flag) && !strings.HasPrefix(next, "-") && LooksLikeSecret(flag, next) {
			return true, true
		}
		return false, false
	}
	if name, val, ok := strings.Cut(arg, "="); ok && validEnvName(name) && LooksLikeSecret(name, val) {
		return true, false
	}
	return LooksLikeSecret("", arg), false
}

// harmlessValue: settings that credential names sometimes hold
// (GOOGLE_APPLICATION_CREDENTIALS=/path/key.json, USE_TOKEN=true), and
// URLs that carry no password.
func harmlessValue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off", "none", "null":
		return true
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "~") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") ||
		(len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/')) {
		return true
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" && u.User == nil {
		for k, vs := range u.Query() {
			for _, qv := range vs {
				if LooksLikeSecret(k, qv) {
					return false
				}
			}
		}
		return true
	}
	return false
}

// urlScheme finds the scheme://  of each URL in a value.
var urlScheme = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)

// URLPassword reports whether value holds a URL with a password in it
// (postgres://user:pw@host/db, redis://:pw@host). A password that only
// refers to the environment (${DB_PASSWORD}) is not a literal one. The
// authority ends at the first /, ? or blank, so https://host/@user is a
// path, not a user.
func URLPassword(value string) bool {
	for _, loc := range urlScheme.FindAllStringIndex(value, -1) {
		rest := value[loc[1]:]
		if i := strings.IndexAny(rest, "/? \t\n"); i >= 0 {
			rest = rest[:i]
		}
		at := strings.LastIndexByte(rest, '@')
		if at < 0 {
			continue
		}
		_, pw, ok := strings.Cut(rest[:at], ":")
		if ok && pw != "" && !IsReference(pw) {
			return true
		}
	}
	return false
}

var tokenPrefixes = []string{"sk-", "sk_", "pk_live_", "rk_live_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "AKIA", "ASIA", "AIza", "eyJ", "ya29.", "npm_", "hf_", "pypi-"}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// SecretLikeValue reports a value that is a credential whatever its name:
// a URL with a password, a well-known token prefix, or a long
// random-looking string. Hex digests and UUIDs are left alone: they are
// usually identifiers.
func SecretLikeValue(v string) bool {
	if URLPassword(v) {
		return true
	}
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
