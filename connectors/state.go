package connectors

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors/oauth"
)

// State is a connector's lifecycle state.
//
//	idle ──Connect──▶ connecting ──▶ ready ──session drops──▶ connecting (reconnect with backoff)
//	                      │                                        │
//	                      ├──▶ failed (Connect may be called again)◀┘ (config error)
//	                      └──▶ auth-required (credential missing or rejected)
//	any ──Close──▶ closed
type State string

const (
	StateIdle         State = "idle"
	StateConnecting   State = "connecting"
	StateReady        State = "ready"
	StateFailed       State = "failed"
	StateAuthRequired State = "auth-required"
	StateClosed       State = "closed"
)

// Status is a snapshot of a connector.
type Status struct {
	State State
	// Err says why the state is failed or auth-required, and while
	// reconnecting, why the last session ended or the last attempt failed.
	// It is an *Error.
	Err             error
	Since           time.Time
	ServerInfo      *mcp.Implementation
	ProtocolVersion string
	// OAuthRenewals counts the renewals of the OAuth token so far by
	// outcome (zero for other auth).
	OAuthRenewals oauth.Renewals
}

// setStateLocked records a state change and wakes everyone waiting in
// Changed. c.mu must be held.
func (c *Connector) setStateLocked(s State, err error) {
	st := Status{State: s, Since: time.Now()}
	if err != nil {
		st.Err = err
	}
	if s == StateReady && c.session != nil {
		if ir := c.session.InitializeResult(); ir != nil {
			st.ServerInfo = ir.ServerInfo
			st.ProtocolVersion = ir.ProtocolVersion
		}
	}
	prev := c.status.State
	c.status = st
	close(c.changed)
	c.changed = make(chan struct{})
	if err != nil {
		c.log.Info("server state", "state", s, "from", prev, "reason", err.Error())
	} else {
		c.log.Info("server state", "state", s, "from", prev)
	}
}

// Status returns the current state.
func (c *Connector) Status() Status {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	return c.withRenewals(st)
}

// withRenewals is st with the OAuth handler's renewal counts.
func (c *Connector) withRenewals(st Status) Status {
	if h := c.OAuth(); h != nil {
		st.OAuthRenewals = h.Renewals()
	}
	return st
}

// Changed returns a channel that is closed at the next state change, so a
// status display can redraw without polling. Take the channel before reading
// Status to miss no change.
func (c *Connector) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitFor blocks until the connector is in one of the given states and
// returns that status, or returns ctx's error with the last status seen.
func (c *Connector) WaitFor(ctx context.Context, states ...State) (Status, error) {
	for {
		c.mu.Lock()
		st, ch := c.status, c.changed
		c.mu.Unlock()
		if slices.Contains(states, st.State) {
			return c.withRenewals(st), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("server %q: waiting for state %v, still %s: %w", c.cfg.Name, states, st.State, ctx.Err())
		}
	}
}
