package connectors

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/bytesize"
)

// DefaultMaxResultBytes applies when Config.MaxResultBytes is zero.
const DefaultMaxResultBytes = 16 << 20

// resultLimit is a connector's max_result_bytes: the most bytes any one
// message from its server may take on the wire. It applies to every
// message, not only tool results: a tools/list page, a notification, a
// JSON-RPC error. A message is what go-sdk decodes as one: a JSON value on
// a stdio server's stdout, an application/json response body, one
// server-sent event. The count runs as the bytes arrive, so a message over
// the limit is refused after at most that many bytes, never read whole.
type resultLimit struct {
	max int64
	// trips counts refused messages over the connector's life, so that an
	// operation can tell its failure was caused by one (see probe).
	trips atomic.Int64

	// While resource reads are in flight, a message may take as much as
	// the largest of them needs on the wire (see Connector.ReadResource),
	// if that is more than max.
	readMu sync.Mutex
	reads  map[*int64]struct{}
	raised atomic.Int64 // the largest need of the reads in flight; 0 none
}

// current is the most bytes a message may take now.
func (l *resultLimit) current() int64 { return max(l.max, l.raised.Load()) }

// reading raises the limit to need until done is called.
func (l *resultLimit) reading(need int64) (done func()) {
	key := &need
	l.readMu.Lock()
	if l.reads == nil {
		l.reads = map[*int64]struct{}{}
	}
	l.reads[key] = struct{}{}
	l.raised.Store(max(l.raised.Load(), need))
	l.readMu.Unlock()
	return func() {
		l.readMu.Lock()
		delete(l.reads, key)
		var top int64
		for k := range l.reads {
			top = max(top, *k)
		}
		l.raised.Store(top)
		l.readMu.Unlock()
	}
}

// session returns the limit of one connect attempt and the session it
// opens.
func (l *resultLimit) session() *sessionLimit { return &sessionLimit{rule: l} }

// sessionLimit is a resultLimit applied to one session. The first message
// over the limit ends the session: its connection is closed, so every call
// waiting on it fails at once, and the connector reconnects as after any
// dropped session. The rest of that message is never read.
type sessionLimit struct {
	rule *resultLimit

	mu      sync.Mutex
	tripped bool
	conn    mcp.Connection // set once the transport has connected
}

// transport wraps t so that the session's connection is known to the limit.
// The connection itself goes to go-sdk unwrapped: go-sdk looks for
// unexported methods on it.
func (s *sessionLimit) transport(t mcp.Transport) mcp.Transport {
	return limitedTransport{inner: t, limit: s}
}

type limitedTransport struct {
	inner mcp.Transport
	limit *sessionLimit
}

func (t limitedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	t.limit.mu.Lock()
	t.limit.conn = conn
	tripped := t.limit.tripped
	t.limit.mu.Unlock()
	if tripped {
		_ = conn.Close()
		return nil, t.limit.err()
	}
	return conn, nil
}

// trip records a message over the limit and ends the session, and returns
// the error every later read of the session's streams gets.
func (s *sessionLimit) trip() error {
	s.mu.Lock()
	first := !s.tripped
	s.tripped = true
	conn := s.conn
	s.mu.Unlock()
	if first {
		// Counted before anything fails, so the failing operation sees it.
		s.rule.trips.Add(1)
		if conn != nil {
			// Not on this goroutine: it is go-sdk's reader, and closing
			// may wait on it (or, over HTTP, send a DELETE).
			go conn.Close()
		}
	}
	return s.err()
}

func (s *sessionLimit) isTripped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tripped
}

func (s *sessionLimit) err() error { return s.rule.err() }

func (l *resultLimit) err() error { return &tooLargeError{max: l.max} }

// tooLargeError is what reads of a session's streams return once a message
// went over the limit. The connector reports it as KindTooLarge.
type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the server sent a message of more than %s, this server's max_result_bytes; "+
		"mediator dropped it and the session (raise max_result_bytes in the config, or ask the tool for less)", bytesize.Format(e.max))
}

// framing says where one message ends and the next begins in a stream.
type framing int

const (
	wholeStream framing = iota // the stream is one message: an application/json body
	jsonValues                 // one JSON value after another: stdio
	sseEvents                  // server-sent events, each ending at a blank line
)

// limitedReader passes a stream through as long as no message in it goes
// over the limit. The message that does is refused with the chunk that
// took it over, and so is every read after it.
type limitedReader struct {
	r     io.Reader
	limit *sessionLimit
	max   int64 // the limit in force, as of the last count
	frame framing
	err   error // sticky, once tripped

	n int64 // bytes of the current message so far
	// jsonValues: nesting depth, whether inside a string or just after a
	// backslash in one, and the whitespace since the last value.
	depth      int
	inStr, esc bool
	gap        int64
	// sseEvents: line ends in a row, whether the last byte was '\r' (whose
	// '\n' would belong to the same line end), and the size of the last
	// event.
	ends int
	cr   bool
	last int64
}

