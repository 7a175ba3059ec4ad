package cmdutil

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/mediatorhq/mediator/credentials"
)

const (
	// maxLogLine bounds what a server log keeps of a line that has no end
	// yet; longer lines are passed on in pieces.
	maxLogLine = 64 << 10
	// logLineKeep is how much of an over-long line stays behind when a
	// piece is passed on, so a secret that is still arriving is masked
	// whole in the next piece rather than shown in part in this one. It
	// covers secrets up to this length.
	logLineKeep = 4 << 10
)

// ServerLog carries a stdio server's stderr to mediator's own. A server may
// log its environment, and with it the credential mediator gave it through
// secret_env, so every line goes through the redactor before it is
// written; masking needs whole lines, since a value split over two writes
// would match in neither. Each line is prefixed with the server's name.
//
// Several ServerLogs and a logger may share one destination: they
// serialise their writes on mu.
type ServerLog struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix []byte
	red    *credentials.Redactor

	buf []byte // the current line so far, unmasked
	err error  // the first write error; later lines are dropped
}

// NewServerLog returns a ServerLog writing to w under mu, each line
// prefixed with "[name] ".
func NewServerLog(mu *sync.Mutex, w io.Writer, name string, red *credentials.Redactor) *ServerLog {
	return &ServerLog{mu: mu, w: w, prefix: []byte("[" + name + "] "), red: red}
}

// Write buffers p and writes every line it completes. It never fails: an
// error of the destination must not break the server's stderr pipe.
func (l *ServerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		if i := bytes.IndexByte(l.buf, '\n'); i >= 0 {
			l.emit(bytes.TrimSuffix(l.buf[:i], []byte("\r")), false)
			l.buf = l.buf[i+1:]
			continue
		}
		if len(l.buf) <= maxLogLine {
			break
		}
		cut := l.safeCut(len(l.buf) - logLineKeep)
		l.emit(l.buf[:cut], true)
		l.buf = l.buf[cut:]
	}
	// Reuse the array once it has been consumed, so a long-lived server
	// does not grow it forever.
	if len(l.buf) == 0 {
		l.buf = l.buf[:0:0]
	}
	return len(p), nil
}

// Close writes what is left of a last line without a newline.
func (l *ServerLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf, false)
		l.buf = nil
	}
	return l.err
}

// safeCut returns where to split an over-long line at or before at: a rune
// boundary where no known secret straddles the split. A secret straddling
// it would be masked in the whole text but not in the part before it.
func (l *ServerLog) safeCut(at int) int {
	whole := l.red.RedactBytes(l.buf)
	for cut := at; cut > at/2; cut -= 64 {
		for cut > 0 && !utf8.RuneStart(l.buf[cut]) {
			cut--
		}
		if bytes.HasPrefix(whole, l.red.RedactBytes(l.buf[:cut])) {
			return cut
		}
	}
	// Nothing safe in reach (a line of back-to-back secrets): pass on the
	// whole line, masked.
	return len(l.buf)
}

func (l *ServerLog) emit(line []byte, continued bool) {
	if l.err != nil {
		return
	}
	out := make([]byte, 0, len(l.prefix)+len(line)+3)
	out = append(out, l.prefix...)
	out = append(out, l.red.RedactBytes(line)...)
	if continued {
		out = append(out, "…"...)
	}
	out = append(out, '\n')
	_, l.err = l.w.Write(out)
}

// lockedWriter serialises writes to w on mu, shared with ServerLogs.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
