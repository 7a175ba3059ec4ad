package cmdutil

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// exits records the codes passed to exit.
type exits struct {
	ch chan int
}

func newExits() *exits { return &exits{ch: make(chan int, 4)} }

func (e *exits) exit(code int) { e.ch <- code }

// wait returns the first exit code, failing the test if none comes within
// a generous deadline (this checks that exit happens, not how fast).
func (e *exits) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-e.ch:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no forced exit")
		return 0
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A command that winds down when its context ends returns normally, its
// clean-up done, and mediator exits with the signal's code; a command that
// finished on its own keeps its code.
func TestInterruptCancelsThenCommandReturns(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ex := newExits()
	var warn syncBuffer
	in, ctx := WatchInterrupts(context.Background(), sigs, time.Hour, ex.exit, &warn)
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	if cause := context.Cause(ctx).Error(); cause != "context canceled by terminated" {
		t.Errorf("cause %q", cause)
	}
	if code := in.Stop(ExitInterrupted); code != 143 {
		t.Errorf("exit code %d, want 143", code)
	}
	sigs2 := make(chan os.Signal, 2)
	in2, ctx2 := WatchInterrupts(context.Background(), sigs2, time.Hour, ex.exit, &warn)
	sigs2 <- syscall.SIGTERM
	<-ctx2.Done()
	if code := in2.Stop(ExitUsage); code != ExitUsage {
		t.Errorf("a command that failed on its own: exit code %d, want %d", code, ExitUsage)
	}
	sigs <- syscall.SIGTERM // after Stop: nothing is forced
	select {
	case c := <-ex.ch:
		t.Errorf("exit(%d) forced after Stop", c)
	case <-time.After(50 * time.Millisecond):
	}
	if warn.String() != "" {
		t.Errorf("warned %q", warn.String())
	}
}

// Work stuck on the CPU, deaf to its context, does not keep mediator
// alive: after the grace period exit is forced with the signal's code.
func TestInterruptForcesExitWhenWorkIgnoresContext(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ex := newExits()
	var warn syncBuffer
	in, ctx := WatchInterrupts(context.Background(), sigs, 100*time.Millisecond, ex.exit, &warn)
	defer in.Stop(0)
	var stop atomic.Bool
	defer stop.Store(true)
	go func() { // CPU-bound and never looks at ctx
		n := 0
		for !stop.Load() {
			n++
		}
		_ = ctx
	}()
	sigs <- os.Interrupt
	if code := ex.wait(t); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if !strings.Contains(warn.String(), "mediator: stopping at once after interrupt, and still busy after 100ms") {
		t.Errorf("warned %q", warn.String())
	}
}

// A second signal exits at once, however long the grace period.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ex := newExits()
	var warn syncBuffer
	in, _ := WatchInterrupts(context.Background(), sigs, time.Hour, ex.exit, &warn)
	defer in.Stop(0)
	sigs <- syscall.SIGTERM
	sigs <- os.Interrupt
	if code := ex.wait(t); code != 143 {
		t.Errorf("exit code %d, want 143 (the first signal's)", code)
	}
	if !strings.Contains(warn.String(), "a second signal (interrupt)") {
		t.Errorf("warned %q", warn.String())
	}
}

// A command that asked to linger gets that long after the first signal,
// and a second signal still ends it at once.
func TestLingerWaitsThenSecondSignalForces(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ex := newExits()
	var warn syncBuffer
	in, ctx := WatchInterrupts(context.Background(), sigs, 10*time.Millisecond, ex.exit, &warn)
	defer in.Stop(0)
	Linger(ctx, time.Hour)
	sigs <- os.Interrupt
	<-ctx.Done()
	select {
	case c := <-ex.ch:
		t.Fatalf("exit(%d) forced while the command lingers", c)
	case <-time.After(200 * time.Millisecond):
	}
	sigs <- os.Interrupt
	if code := ex.wait(t); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if !strings.Contains(warn.String(), "a second signal (interrupt)") {
		t.Errorf("warned %q", warn.String())
	}
}
