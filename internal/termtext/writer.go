package termtext

import (
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Writer passes what is written through Sanitize on to an underlying
// writer: put in front of a terminal, it lets nothing written to it drive
// the terminal. It is safe for concurrent use. A rune split between two
// writes is held back until its end arrives, so it is not mistaken for
// bytes that are not UTF-8; an escape sequence split between writes loses
// only its ESC (its rest shows as text).
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte // the start of a rune that the last write cut off
}

// NewWriter returns a Writer in front of w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sanitizes p and writes the result. It reports len(p) written
// when the underlying write succeeds, as what it drops was consumed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(p)
	if len(w.partial) > 0 {
		s = string(w.partial) + s
		w.partial = w.partial[:0]
	}
	if cut := incompleteTail(s); cut < len(s) {
		w.partial = append(w.partial, s[cut:]...)
		s = s[:cut]
	}
	if clean(s) {
		if _, err := io.WriteString(w.w, s); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	sanitize(&b, s)
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// incompleteTail returns where an unfinished multi-byte rune at the end
// of s begins, or len(s).
func incompleteTail(s string) int {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax+1; i-- {
		c := s[i]
		if c < utf8.RuneSelf {
			return len(s)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRuneInString(s[i:]) {
				return i
			}
			return len(s)
		}
	}
	return len(s)
}
