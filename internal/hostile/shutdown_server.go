package hostile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The shutdown server is a go-sdk stdio server that writes down what a
// client's shutdown does to it, one event per line, in the file named by
// ShutdownEventsEnv: what it read on stdin (notifications/cancelled, EOF),
// the signals it got (SIGINT, SIGTERM), and how it exited. What it does
// once its stdin is closed depends on ShutdownModeEnv.
const (
	// ShutdownEventsEnv names the events file; the server appends to it.
	ShutdownEventsEnv = "SHUTDOWN_EVENTS"
	// ShutdownModeEnv is one of the ShutdownMode* values.
	ShutdownModeEnv = "SHUTDOWN_MODE"
	// ShutdownReleaseEnv names the file whose creation lets a server in
	// ShutdownModeLinger exit.
	ShutdownReleaseEnv = "SHUTDOWN_RELEASE"
)

// What the server does after EOF on stdin.
const (
	// ShutdownModeExit exits at once, as a server should.
	ShutdownModeExit = "exit"
	// ShutdownModeLinger takes its time: it exits (cleanly) only once the
	// release file exists, as a server that flushes state on the way out.
	ShutdownModeLinger = "linger"
	// ShutdownModeIgnore ignores EOF and runs until SIGTERM.
	ShutdownModeIgnore = "ignore"
	// ShutdownModeStall never answers, not even initialize: it does not
	// read its stdin and runs until SIGTERM.
	ShutdownModeStall = "stall"
)

// Events the server writes, each on a line of its own; EventTmpDir and
// EventPID are followed by a space and a value.
const (
	EventStarted       = "started"
	EventPID           = "pid"
	EventTmpDir        = "tmpdir"
	EventCallStarted   = "call started"
	EventCallCanceled  = "call canceled"
	EventCancelNotice  = "read notifications/cancelled"
	EventEOF           = "read EOF"
	EventSIGINT        = "got SIGINT"
	EventSIGTERM       = "got SIGTERM"
	EventCleanExit     = "exiting cleanly"
	ShutdownSlowTool   = "wait"
	ShutdownQuickTool  = "echo"
	shutdownPollPeriod = 10 * time.Millisecond
)

// RunShutdownServer runs the shutdown server until it exits; it returns
// the exit code. Its tools: "wait" blocks until the call is canceled,
// "echo" answers at once.
func RunShutdownServer() int {
	ev := &eventLog{path: os.Getenv(ShutdownEventsEnv)}
	mode := os.Getenv(ShutdownModeEnv)
	ev.add(EventStarted)
	ev.add(fmt.Sprintf("%s %d", EventPID, os.Getpid()))
	ev.add(EventTmpDir + " " + os.Getenv("TMPDIR"))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	terminated := make(chan struct{})
	go func() {
		for s := range sigs {
			if s == syscall.SIGINT {
				ev.add(EventSIGINT)
				continue
			}
			ev.add(EventSIGTERM)
			close(terminated)
			return
		}
	}()

	if mode == ShutdownModeStall {
		<-terminated
		return 0
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "shutdown", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: ShutdownSlowTool, Description: "Blocks until the call is canceled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ev.add(EventCallStarted)
			<-ctx.Done()
			ev.add(EventCallCanceled)
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(s, &mcp.Tool{Name: ShutdownQuickTool, Description: "Answers at once."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo"}}}, nil, nil
		})
	in := &wireTap{r: os.Stdin, ev: ev}
	_ = s.Run(context.Background(), &mcp.IOTransport{Reader: in, Writer: nopCloser{os.Stdout}})

	switch mode {
	case ShutdownModeLinger:
		release := os.Getenv(ShutdownReleaseEnv)
		for {
			if _, err := os.Stat(release); err == nil {
				break
			}
			select {
			case <-terminated:
				return 0
			case <-time.After(shutdownPollPeriod):
			}
		}
	case ShutdownModeIgnore:
		<-terminated
		return 0
	}
	ev.add(EventCleanExit)
	return 0
}

// wireTap records what the server reads on stdin.
type wireTap struct {
	r    io.Reader
	ev   *eventLog
	line []byte
}

func (w *wireTap) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.line = append(w.line, p[:n]...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(w.line[:i], []byte(`"method":"notifications/cancelled"`)) {
			w.ev.add(EventCancelNotice)
		}
		w.line = w.line[i+1:]
	}
	if err == io.EOF {
		w.ev.add(EventEOF)
	}
	return n, err
}

func (w *wireTap) Close() error { return nil }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// eventLog appends events to a file, each line written at once.
type eventLog struct {
	mu   sync.Mutex
	path string
}

func (l *eventLog) add(event string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shutdown server:", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, strings.ReplaceAll(event, "\n", " "))
}

// ShutdownLog is the events file of a shutdown server, for tests to read.
type ShutdownLog string

// Events are the events written so far, in order.
func (l ShutdownLog) Events() []string {
	b, err := os.ReadFile(string(l))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (l ShutdownLog) index(event string) int {
	return slices.IndexFunc(l.Events(), func(e string) bool { return strings.HasPrefix(e, event) })
}

// Has reports whether event (a prefix of a line) was written.
func (l ShutdownLog) Has(event string) bool { return l.index(event) >= 0 }

// Before reports whether a and b were both written, a first.
func (l ShutdownLog) Before(a, b string) bool {
	ia, ib := l.index(a), l.index(b)
	return ia >= 0 && ib >= 0 && ia < ib
}

// Value is what follows event and a space (EventPID, EventTmpDir).
func (l ShutdownLog) Value(event string) string {
	for _, e := range l.Events() {
		if v, ok := strings.CutPrefix(e, event+" "); ok {
			return v
		}
	}
	return ""
}

// Wait reports whether event is written within d.
func (l ShutdownLog) Wait(event string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !l.Has(event) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(shutdownPollPeriod)
	}
	return true
}

// String is the events, one a line, for a test's message.
func (l ShutdownLog) String() string { return strings.Join(l.Events(), "\n") }
