// Package iostreams carries the standard streams a command writes to, so
// every command can be run in a test without a terminal.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/mediatorhq/mediator/internal/termtext"
)

// IOStreams: data goes to Out, messages and progress to ErrOut.
//
// Out and ErrOut carry text: whatever is written to them passes through
// a termtext.Writer, which drops what could drive a terminal (escape
// sequences, carriage returns, other control characters). Servers supply
// much of that text (tool results and descriptions, their stderr, error
// messages quoting them), and none of it can then move the cursor, erase
// or forge a line, or set the clipboard. JSON passes unchanged:
// cmdutil.MarshalJSON escapes all of that.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// TermErrOut is stderr as it is, for mediator's own drawing on a
	// terminal (the live progress view); any server text drawn there must
	// go through termtext.Sanitize first.
	TermErrOut io.Writer
	// RawOut is stdout as it is, for bytes the user asked to get unchanged
	// (a binary result with `call -o -`), never for text; commands write
	// to it only when stdout is not a terminal.
	RawOut io.Writer

	// StdinFd is the file descriptor of In when it is a terminal, else -1;
	// it is what a no-echo prompt reads from.
	StdinFd   int
	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
}

// System returns the process's own streams.
func System() *IOStreams {
	fd := int(os.Stdin.Fd())
	io := &IOStreams{In: os.Stdin, Out: termtext.NewWriter(os.Stdout), ErrOut: termtext.NewWriter(os.Stderr), TermErrOut: os.Stderr, RawOut: os.Stdout, StdinFd: -1}
	if term.IsTerminal(fd) {
		io.stdinTTY = true
		io.StdinFd = fd
	}
	io.stdoutTTY = term.IsTerminal(int(os.Stdout.Fd()))
	io.stderrTTY = term.IsTerminal(int(os.Stderr.Fd()))
	return io
}

// Test returns streams backed by buffers: in, out, errOut. The buffers
// receive what a terminal would: Out and ErrOut sanitize as System's do.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: termtext.NewWriter(out), ErrOut: termtext.NewWriter(errOut), TermErrOut: errOut, RawOut: out, StdinFd: -1}, in, out, errOut
}

func (s *IOStreams) IsStdinTTY() bool  { return s.stdinTTY }
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetTTY marks the streams as terminals or not (tests).
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
}
