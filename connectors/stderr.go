package connectors

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/termtext"
)

// Bounds of what serverStderr keeps of a stdio server's stderr.
const (
	// stderrTailLines is how many of its last lines a failed connect shows.
	stderrTailLines = 8
	// stderrMaxLine is the longest line kept; a longer one is left out
	// whole (cutting it could cut a secret in two, and the half would
	// escape the redactor).
	stderrMaxLine = 16 << 10
	// stderrShownLine is how much of a line the error shows, cut after
	// redaction.
	stderrShownLine = 300
)

// serverStderr watches a stdio server's stderr on its way to
// Options.Stderr. It keeps the last lines, which the error of a server
// that fails to start shows, and the paths the server says it was
// refused, which name what the sandbox would have to grant.
type serverStderr struct {
	mu      sync.Mutex
	partial []byte // the line being written
	long    bool   // partial grew over stderrMaxLine and is left out
	lines   []string
	denied  []string
}

func (s *serverStderr) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.add(rest)
			break
		}
		s.add(rest[:i])
		s.endLine()
		rest = rest[i+1:]
	}
	return len(p), nil
}

// add appends b to the line being written, dropping the line once it is
// over the bound.
func (s *serverStderr) add(b []byte) {
	if s.long {
		return
	}
	if len(s.partial)+len(b) > stderrMaxLine {
		s.partial, s.long = s.partial[:0], true
		return
	}
	s.partial = append(s.partial, b...)
}

func (s *serverStderr) endLine() {
	line := string(bytes.TrimRight(s.partial, "\r"))
	if s.long {
		line = "[a line over 16 KiB, left out]"
	} else {
		s.scanDenied(line)
	}
	s.partial, s.long = s.partial[:0], false
	if strings.TrimSpace(line) == "" {
		return
	}
	if len(s.lines) == stderrTailLines {
		s.lines = slices.Delete(s.lines, 0, 1)
	}
	s.lines = append(s.lines, line)
}

// tail returns the last lines the server wrote, the unfinished one too,
// each with red's secrets masked and what could drive a terminal removed,
// then cut to stderrShownLine; nil when it wrote nothing.
func (s *serverStderr) tail(red *credentials.Redactor) []string {
	s.mu.Lock()
	lines := slices.Clone(s.lines)
	if len(s.partial) > 0 && !s.long {
		lines = append(lines, string(s.partial))
	}
	s.mu.Unlock()
	if len(lines) > stderrTailLines {
		lines = lines[len(lines)-stderrTailLines:]
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if red != nil {
			l = red.Redact(l)
		}
		l = strings.ReplaceAll(termtext.Sanitize(l), "\n", " ")
		if r := []rune(l); len(r) > stderrShownLine {
			l = string(r[:stderrShownLine]) + "…"
		}
		out = append(out, l)
	}
	return out
}

// tailText is tail as the part of an error message that follows it: the
// lines indented under a heading, or "" when there are none.
func (s *serverStderr) tailText(red *credentials.Redactor) string {
	if s == nil {
		return ""
	}
	lines := s.tail(red)
	if len(lines) == 0 {
		return ""
	}
	return "\nthe last lines of its stderr:\n  " + strings.Join(lines, "\n  ")
}

// deniedPattern matches how node, Python, Go and C programs report a
// refused path: "EACCES: permission denied, open '/x'", "[Errno 13]
// Permission denied: '/x'", "open /x: permission denied", "/x: Permission
// denied", and EPERM's "operation not permitted". Compiled at the first
// line a server logs, not at every mediator start.
var deniedPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(?:(?:EACCES|EPERM|permission denied|operation not permitted)[^'"/]*['"]?(/[^'"\s,)]+))|(?:(/[^'"\s:,)]+)['"]?:\s*(?:permission denied|operation not permitted))`)
})

func (s *serverStderr) scanDenied(line string) {
	for _, m := range deniedPattern().FindAllStringSubmatch(line, -1) {
		p := m[1]
		if p == "" {
			p = m[2]
		}
		if !slices.Contains(s.denied, p) && len(s.denied) < 8 {
			s.denied = append(s.denied, p)
		}
	}
}

// deniedHint is the sentence a failed connect of a sandboxed server gets,
// or "" when its stderr named no refused path.
func (s *serverStderr) deniedHint(server string) string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.denied) == 0 {
		return ""
	}
	return fmt.Sprintf("the sandbox denied %s; allow it with servers.%s.sandbox.read or sandbox.write, or run the server with sandbox: off",
		strings.Join(s.denied, ", "), server)
}
