package credentials

import (
	"encoding/base64"
	"testing"
)

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
		learner := NewRedactor()
		for _, s := range spans {
			if s[0] < 0 || s[1] > len(text) || s[0] >= s[1] {
				t.Fatalf("Spans(%q): bad span %v", text, s)
			}
			learner.Add(NewSecret(text[s[0]:s[1]]))
		}
		if got, want := learner.Redact(text), r.Redact(text); got != want {
			t.Errorf("a redactor taught by the spans of %q masks it as %q, want %q", text, got, want)
		}
	}
	var nilR *Redactor
	if got := nilR.Spans(secret); got != nil {
		t.Errorf("a nil redactor found spans %v", got)
	}
}
