package connectors

import (
	"errors"
	"time"

	"github.com/mediatorhq/mediator/connectors/oauth"
)

// renewRetry bounds the wait before trying a renewal again after the
// authorization server could not be reached.
const renewRetry = time.Minute

// keepFresh renews the OAuth token ahead of its expiry while a session
// is up, so that a long-running process (the daemon, serve) neither sends
// an expired token nor finds a dead login only at its next call: it wakes
// when the handler says the token is due (oauth.Handler.RenewAt) and
// renews it, one renewal at a time with the requests' own. A renewal the
// authorization server refuses (the refresh token expired or was revoked)
// ends the session and leaves the connector auth-required, its calls
// failing with KindAuth while other servers go on; a new login, then a
// connect, brings it back. An unreachable authorization server is tried
// again within renewRetry. It runs for the connector's life.
func (c *Connector) keepFresh(h *oauth.Handler) {
	defer c.wg.Done()
	now := time.Now
	if c.opts.Now != nil {
		now = c.opts.Now
	}
	var retry time.Duration
	for {
		changed := c.Changed()
		var due <-chan time.Time
		var timer *time.Timer
		if at, ok := h.RenewAt(); ok && c.Status().State == StateReady {
			d := at.Sub(now())
			if retry > 0 {
				d = retry
			}
			timer = time.NewTimer(max(d, 0))
			due = timer.C
		}
		fired := false
		select {
		case <-c.life.Done():
		case <-changed:
		case <-due:
			fired = true
		}
		if timer != nil {
			timer.Stop()
		}
		if c.life.Err() != nil {
			return
		}
		if !fired {
			continue // the state changed: plan again
		}
		err := h.Renew(c.life)
		switch {
		case err == nil:
			retry = 0
		case errors.Is(err, oauth.ErrLoginRequired):
			retry = 0
			c.loginExpired(err)
		case c.life.Err() != nil:
			return
		default:
			retry = min(max(2*retry, time.Second), renewRetry)
			c.log.Warn("renewing the OAuth token ahead of its expiry failed; trying again", "retry_in", retry.String(), "error", c.newError(KindAuth, err).Error())
		}
	}
}

// loginExpired ends the live session after a renewal refused for good and
// puts the connector in StateAuthRequired with why and what fixes it.
func (c *Connector) loginExpired(err error) {
	reason := c.newError(KindAuth, errors.New(c.authorizationHint(&oauth.AuthorizationError{Server: c.cfg.Name, Err: err})))
	c.mu.Lock()
	if c.closed || c.status.State != StateReady {
		c.mu.Unlock()
		return
	}
	cs, st := c.session, c.stack
	c.session, c.stack = nil, nil
	c.setStateLocked(StateAuthRequired, reason)
	c.mu.Unlock()
	c.discard(cs, st)
}
