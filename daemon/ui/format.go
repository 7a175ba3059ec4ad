package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when":     when,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"statusOf": statusClass,
}

// when is a time as the page shows it, in UTC; "" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// statusClass is the CSS class of a status: status-succeeded, ... Only
// letters and '-' pass, so a class never carries anything else.
func statusClass(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '-':
			b.WriteRune(r)
		case r == '_':
			b.WriteRune('-')
		}
	}
	return "status-" + b.String()
}

// duration is b-a, rounded for reading; "" when either is unknown.
func duration(a, b time.Time) string {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return ""
	}
	d := b.Sub(a)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// prettyJSON indents v for a <pre>; "" for nil.
func prettyJSON(v any) string {
	if v == nil {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// internal answers 500 for an unexpected error, logged redacted; the page
// says only that it failed.
func (u *UI) internal(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	u.log.Error("ui: request failed", "path", r.URL.Path, "error", u.redact(err.Error()))
	u.fail(w, r, s, http.StatusInternalServerError, "The daemon could not answer this page; its log says why.")
}
