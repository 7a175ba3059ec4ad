package termtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", "hello, world\n\tindented", "hello, world\n\tindented"},
		{"unicode", "Zürich ☀ 東京 👩‍💻", "Zürich ☀ 東京 👩‍💻"},
		{"right-to-left with marks", "שלום\u200f עולם\u200e", "שלום\u200f עולם\u200e"},
		{"OSC 52 clipboard, BEL", "a\x1b]52;c;ZWNobyBwd25lZA==\x07b", "ab"},
		{"OSC 52 clipboard, ST", "a\x1b]52;c;ZWNobyBwd25lZA==\x1b\\b", "ab"},
		{"OSC 8 hyperlink", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"title", "\x1b]0;pwned\x07ok", "ok"},
		{"erase line", "real\x1b[2K\x1b[1Gforged", "realforged"},
		{"colour", "\x1b[1;31merror\x1b[0m: x", "error: x"},
		{"cursor up", "x\x1b[3Ay", "xy"},
		{"private mode", "\x1b[?1049hscreen", "screen"},
		{"reset", "\x1bcafter", "after"},
		{"charset", "\x1b(0lqk\x1b(B", "lqk"},
		{"DCS", "\x1bPq#0;2;0;0;0\x1b\\x", "x"},
		{"cut-off CSI", "a\x1b[12", "a[12"},
		{"unterminated OSC", "a\x1b]52;c;abc\nnext", "a]52;c;abc\nnext"},
		{"lone ESC", "a\x1bb", "a"},
		{"ESC at end", "a\x1b", "a"},
		{"carriage return", "ok\rforged line", "okforged line"},
		{"CRLF", "one\r\ntwo\r\n", "one\ntwo\n"},
		{"backspace, bell, NUL", "a\bb\x07c\x00d", "abcd"},
		{"vertical tab, form feed", "a\vb\fc", "abc"},
		{"DEL", "a\x7fb", "ab"},
		{"C1 CSI", "a\u009b2Kb", "a2Kb"},
		{"C1 OSC and ST", "\u009d52;c;x\u009cy", "52;c;xy"},
		{"NEL", "a\u0085b", "ab"},
		{"bidi override", "access\u202e\u2066 // admin\u2069\u2066", "access // admin"},
		{"bidi embeddings", "\u202aa\u202bb\u202cc\u202dd", "abcd"},
		{"raw 8-bit CSI", "a\x9b2Kb", "a\ufffd2Kb"},
		{"invalid UTF-8", "a\xff\xfeb", "a\ufffd\ufffdb"},
		{"cut-off rune", "a\xe2\x98", "a\ufffd\ufffd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Sanitize(c.in); got != c.want {
				t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
			}
			var buf bytes.Buffer
			if _, err := NewWriter(&buf).Write([]byte(c.in)); err != nil {
				t.Fatal(err)
			}
			// The Writer holds back a cut-off rune; the rest matches.
			if got := buf.String(); got != c.want && !(strings.HasSuffix(c.in, "\xe2\x98") && got == "a") {
				t.Errorf("Writer wrote %q, want %q", got, c.want)
			}
		})
	}
}

// A rune split between writes arrives whole; nothing a hostile writer
// splits across writes gets through.
func TestWriterAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	in := "☀ a\u009bb \u202ec\x1b[2Kd\r\n"
	for i := 0; i < len(in); i++ {
		if n, err := w.Write([]byte{in[i]}); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := buf.String(), "☀ ab c[2Kd\n"; got != want {
		t.Errorf("byte by byte: %q, want %q", got, want)
	}
	for _, bad := range []string{"\x1b", "\r", "\u009b", "\u202e"} {
		if strings.Contains(buf.String(), bad) {
			t.Errorf("%q got through", bad)
		}
	}
}

// JSON keeps its value exactly: what Sanitize would drop is escaped.
func TestEscapeJSON(t *testing.T) {
	value := map[string]string{"text": "a\x1b]52;c;x\x07 b\u009b2K\x7f \u202eevil\u2066 Zürich\r\n"}
	raw, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	out := EscapeJSON(raw)
	if Sanitize(string(out)) != string(out) {
		t.Errorf("escaped JSON is not terminal-safe: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back["text"] != value["text"] {
		t.Errorf("round trip: %q, want %q", back["text"], value["text"])
	}
	plain := []byte(`{"a": "Zürich"}`)
	if got := EscapeJSON(plain); &got[0] != &plain[0] {
		t.Errorf("clean JSON was copied")
	}
}
