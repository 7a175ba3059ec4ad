package connectors

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Backoff shapes the delays between reconnect attempts: Initial, growing by
// Multiplier up to Max, each delay jittered down by up to half so that many
// mediators do not hammer a restarted server in step. Zero fields take the
// defaults (500 ms, 30 s, 2).
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	return b
}

// delay is the wait before reconnect attempt n (from 0).
func (b Backoff) delay(n int) time.Duration {
	d := float64(b.Initial)
	for i := 0; i < n && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	return time.Duration(d/2 + rand.Float64()*d/2)
}

// watch waits for the session to end. An end the connector did not cause
// (the server crashed or dropped the session, or sent a message over the
// limit) starts the reconnect loop; Close ends the watch without one. trips
// is the limit's count when the session began.
func (c *Connector) watch(cs *mcp.ClientSession, trips int64) {
	defer c.wg.Done()
	werr := cs.Wait()
	reason := c.newError(KindTransport, errors.New("the session ended; reconnecting"))
	switch {
	case c.limit.trips.Load() != trips:
		reason = c.newError(KindTooLarge, fmt.Errorf("the session ended: %w; reconnecting", c.limit.err()))
	case werr != nil:
		reason = c.newError(KindTransport, fmt.Errorf("the session ended (%v); reconnecting", werr))
	}
	c.endSession(cs, reason)
}

// endSession replaces cs, if it is still the live session, by a new one:
// the state turns to connecting at once, so every operation from then on
// waits for the new session, and the reconnect loop starts. reason is the
// status's error meanwhile. An operation that failed because cs can no
// longer be used (a message over the limit) calls it, so the next one does
// not find cs still there.
func (c *Connector) endSession(cs *mcp.ClientSession, reason *Error) {
	c.mu.Lock()
	if c.closed || c.session != cs {
		c.mu.Unlock()
		return
	}
	st := c.stack
	c.session, c.stack = nil, nil
	// A session that stayed up a while resets the backoff; one that drops
	// right after connecting keeps growing it, so a server that dies at
	// once is not restarted in a tight loop.
	if time.Since(c.readySince) >= c.backoff.Max {
		c.streak = 0
	}
	c.setStateLocked(StateConnecting, reason)
	// Under c.mu with c.closed false, so Close's Wait sees it.
	c.wg.Add(1)
	c.mu.Unlock()

	go func() {
		defer c.wg.Done()
		// Reap a stdio server's process and release HTTP streams.
		c.discard(cs, st)
		c.reconnect()
	}()
}

// reconnect dials with backoff until a session is up, the credential is
// rejected (retrying the same one is pointless), the config turns out
// unusable, or Close.
func (c *Connector) reconnect() {
	for {
		c.mu.Lock()
		d := c.backoff.delay(c.streak)
		c.streak++
		c.mu.Unlock()

		timer := time.NewTimer(d)
		select {
		case <-c.life.Done():
			timer.Stop()
			return
		case <-timer.C:
		}

		cs, st, err := c.dial(c.life)

		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			c.discard(cs, st)
			return
		case err == nil:
			c.adoptLocked(cs, st)
			c.mu.Unlock()
			return
		case err.Kind == KindAuth || err.Kind == KindConfig:
			c.setStateLocked(failureState(err), err)
			c.mu.Unlock()
			return
		default:
			c.setStateLocked(StateConnecting, err)
			c.mu.Unlock()
		}
	}
}
