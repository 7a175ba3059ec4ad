package connectors

import (
	"context"
	"sync"
	"time"
)

// noticeSettle bounds how long an answer waits for the server's
// notifications read before it to reach their handlers.
const noticeSettle = time.Second

// noticeOrder keeps a server's log messages and progress reports ahead of
// the answer that follows them. go-sdk hands a response to its caller as
// soon as it is read, but queues a notification for its handler, so a
// request can return before the notifications the server sent during it
// were handled. The session's wire counts each notifications/message and
// notifications/progress as it is read (seen); their handlers count it
// handled (done); settle waits, after a request's answer, until every
// notification read before it was handled.
type noticeOrder struct {
	mu            sync.Mutex
	read, handled uint64
	changed       chan struct{} // closed when handled grows
}

func (l *noticeOrder) seen() {
	l.mu.Lock()
	l.read++
	l.mu.Unlock()
}

func (l *noticeOrder) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handled++
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// settle waits until the notifications read so far were handled, at most
// noticeSettle or until ctx ends; a notification that never reaches its
// handler (go-sdk drops one it cannot decode) is then given up on.
func (l *noticeOrder) settle(ctx context.Context) {
	l.mu.Lock()
	target := l.read
	l.mu.Unlock()
	var timeout <-chan time.Time
	for {
		l.mu.Lock()
		if l.handled >= target {
			l.mu.Unlock()
			return
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(noticeSettle)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timeout:
			l.mu.Lock()
			l.handled = max(l.handled, target)
			l.mu.Unlock()
			return
		}
	}
}

// noticesSettled waits for the notifications read before an answer to
// reach their handlers, when someone takes them: the front end's
// Host.Log, or the progress callback of the request ctx is for.
func (c *Connector) noticesSettled(ctx context.Context) {
	if c.opts.Host.Log != nil || progressFunc(ctx) != nil {
		c.notices.settle(ctx)
	}
}
