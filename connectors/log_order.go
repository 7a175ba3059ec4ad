package connectors

import (
	"context"
	"sync"
	"time"
)

// logSettle bounds how long an answer waits for the server's log messages
// read before it to reach Host.Log.
const logSettle = time.Second

// logOrder keeps a server's log messages ahead of the answer that follows
// them. go-sdk hands a response to its caller as soon as it is read, but
// queues a notification for its handler, so a request can return before
// the log messages the server sent during it were handled. The session's
// wire counts each notifications/message as it is read (seen); logged
// counts it handled (done); settle waits, after a request's answer, until
// every message read before it was handled.
type logOrder struct {
	mu            sync.Mutex
	read, handled uint64
	changed       chan struct{} // closed when handled grows
}

func (l *logOrder) seen() {
	l.mu.Lock()
	l.read++
	l.mu.Unlock()
}

func (l *logOrder) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handled++
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// settle waits until the log messages read so far were handled, at most
// logSettle or until ctx ends; a message that never reaches the handler
// (go-sdk drops one it cannot decode) is then given up on.
func (l *logOrder) settle(ctx context.Context) {
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
			t := time.NewTimer(logSettle)
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

// logsSettled waits for the log messages read before an answer to reach
// Host.Log, when the front end takes them.
func (c *Connector) logsSettled(ctx context.Context) {
	if c.opts.Host.Log != nil {
		c.logs.settle(ctx)
	}
}
