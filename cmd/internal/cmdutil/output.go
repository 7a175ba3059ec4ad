package cmdutil

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/mediatorhq/mediator/credentials"
)

// WriteRedacted writes out in one piece after masking every secret value
// the process knows: a server that echoes a credential back must not get
// it onto the terminal through mediator.
func WriteRedacted(w io.Writer, red *credentials.Redactor, out []byte) error {
	if red != nil {
		out = red.RedactBytes(out)
	}
	_, err := w.Write(out)
	return err
}

// MarshalJSON renders v as indented JSON with a trailing newline, without
// escaping <, > and & (they are data here, not HTML).
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// OneLine returns the first line of s, cut to max runes with an ellipsis.
func OneLine(s string, max int) string {
	if i := bytes.IndexAny([]byte(s), "\r\n"); i >= 0 {
		s = s[:i]
	}
	r := []rune(s)
	if max > 0 && len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
