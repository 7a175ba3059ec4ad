package connectors

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// commandTransport runs a stdio server's command and talks to it over its
// stdin and stdout, as mcp.CommandTransport does, except that it reads
// stdout through the session's limit: mcp.CommandTransport gives no way to
// wrap the pipe, and go-sdk's own cap on a line is fixed at 16 MiB.
//
// Connect starts the process, in the calling goroutine; Close ends it the
// way the MCP spec and mcp.CommandTransport do: close its stdin, wait
// TerminateDuration, SIGTERM, wait as long again, SIGKILL.
type commandTransport struct {
	Command           *exec.Cmd
	TerminateDuration time.Duration
	// Limit bounds each message on stdout; nil means go-sdk's default cap.
	Limit *sessionLimit
	// stderr watches the server's stderr (Command.Stderr writes to it).
	stderr *serverStderr
}

func (t *commandTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	stdout, err := t.Command.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := t.Command.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := t.Command.Start(); err != nil {
		return nil, err
	}
	out := childStdout{pipe: stdout, r: stdout}
	iot := &mcp.IOTransport{Reader: out, Writer: &childStdin{WriteCloser: stdin, cmd: t.Command, grace: t.TerminateDuration}}
	if t.Limit != nil {
		out.limit, out.r = t.Limit, newLimitedReader(stdout, t.Limit, jsonValues)
		iot.Reader = out
		// The limit counts every message exactly; go-sdk's fixed cap
		// would refuse a larger max_result_bytes, and less clearly.
		iot.MaxLineLength = -1
	}
	return iot.Connect(ctx)
}

// childStdout is the server's stdout as go-sdk reads it. Closing it does
// nothing while the session ends normally: the server is told to stop by
// closing its stdin. After a message over the limit it closes the pipe, so
// a server still writing the rest gets EPIPE instead of blocking.
type childStdout struct {
	pipe  io.ReadCloser
	r     io.Reader     // pipe, through the limit if there is one
	limit *sessionLimit // nil without a limit
}

func (s childStdout) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s childStdout) Close() error {
	if s.limit != nil && s.limit.isTripped() {
		_ = s.pipe.Close()
	}
	return nil
}

// childStdin is the server's stdin; closing it ends the process.
type childStdin struct {
	io.WriteCloser
	cmd   *exec.Cmd
	grace time.Duration
}

func (s *childStdin) Close() error {
	if err := s.WriteCloser.Close(); err != nil {
		return fmt.Errorf("closing stdin: %v", err)
	}
	grace := s.grace
	if grace <= 0 {
		grace = stdioTerminateDuration
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	wait := func() (error, bool) {
		select {
		case err := <-done:
			return err, true
		case <-time.After(grace):
			return nil, false
		}
	}
	if err, ok := wait(); ok {
		return err
	}
	// A failed SIGTERM (the process is gone) goes straight to SIGKILL.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err == nil {
		if err, ok := wait(); ok {
			return err
		}
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return err
	}
	if err, ok := wait(); ok {
		return err
	}
	return fmt.Errorf("the server process does not exit, even after SIGKILL")
}
