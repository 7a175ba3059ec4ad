package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MinRedactLen is the shortest value, in characters, a Redactor masks.
// Shorter values are ignored: masking "abc" or "42" everywhere would wreck
// ordinary output (every word or number containing them) while protecting
// nothing, since a secret that short can be guessed in moments anyway.
const MinRedactLen = 4

// minFragmentLen is the shortest base64 fragment (see base64Fragments)
// worth masking. Fragments match inside unrelated base64 data by chance,
// so they need more characters than a whole value before a false match in
// a large blob (an image, say) becomes negligible: 64^-8 per position.
const minFragmentLen = 8

// Redactor masks every secret value it has been told about. The store feeds
// it each value it hands out, so the audit log and error paths can scrub
// values that a server echoed back or a user pasted into arguments.
//
// The zero value and a nil *Redactor are ready to use; a nil one masks
// nothing. All methods are safe for concurrent use.
type Redactor struct {
	mu sync.RWMutex
	// st sits behind a pointer because fmt, asked for a bad verb such as %s
	// on a struct holding an unexported *Redactor, prints the Redactor's
	// fields one level deep: a map there would show every secret, a
	// pointer shows an address.
	st *redactorState
}

type redactorState struct {
	values map[string]struct{}
	// replacer masks every registered value in every encoding, and
	// patterns are those encodings, longest first; both nil after an Add
	// until the next use rebuilds them.
	replacer *strings.Replacer
	patterns []string
	// forms maps each pattern to the form (Span.Form) it holds a value in.
	forms map[string]string
}

// NewRedactor returns an empty redactor.
func NewRedactor() *Redactor { return &Redactor{} }

// Format prints how many values are registered, never the values, which
// fmt would otherwise print for %s on a *Redactor.
func (r *Redactor) Format(f fmt.State, verb rune) {
	n := 0
	if r != nil {
		r.mu.RLock()
		if r.st != nil {
			n = len(r.st.values)
		}
		r.mu.RUnlock()
	}
	fmt.Fprintf(f, "credentials.Redactor{%d values}", n)
}

// Add registers a secret value to be masked. Values shorter than
// MinRedactLen characters are ignored.
func (r *Redactor) Add(s Secret) {
	if r == nil || utf8.RuneCountInString(s.Reveal()) < MinRedactLen {
		return
	}
	v := s.Reveal()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		r.st = &redactorState{values: map[string]struct{}{}}
	}
	if _, ok := r.st.values[v]; ok {
		return
	}
	r.st.values[v] = struct{}{}
	r.st.replacer, r.st.patterns, r.st.forms = nil, nil, nil
}

// Redact returns text with every known secret value, and each of its common
// encodings, replaced by "[REDACTED]". The encodings are: standard and
// URL-safe base64 with and without padding (also when the value sits inside
// a longer base64 text at any byte offset), URL query and path escaping,
// the JSON string form (with and without HTML escaping), and hex in lower
// and upper case. A value hidden in any other transformation, such as
// "user:secret" base64-encoded as a whole, is only masked when the
// transformed text happens to contain one of these forms.
func (r *Redactor) Redact(text string) string {
	rep := r.currentReplacer()
	if rep == nil || text == "" {
		return text
	}
	return rep.Replace(text)
}

// RedactBytes is Redact for byte slices. It returns b itself when nothing
// was masked.
func (r *Redactor) RedactBytes(b []byte) []byte {
	rep := r.currentReplacer()
	if rep == nil || len(b) == 0 {
		return b
	}
	in := string(b)
	out := rep.Replace(in)
	if out == in {
		return b
	}
	return []byte(out)
}

// RedactValue returns a masked copy of a JSON-like value, for audit records
// that carry argument or result values. It walks maps, slices and strings
// (map keys included) and never modifies v. A number whose decimal form
// contains a secret becomes the string "[REDACTED]"; a Secret becomes
// "[REDACTED]". Values of other types (structs, typed maps) are first
// converted to their JSON form, so the result may differ in type from v but
// marshals to the same JSON, minus the secrets.
func (r *Redactor) RedactValue(v any) any { return r.walk(v) }

