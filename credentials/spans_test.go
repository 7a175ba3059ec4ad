package credentials

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
)

// teach returns a redactor that knows what the spans of text name: each
// span's text and the value it decodes to, as the CLI learns from the
// daemon.
func teach(text string, spans []Span) *Redactor {
	learner := NewRedactor()
	for _, s := range spans {
		learner.Add(NewSecret(text[s.Start:s.End]))
		if v, ok := DecodeSpan(s.Form, text[s.Start:s.End]); ok {
			learner.Add(NewSecret(v))
		}
	}
	return learner
}

// A redactor that learns the text of every span Redactor.Spans finds masks
// that text exactly as the redactor that knows the secrets does: what the
// daemon tells the CLI is enough to mask the CLI's own text, and holds no
// value.
func TestSpansTeachAnotherRedactor(t *testing.T) {
	const secret = "canary-span-Zk3Wq8Lp"
	other := "other-secret-Vb5Nm1"
	r := NewRedactor()
	r.Add(NewSecret(secret))
	r.Add(NewSecret(other))
	texts := []string{
		"",
		"nothing here",
		secret,
		"token=" + secret + "&x=" + secret,
		"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)),
		`{"a":"` + secret + `","b":"` + base64.RawURLEncoding.EncodeToString([]byte(secret)) + `"}`,
		secret + secret,
	}
	for _, text := range texts {
		spans := r.Spans(text)
		if (len(spans) == 0) != (r.Redact(text) == text) {
			t.Errorf("Spans(%q) = %v, but Redact gives %q", text, spans, r.Redact(text))
		}
		for _, s := range spans {
			if s.Start < 0 || s.End > len(text) || s.Start >= s.End || s.Form == "" {
				t.Fatalf("Spans(%q): bad span %+v", text, s)
			}
		}
		if got, want := teach(text, spans).Redact(text), r.Redact(text); got != want {
			t.Errorf("a redactor taught by the spans of %q masks it as %q, want %q", text, got, want)
		}
	}
	var nilR *Redactor
	if got := nilR.Spans(secret); got != nil {
		t.Errorf("a nil redactor found spans %v", got)
	}
}

// A span of a whole-value encoding decodes to the value, so a learner
// taught by an encoded secret masks the secret itself too (a flow that
// decodes a base64 input prints it masked); a fragment does not decode.
func TestSpansDecodeToTheValue(t *testing.T) {
	const secret = "canary<span>&Zk3Wq8Lp"
	r := NewRedactor()
	r.Add(NewSecret(secret))
	for _, enc := range []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
		hex.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
		`canary\u003cspan\u003e\u0026Zk3Wq8Lp`,
	} {
		spans := r.Spans(enc)
		if len(spans) == 0 {
			t.Errorf("no span in %q", enc)
			continue
		}
		if got := teach(enc, spans).Redact("value: " + secret); got != "value: [REDACTED]" {
			t.Errorf("taught by %q (spans %+v), a learner masks the value as %q", enc, spans, got)
		}
	}
	if _, ok := DecodeSpan("base64-fragment", "Y2FuYXJ5"); ok {
		t.Error("a fragment decoded")
	}
	if _, ok := DecodeSpan("hex", "zz"); ok {
		t.Error("bad hex decoded")
	}
}
