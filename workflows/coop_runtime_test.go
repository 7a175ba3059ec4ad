package workflows

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// coopRuntime runs the interpreter's tasks as coroutines, one at a time, as
// Temporal's workflow runtime does: a task runs only while it holds the
// baton and gives it up only inside a Runtime call (the calls themselves
// run outside, as activities do). A task that blocks natively while holding
// the baton (on a mutex another task holds across a Runtime call, on a
// channel) stops every other task; the watchdog then reports a potential
// deadlock, as Temporal does (TMPRL1101) when a workflow task does not
// yield within a second, instead of the test hanging.
type coopRuntime struct {
	inner *LocalRuntime
	baton chan struct{} // holds a token while a task runs
	gen   atomic.Uint64 // counts the times the baton was taken
	stuck chan string   // the watchdog's report
}

func newCoopRuntime(caller ToolCaller) *coopRuntime {
	return &coopRuntime{inner: NewLocalRuntime(caller), baton: make(chan struct{}, 1), stuck: make(chan string, 1)}
}

func (r *coopRuntime) acquire() { r.baton <- struct{}{}; r.gen.Add(1) }
func (r *coopRuntime) release() { <-r.baton }

// run runs fn as the workflow's first task, returning its error or the
// watchdog's report of a potential deadlock.
func (r *coopRuntime) run(ctx context.Context, fn func(ctx context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		r.acquire()
		err := fn(ctx)
		r.release()
		done <- err
	}()
	watch, stop := context.WithCancel(ctx)
	defer stop()
	go r.watchdog(watch)
	select {
	case err := <-done:
		return err
	case msg := <-r.stuck:
		return fmt.Errorf("potential deadlock detected: %s", msg)
	}
}

// watchdog reports a task that held the baton for a second without a
// Runtime call: one blocked natively, or computing too long for a
// workflow task.
func (r *coopRuntime) watchdog(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			g := r.gen.Load()
			if len(r.baton) == 0 || g != last {
				last, since = g, now
				continue
			}
			if now.Sub(since) > time.Second {
				r.stuck <- "a task held the baton for over a second without yielding in a Runtime call"
				return
			}
		}
	}
}

// yield runs fn outside the coroutines, giving the baton up meanwhile.
func yield[T any](r *coopRuntime, fn func() T) T {
	r.release()
	defer r.acquire()
	return fn()
}

type callOutcome struct {
	res *mcp.CallToolResult
	err error
}

func (r *coopRuntime) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	o := yield(r, func() callOutcome { res, err := r.inner.CallTool(ctx, req); return callOutcome{res, err} })
	return o.res, o.err
}

func (r *coopRuntime) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	type out struct {
		t   *mcp.Tool
		err error
	}
	o := yield(r, func() out { t, err := r.inner.Tool(ctx, server, tool); return out{t, err} })
	return o.t, o.err
}

func (r *coopRuntime) ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error) {
	type out struct {
		res *mcp.ReadResourceResult
		err error
	}
	o := yield(r, func() out { res, err := r.inner.ReadResource(ctx, req); return out{res, err} })
	return o.res, o.err
}

type coopTask struct {
	r    *coopRuntime
	done chan struct{}
}

// Go starts fn as a new coroutine: it runs once the caller yields.
func (r *coopRuntime) Go(ctx context.Context, fn func(ctx context.Context)) Task {
	t := &coopTask{r: r, done: make(chan struct{})}
	go func() {
		r.acquire()
		defer r.release()
		defer close(t.done)
		fn(ctx)
	}()
	return t
}

func (t *coopTask) Wait(context.Context) {
	yield(t.r, func() struct{} { <-t.done; return struct{}{} })
}

func (r *coopRuntime) Sleep(ctx context.Context, d time.Duration) error {
	return yield(r, func() error { return r.inner.Sleep(ctx, d) })
}

// AfterFunc waits in a coroutine of its own, calling f with the baton.
func (r *coopRuntime) AfterFunc(ctx context.Context, start <-chan struct{}, d time.Duration, f func()) (stop func()) {
	quit := make(chan struct{})
	stopped := false // read and written with the baton
	r.Go(ctx, func(context.Context) {
		fire := yield(r, func() bool {
			if start != nil {
				select {
				case <-start:
				case <-quit:
					return false
				}
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return true
			case <-quit:
				return false
			}
		})
		if fire && !stopped {
			f()
		}
	})
	return func() {
		if !stopped {
			stopped = true
			close(quit)
		}
	}
}

func (r *coopRuntime) Now(context.Context) time.Time { return time.Now() }

func (r *coopRuntime) DecidesFlows() bool { return r.inner.DecidesFlows() }