func (r *Redactor) walk(v any) any {
	switch x := v.(type) {
	case nil, bool:
		return x
	case string:
		return r.Redact(x)
	case Secret, *Secret:
		return redacted
	case json.Number:
		return r.number(x, string(x))
	case float64:
		return r.number(x, strconv.FormatFloat(x, 'f', -1, 64))
	case float32:
		return r.number(x, strconv.FormatFloat(float64(x), 'f', -1, 32))
	case int:
		return r.number(x, strconv.Itoa(x))
	case int64:
		return r.number(x, strconv.FormatInt(x, 10))
	case int32:
		return r.number(x, strconv.FormatInt(int64(x), 10))
	case uint64:
		return r.number(x, strconv.FormatUint(x, 10))
	case []byte:
		return bytes.Clone(r.RedactBytes(x))
	case json.RawMessage:
		return json.RawMessage(bytes.Clone(r.RedactBytes(x)))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.Redact(k)] = r.walk(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.walk(e)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[r.Redact(k)] = r.Redact(e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = r.Redact(e)
		}
		return out
	}
	// Any other type: go through its JSON form, which honours Secret's
	// MarshalJSON and custom marshalers, then walk the generic result.
	data, err := json.Marshal(v)
	if err != nil {
		return r.Redact(fmt.Sprintf("%v", v))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return r.Redact(string(data))
	}
	return r.walk(generic)
}

// number keeps a number unless its decimal form contains a secret.
func (r *Redactor) number(v any, decimal string) any {
	if r.Redact(decimal) != decimal {
		return redacted
	}
	return v
}

func (r *Redactor) currentReplacer() *strings.Replacer {
	rep, _, _ := r.current()
	return rep
}

// current returns the replacer, the patterns it masks and their forms,
// building them after an Add.
func (r *Redactor) current() (*strings.Replacer, []string, map[string]string) {
	if r == nil {
		return nil, nil, nil
	}
	r.mu.RLock()
	st := r.st
	var rep *strings.Replacer
	var pats []string
	var forms map[string]string
	if st != nil {
		rep, pats, forms = st.replacer, st.patterns, st.forms
	}
	r.mu.RUnlock()
	if rep != nil || st == nil {
		return rep, pats, forms
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.replacer == nil {
		r.st.patterns, r.st.forms = buildPatterns(r.st.values)
		args := make([]string, 0, 2*len(r.st.patterns))
		for _, p := range r.st.patterns {
			args = append(args, p, redacted)
		}
		r.st.replacer = strings.NewReplacer(args...)
	}
	return r.st.replacer, r.st.patterns, r.st.forms
}

// Span is a place in a text that holds a known secret: the bytes
// [Start, End) are a secret's value in Form, one of the forms Redact
// masks ("plain", "base64", "base64-raw", "base64url", "base64url-raw",
// "query", "path", "hex", "hex-upper", "json", "json-html", or
// "base64-fragment": part of a longer base64 text that holds the value).
// DecodeSpan turns a span's text back into the value.
type Span struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Form  string `json:"form"`
}

// Spans returns where text holds a known secret in any form Redact masks:
// every occurrence, overlapping ones included, sorted. It names places in
// text and never a value, so a holder of secrets can tell another party
// which parts of that party's own text are secret (the daemon tells the
// CLI, which has not opened the keyring).
func (r *Redactor) Spans(text string) []Span {
	rep, pats, forms := r.current()
	if rep == nil || rep.Replace(text) == text {
		// One pass finds that most texts hold none.
		return nil
	}
	var out []Span
	for _, p := range pats {
		for from := 0; from < len(text); {
			i := strings.Index(text[from:], p)
			if i < 0 {
				break
			}
			out = append(out, Span{Start: from + i, End: from + i + len(p), Form: forms[p]})
			from += i + 1
		}
	}
	slices.SortFunc(out, func(a, b Span) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End
	})
	return out
}

