package connectors

import (
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
// (the server crashed or dropped the session) starts the reconnect loop;
// Close ends the watch without one.
func (c *Connector) watch(cs *mcp.ClientSession) {
	defer c.wg.Done()
	werr := cs.Wait()

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
	reason := fmt.Errorf("the session ended; reconnecting")
	if werr != nil {
		reason = fmt.Errorf("the session ended (%v); reconnecting", werr)
	}
	c.setStateLocked(StateConnecting, c.newError(KindTransport, reason))
	c.mu.Unlock()

	// Reap a stdio server's process and release HTTP streams.
	c.discard(cs, st)
	c.reconnect()
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
