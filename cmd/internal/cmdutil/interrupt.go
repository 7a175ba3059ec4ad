package cmdutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// InterruptGrace is how long mediator winds down after SIGINT or SIGTERM
// (servers closed, the audit log synced) before it exits regardless, so
// that a signal ends it within a second whatever it is doing.
const InterruptGrace = 750 * time.Millisecond

// Interrupts ends mediator on SIGINT and SIGTERM. The first signal cancels
// the context, so the command stops what it does and its deferred clean-up
// runs (closing servers, syncing the audit log); if the command has not
// returned within the grace period, or a second signal comes, Interrupts
// calls exit with the shell's code for the signal (130 for SIGINT, 143 for
// SIGTERM), whatever the command is doing: work that ignores its context,
// such as a computation stuck on hostile input, cannot keep mediator alive.
type Interrupts struct {
	grace time.Duration
	exit  func(code int)
	warn  io.Writer

	mu   sync.Mutex
	sig  os.Signal     // the first signal, once it came
	done chan struct{} // closed by Stop
	// linger, when longer than grace, is the wait after the first signal
	// a command asked for (Linger).
	linger time.Duration
}

// WatchInterrupts starts watching sigs (the channel signal.Notify fills)
// and returns the context the command runs under. exit is os.Exit outside
// tests; warn receives one line when exit is forced.
func WatchInterrupts(parent context.Context, sigs <-chan os.Signal, grace time.Duration, exit func(code int), warn io.Writer) (*Interrupts, context.Context) {
	ctx, cancel := context.WithCancelCause(parent)
	in := &Interrupts{grace: grace, exit: exit, warn: warn, done: make(chan struct{})}
	go func() {
		var deadline <-chan time.Time
		for {
			select {
			case <-in.done:
				return
			case s := <-sigs:
				in.mu.Lock()
				first := in.sig == nil
				if first {
					in.sig = s
				}
				in.mu.Unlock()
				if first {
					cancel(fmt.Errorf("%w by %v", context.Canceled, s))
					deadline = time.After(in.wait())
					continue
				}
				in.force("a second signal (%v)", s)
				return
			case <-deadline:
				in.force("%v, and still busy after %v", in.signal(), in.grace)
				return
			}
		}
	}()
	return in, context.WithValue(ctx, interruptsKey{}, in)
}

type interruptsKey struct{}

// Linger asks the Interrupts watching ctx, if any, to wait up to d after
// the first signal before it forces the exit, for a command that has
// clean-up work of its own to finish then (a flow's finally steps); a
// second signal still forces it at once.
func Linger(ctx context.Context, d time.Duration) {
	in, ok := ctx.Value(interruptsKey{}).(*Interrupts)
	if !ok {
		return
	}
	in.mu.Lock()
	in.linger = max(in.linger, d)
	in.mu.Unlock()
}

// wait is how long the first signal leaves the command to return.
func (in *Interrupts) wait() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return max(in.grace, in.linger)
}

func (in *Interrupts) signal() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// force exits now, unless Stop came first.
func (in *Interrupts) force(format string, args ...any) {
	select {
	case <-in.done:
		return
	default:
	}
	fmt.Fprintf(in.warn, "mediator: stopping at once after "+format+"\n", args...)
	in.exit(SignalCode(in.signal()))
}

// Stop ends the watch once the command has returned with code: from then
// on no exit is forced. It returns the code mediator exits with: code, or,
// when the command says it was interrupted (ExitInterrupted), the code of
// the signal that did it (143 for SIGTERM).
func (in *Interrupts) Stop(code int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	select {
	case <-in.done:
	default:
		close(in.done)
	}
	if in.sig != nil && code == ExitInterrupted {
		return SignalCode(in.sig)
	}
	return code
}

// SignalCode is the shell's exit code for a process ended by s: 128 plus
// the signal's number (130 for SIGINT, 143 for SIGTERM).
func SignalCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return ExitInterrupted
}