func newLimitedReader(r io.Reader, s *sessionLimit, f framing) *limitedReader {
	return &limitedReader{r: r, limit: s, max: s.rule.max, frame: f}
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if !l.count(p[:n]) {
		l.err = l.limit.trip()
		return 0, l.err
	}
	return n, err
}

// count adds b to the messages it belongs to and reports whether every one
// of them is still within the limit.
func (l *limitedReader) count(b []byte) bool {
	l.max = l.limit.rule.current()
	switch l.frame {
	case jsonValues:
		return l.countJSON(b)
	case sseEvents:
		return l.countEvents(b)
	}
	l.n += int64(len(b))
	return l.n <= l.max
}

// countJSON follows the structure of a stream of JSON values (objects and
// arrays, strings with escapes) just far enough to see where each ends, as
// go-sdk's decoder does: a message split over many lines is still one
// message. A message is its value's bytes; the whitespace between two
// values (the newline that ends each message) is no message's, and is
// bounded on its own. The text of strings, where the bulk of a large result
// is, is skipped with IndexByte.
func (l *limitedReader) countJSON(b []byte) bool {
	start := 0  // where the current message's bytes in b begin
	quote := -2 // index of the next '"' in b at or after i; -1 none; -2 not looked for
	for i := 0; i < len(b); {
		if l.inStr {
			if l.esc {
				l.esc = false
				i++
				continue
			}
			if quote != -1 && quote < i {
				quote = bytes.IndexByte(b[i:], '"')
				if quote >= 0 {
					quote += i
				}
			}
			end := len(b)
			if quote >= 0 {
				end = quote
			}
			if k := bytes.IndexByte(b[i:end], '\\'); k >= 0 {
				l.esc = true
				i += k + 1
				continue
			}
			if quote < 0 {
				break // the rest of b is inside the string
			}
			l.inStr = false
			i = quote + 1
			if l.depth == 0 && !l.valueEnd(b, &start, i) {
				return false
			}
			continue
		}
		if l.depth == 0 && l.n == 0 && i == start && isSpace(b[i]) {
			if l.gap++; l.gap > l.max {
				return false
			}
			start++
			i++
			continue
		}
		switch b[i] {
		case '"':
			l.inStr = true
		case '{', '[':
			l.depth++
		case '}', ']':
			if l.depth > 0 {
				l.depth--
				if l.depth == 0 && !l.valueEnd(b, &start, i+1) {
					return false
				}
			}
		}
		i++
	}
	l.n += int64(len(b) - start)
	return l.n <= l.max
}

// valueEnd closes the message that ends at b[end-1].
func (l *limitedReader) valueEnd(b []byte, start *int, end int) bool {
	if l.n+int64(end-*start) > l.max {
		return false
	}
	l.n, l.gap, *start = 0, 0, end
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// countEvents ends an event at an empty line; a line ends at "\r\n", "\n"
// or "\r". An event's bytes are all of its lines, field names and line
// ends included.
func (l *limitedReader) countEvents(b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		head := b
		if i >= 0 {
			head = b[:i]
		}
		if j := bytes.IndexByte(head, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			l.n += int64(len(b))
			l.ends, l.cr = 0, false
			break
		}
		if i > 0 {
			l.ends, l.cr = 0, false
		}
		if b[i] == '\n' && l.cr {
			// The '\n' of a "\r\n", the same line end as the '\r' (so
			// here i is 0). If that ended an event, this is the event's
			// last byte.
			l.cr = false
			if l.ends == 0 {
				if l.last+1 > l.max {
					return false
				}
			} else if l.n++; l.n > l.max {
				return false
			}
			b = b[1:]
			continue
		}
		l.n += int64(i + 1)
		if l.n > l.max {
			return false
		}
		l.ends++
		l.cr = b[i] == '\r'
		if l.ends == 2 {
			l.last, l.n, l.ends = l.n, 0, 0
		}
		b = b[i+1:]
	}
	return l.n <= l.max
}

// body returns resp's body read through the limit: an event stream one
// event at a time, any other body as one message. A nil limit leaves the
// body as it is.
func (s *sessionLimit) body(resp *http.Response) io.ReadCloser {
	if s == nil {
		return resp.Body
	}
	f := wholeStream
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		f = sseEvents
	}
	return limitedBody{Reader: newLimitedReader(resp.Body, s, f), Closer: resp.Body}
}

type limitedBody struct {
	io.Reader
	io.Closer
}
