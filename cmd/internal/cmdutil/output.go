package cmdutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/iostreams"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/termtext"
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
// escaping <, > and & (they are data here, not HTML), but with every
// character that could drive a terminal escaped (termtext.EscapeJSON):
// the JSON decodes to exactly v and passes IOStreams' sanitizing writers
// unchanged.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return termtext.EscapeJSON(buf.Bytes()), nil
}

// OneLine returns the first line of s, cut to max runes with an ellipsis,
// without what could drive a terminal (termtext.Sanitize): listings show
// servers' descriptions this way, and an escape sequence cut in two would
// leave half of itself behind as text.
func OneLine(s string, max int) string {
	s = termtext.Sanitize(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	r := []rune(s)
	if max > 0 && len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// Confirm asks question on stderr and reads the answer from stdin: only
// y or yes is yes. Callers ask only where someone can answer (a terminal).
func Confirm(ios *iostreams.IOStreams, question string) (bool, error) {
	fmt.Fprint(ios.ErrOut, question)
	line, err := bufio.NewReader(ios.In).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
