package connectors

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/mediatorhq/mediator/internal/reaper"
)

// stdioDrainDelay is how long a stdio server's pipes are still read after
// it exited: what it wrote last may still be in them, and a child of its
// may hold them open for ever.
const stdioDrainDelay = 100 * time.Millisecond

// stdioProcess is a running stdio server and this side of its pipes. It
// runs in a session of its own, so the terminal's Ctrl-C reaches mediator
// only: mediator then cancels the server's call and closes its stdin.
//
// stop begins the MCP stdio shutdown: stdin closed, then SIGTERM if the
// server has not exited after grace, SIGKILL after as long again (see
// reaper.Stop). A server that exits on its own within the grace is never
// signalled. Its stdout and stderr are read until it has exited, so it
// never blocks on a full pipe while it shuts down.
type stdioProcess struct {
	cmd    *exec.Cmd
	stdin  *os.File // this side of the server's stdin
	stdout *os.File // this side of its stdout, read by go-sdk
	stderr *os.File // this side of its stderr; nil when it goes to /dev/null
	pidfd  *os.File // nil where the OS has none
	grace  time.Duration
	tmpDir string // removed once the server has exited

	log    *switchWriter // where its stderr goes
	copied chan struct{} // closed when the copy of its stderr ended

	stopOnce sync.Once
	stopped  time.Time     // when stdin was closed
	exited   chan struct{} // closed once Wait returned
	waitErr  error
	done     chan struct{} // closed once exited and this side's files closed

	mu           sync.Mutex
	stdoutClosed bool          // closed early, see closeStdout
	handed       bool          // given to a watchdog, which owns the files now
	exitSeen     bool          // finish saw the exit
	released     bool          // files closed, tmpDir removed
	abandon      chan struct{} // closed when the watchdog took over
}

// startStdio starts cmd with pipes of its own (stderr only when cmd has a
// Stderr, which then receives it) in a session of its own. start runs
// cmd.Start; the sandbox runs it on a confined thread.
func startStdio(cmd *exec.Cmd, grace time.Duration, tmpDir string, start func() error) (*stdioProcess, error) {
	p := &stdioProcess{cmd: cmd, grace: grace, tmpDir: tmpDir,
		copied: make(chan struct{}), exited: make(chan struct{}), done: make(chan struct{}), abandon: make(chan struct{})}
	var childEnds []*os.File
	closeAll := func(files ...*os.File) {
		for _, f := range files {
			if f != nil {
				_ = f.Close()
			}
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	childEnds = append(childEnds, inR, outW)
	p.stdin, p.stdout = inW, outR
	cmd.Stdin, cmd.Stdout = inR, outW
	if cmd.Stderr != nil {
		errR, errW, err := os.Pipe()
		if err != nil {
			closeAll(inR, inW, outR, outW)
			return nil, err
		}
		p.log = &switchWriter{w: cmd.Stderr}
		p.stderr = errR
		childEnds = append(childEnds, errW)
		cmd.Stderr = errW
	}
	attr, pidfd := sessionAttr()
	cmd.SysProcAttr = attr
	err = start()
	closeAll(childEnds...)
	if err != nil {
		closeAll(p.stdin, p.stdout, p.stderr)
		return nil, err
	}
	p.pidfd = pidfd()
	if p.stderr != nil {
		go func() {
			defer close(p.copied)
			_, _ = io.Copy(p.log, p.stderr)
		}()
	} else {
		close(p.copied)
	}
	return p, nil
}

// stop closes the server's stdin and follows its shutdown; it returns at
// once. Later calls do nothing.
func (p *stdioProcess) stop() {
	p.stopOnce.Do(func() {
		p.stopped = time.Now()
		_ = p.stdin.Close()
		go func() {
			p.waitErr = p.cmd.Wait()
			close(p.exited)
		}()
		// go-sdk's reader stops at the session's end.
		go func() { _, _ = io.Copy(io.Discard, p.stdout) }()
		go func() { _ = reaper.Stop(p.grace, p.grace, p.waitFor, p.signal) }()
		go p.finish()
	})
}

// waitFor reports whether, within d, the server exited or the watchdog
// took it over.
func (p *stdioProcess) waitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-p.abandon:
		return true
	case <-t.C:
		return false
	}
}

