package connectors

import (
	"context"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// commandTransport runs a stdio server's command and talks to it over its
// stdin and stdout, as mcp.CommandTransport does, except that it reads
// stdout through the session's limit (mcp.CommandTransport gives no way to
// wrap the pipe, and go-sdk's own cap on a line is fixed at 16 MiB), starts
// the server in a session of its own, and counts the cancellations it
// sends.
//
// Connect starts the process, in the calling goroutine. Closing the
// connection begins the MCP stdio shutdown (see stdioProcess): with
// Shutdowns set, Close returns at once and Shutdowns follows the server;
// without, Close waits for the server to exit.
type commandTransport struct {
	Command           *exec.Cmd
	TerminateDuration time.Duration
	// Limit bounds each message on stdout; nil means go-sdk's default cap.
	Limit *sessionLimit
	// stderr watches the server's stderr (Command.Stderr writes to it).
	stderr *serverStderr
	// Shutdowns follows the server after Close; nil makes Close wait.
	Shutdowns *Shutdowns
	// Cancels counts the notifications/cancelled written to the server;
	// may be nil.
	Cancels *cancelNotices
	// TmpDir is removed once the server has exited.
	TmpDir string

	proc *stdioProcess // once Connect started it
}

func (t *commandTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	grace := t.TerminateDuration
	if grace <= 0 {
		grace = stdioTerminateDuration
	}
	p, err := startStdio(t.Command, grace, t.TmpDir, t.Command.Start)
	if err != nil {
		return nil, err
	}
	t.proc = p
	out := childStdout{proc: p, r: p.stdout}
	iot := &mcp.IOTransport{Reader: out, Writer: &childStdin{proc: p, shutdowns: t.Shutdowns, cancels: t.Cancels}}
	if t.Limit != nil {
		out.limit, out.r = t.Limit, newLimitedReader(p.stdout, t.Limit, jsonValues)
		iot.Reader = out
		// The limit counts every message exactly; go-sdk's fixed cap
		// would refuse a larger max_result_bytes, and less clearly.
		iot.MaxLineLength = -1
	}
	return iot.Connect(ctx)
}

// started reports whether Connect started the process.
func (t *commandTransport) started() bool { return t.proc != nil }

// exitState ends the process, once started, waits for it to exit and
// returns how it ended; nil when it never started.
func (t *commandTransport) exitState() *os.ProcessState {
	if t.proc == nil {
		return nil
	}
	t.proc.stop()
	_ = t.proc.wait()
	return t.Command.ProcessState
}

// end ends the process, once started, as closing the connection does.
func (t *commandTransport) end() {
	if t.proc != nil {
		_ = endStdio(t.proc, t.Shutdowns)
	}
}

// endStdio begins p's shutdown and hands it to sh; without sh it returns
// once p has exited, with the exit's error.
func endStdio(p *stdioProcess, sh *Shutdowns) error {
	p.stop()
	if sh != nil {
		sh.add(p)
		return nil
	}
	return p.wait()
}

// childStdout is the server's stdout as go-sdk reads it. Closing it does
// nothing while the session ends normally: the server is told to stop by
// closing its stdin, and its stdout is read until it has exited. After a
// message over the limit it closes the pipe, so a server still writing
// the rest gets EPIPE instead of blocking.
type childStdout struct {
	proc  *stdioProcess
	r     io.Reader     // the pipe, through the limit if there is one
	limit *sessionLimit // nil without a limit
}

func (s childStdout) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s childStdout) Close() error {
	if s.limit != nil && s.limit.isTripped() {
		s.proc.closeStdout()
	}
	return nil
}

// childStdin is the server's stdin; closing it begins the server's
// shutdown.
type childStdin struct {
	proc      *stdioProcess
	shutdowns *Shutdowns
	cancels   *cancelNotices
}

func (s *childStdin) Write(b []byte) (int, error) {
	n, err := s.proc.stdin.Write(b)
	if s.cancels != nil && isCancelNotice(b) {
		s.cancels.sent()
	}
	return n, err
}

func (s *childStdin) Close() error { return endStdio(s.proc, s.shutdowns) }