// DecodeSpan returns the value that text, a span's text, holds in form;
// ok is false for a form that holds only part of a value
// ("base64-fragment") and for text that does not decode.
func DecodeSpan(form, text string) (value string, ok bool) {
	var b []byte
	var err error
	switch form {
	case "plain":
		return text, true
	case "base64":
		b, err = base64.StdEncoding.DecodeString(text)
	case "base64-raw":
		b, err = base64.RawStdEncoding.DecodeString(text)
	case "base64url":
		b, err = base64.URLEncoding.DecodeString(text)
	case "base64url-raw":
		b, err = base64.RawURLEncoding.DecodeString(text)
	case "query":
		var v string
		v, err = url.QueryUnescape(text)
		b = []byte(v)
	case "path":
		var v string
		v, err = url.PathUnescape(text)
		b = []byte(v)
	case "hex", "hex-upper":
		b, err = hex.DecodeString(text)
	case "json", "json-html":
		var v string
		err = json.Unmarshal([]byte(`"`+text+`"`), &v)
		b = []byte(v)
	default:
		return "", false
	}
	if err != nil {
		return "", false
	}
	return string(b), true
}

// buildPatterns returns every form of values that Redact masks, longest
// first, and the form (Span.Form) each is.
func buildPatterns(values map[string]struct{}) ([]string, map[string]string) {
	forms := map[string]string{}
	var patterns []string
	add := func(p, form string, minLen int) {
		if utf8.RuneCountInString(p) < minLen {
			return
		}
		if _, ok := forms[p]; ok {
			return
		}
		forms[p] = form
		patterns = append(patterns, p)
	}
	for v := range values {
		for _, e := range encodings(v) {
			add(e.text, e.form, MinRedactLen)
		}
		for _, p := range base64Fragments(v) {
			add(p, "base64-fragment", minFragmentLen)
		}
	}
	// strings.Replacer tries patterns in argument order at each position, so
	// longer ones go first: a secret that is a prefix of another secret (or
	// an unpadded encoding that is a prefix of the padded one) must not
	// leave the rest of the longer match visible.
	slices.SortFunc(patterns, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return patterns, forms
}

// encoded is a value in one of its forms.
type encoded struct{ form, text string }

// encodings returns v and the whole-value forms it commonly takes on its
// way into logs, URLs and JSON documents, plain first.
func encodings(v string) []encoded {
	b := []byte(v)
	out := []encoded{
		{"plain", v},
		{"base64", base64.StdEncoding.EncodeToString(b)},
		{"base64-raw", base64.RawStdEncoding.EncodeToString(b)},
		{"base64url", base64.URLEncoding.EncodeToString(b)},
		{"base64url-raw", base64.RawURLEncoding.EncodeToString(b)},
		{"query", url.QueryEscape(v)},
		{"path", url.PathEscape(v)},
		{"hex", hex.EncodeToString(b)},
		{"hex-upper", strings.ToUpper(hex.EncodeToString(b))},
	}
	for _, escapeHTML := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escapeHTML)
		if err := enc.Encode(v); err == nil {
			s := strings.TrimSpace(buf.String())
			form := "json"
			if escapeHTML {
				form = "json-html"
			}
			out = append(out, encoded{form, strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)})
		}
	}
	return out
}

// base64Fragments returns, for each of the three byte offsets at which v can
// start inside a longer base64-encoded text, the run of base64 characters
// that depends on v's bytes alone. Whatever surrounds v in the encoded data,
// that run appears verbatim, so masking it hides v inside tokens, data URLs
// and Basic credentials encoded as a whole.
func base64Fragments(v string) []string {
	var out []string
	for shift := 0; shift < 3; shift++ {
		data := append(make([]byte, shift), v...)
		// Character j of the encoding holds bits [6j, 6j+6) of data: the
		// first ones mix in the shift bytes before v, the last one may mix
		// in whatever follows v.
		start := (8*shift + 5) / 6
		end := 8 * len(data) / 6
		if end-start < minFragmentLen {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(data)[start:end])
		}
	}
	return out
}