// signal sends s to the server; os.Process follows it by pidfd where
// there is one, so no other process that reused its pid is hit.
func (p *stdioProcess) signal(s syscall.Signal) error { return p.cmd.Process.Signal(s) }

// finish closes this side's files once the server has exited and its
// pipes are read to the end or for stdioDrainDelay, unless a watchdog took
// them.
func (p *stdioProcess) finish() {
	<-p.exited
	deadline := time.Now().Add(stdioDrainDelay)
	_ = p.stdout.SetReadDeadline(deadline)
	if p.stderr != nil {
		_ = p.stderr.SetReadDeadline(deadline)
	}
	<-p.copied
	p.mu.Lock()
	p.exitSeen = true
	if !p.handed {
		p.releaseLocked()
	}
	p.mu.Unlock()
	close(p.done)
}

func (p *stdioProcess) releaseLocked() {
	if p.released {
		return
	}
	p.released = true
	for _, f := range []*os.File{p.stdoutOpen(), p.stderr, p.pidfd} {
		if f != nil {
			_ = f.Close()
		}
	}
	if p.tmpDir != "" {
		_ = os.RemoveAll(p.tmpDir)
	}
}

// closeStdout closes this side of stdout before the server has exited
// (after a message over the limit), so that a server still writing gets
// EPIPE instead of blocking.
func (p *stdioProcess) closeStdout() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stdoutClosed && !p.released && !p.handed {
		p.stdoutClosed = true
		_ = p.stdout.Close()
	}
}

// stdoutOpen is stdout unless closeStdout closed it; p.mu must be held.
func (p *stdioProcess) stdoutOpen() *os.File {
	if p.stdoutClosed {
		return nil
	}
	return p.stdout
}

// wait returns once the server has exited and this side is cleaned up,
// with the exit's error (*exec.ExitError for a non-zero status).
func (p *stdioProcess) wait() error {
	<-p.done
	return p.waitErr
}

// handOff prepares the server for a watchdog: nothing more of its stderr
// goes to the log, and this side's files stay open for the watchdog. It
// reports false when there is nothing to hand: there is no pidfd to
// follow the server by, or it has exited, and then its temp dir is
// removed at once (what it wrote last is dropped, as for one handed
// over). Call commit or takeBack after.
func (p *stdioProcess) handOff() (reaper.Process, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitSeen || p.released || p.pidfd == nil {
		return reaper.Process{}, false
	}
	if reaper.Exited(p.pidfd) {
		if p.log != nil {
			p.log.discard()
		}
		p.releaseLocked()
		return reaper.Process{}, false
	}
	p.handed = true
	if p.log != nil {
		p.log.discard()
	}
	return reaper.Process{
		PidFD:     p.pidfd,
		Outputs:   []*os.File{p.stdoutOpen(), p.stderr},
		Term:      p.grace - time.Since(p.stopped),
		Grace:     p.grace,
		RemoveDir: p.tmpDir,
	}, true
}

// commit stops this side's part of the shutdown once the watchdog runs.
func (p *stdioProcess) commit() { close(p.abandon) }

// takeBack undoes handOff when no watchdog could start: the shutdown goes
// on here.
func (p *stdioProcess) takeBack() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handed = false
	if p.exitSeen {
		p.releaseLocked()
	}
}

// switchWriter passes writes on until discard; after discard returns, no
// write reaches the destination any more.
type switchWriter struct {
	mu  sync.Mutex
	w   io.Writer
	off bool
}

func (s *switchWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.off {
		_, _ = s.w.Write(b)
	}
	return len(b), nil
}

func (s *switchWriter) discard() {
	s.mu.Lock()
	s.off = true
	s.mu.Unlock()
}
