package connectors

import (
	"context"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// dial makes one connect attempt bounded by the server's timeout: a fresh
// transport (and, over HTTP, a fresh credential stack), then the MCP
// handshake.
func (c *Connector) dial(ctx context.Context) (*mcp.ClientSession, *httpStack, *Error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	limit := c.limit.session()
	wire := c.tasks.newWire()
	wire.notices = &c.notices
	t, st, err := c.newTransport(ctx, limit, wire)
	if err != nil {
		st.close()
		return nil, nil, c.classify(ctx, opConnect, err, probe{})
	}
	p := c.newProbe(st)
	// When the attempt runs out, end everything the stack has in flight, so
	// go-sdk's cleanup of the failed handshake does not wait on a server
	// that never answers. A stack that made it keeps living.
	keep := func() bool { return true }
	if st != nil {
		keep = context.AfterFunc(ctx, st.cancel)
	}
	wt := limit.transport(t)
	if st == nil || st.origin.wire == nil {
		// Over streamable HTTP the round tripper is the wire instead:
		// go-sdk needs that connection unwrapped.
		wt = wire.transport(wt)
	}
	cs, err := c.newClient().Connect(ctx, wt, nil)
	if !keep() && err == nil {
		// The handshake finished just as the attempt ran out, and the
		// stack is already canceled under the new session.
		_ = cs.Close()
		err = context.Cause(ctx)
	}
	if err != nil {
		st.close()
		ct := commandOf(t)
		if ct != nil && ct.started() {
			if ctx.Err() != nil {
				// Canceled or out of time: the server shuts down as
				// after Close, and nothing waits for it here.
				ct.end()
			} else if ps := ct.exitState(); ps != nil {
				// The handshake failed on its own; the process's exit
				// says more than the broken pipe does.
				err = fmt.Errorf("%w (the server process exited: %v)", err, ps)
			}
		}
		if sb, ok := t.(*sandboxedTransport); ok {
			if !sb.inner.started() {
				sb.plan.cleanup() // else removed once the process has exited
			}
			if h := ct.stderr.deniedHint(c.cfg.Name); h != "" {
				err = fmt.Errorf("%w; %s", err, h)
			}
		}
		if ct != nil {
			// What the server said before it failed is usually why.
			if tail := ct.stderr.tailText(c.redactor); tail != "" {
				err = &explained{msg: err.Error() + tail, err: err}
			}
		}
		return nil, nil, c.classify(ctx, opConnect, err, p)
	}
	c.askForLogs(ctx, cs)
	c.tasks.bind(cs, wire)
	return cs, st, nil
}

// newTransport builds the go-sdk transport for one connect attempt, with
// limit on every message from the server (except over Options.NewTransport,
// whose wire is not the connector's).
func (c *Connector) newTransport(ctx context.Context, limit *sessionLimit, wire *taskWire) (mcp.Transport, *httpStack, error) {
	if c.opts.NewTransport != nil {
		t, err := c.opts.NewTransport(ctx)
		return t, nil, err
	}
	switch c.cfg.Transport {
	case TransportStdio:
		cmd, plan, err := c.stdioCommand(ctx)
		if err != nil {
			return nil, nil, err
		}
		ct := &commandTransport{Command: cmd, TerminateDuration: stdioTerminateDuration, Limit: limit,
			Shutdowns: c.opts.Shutdowns, Cancels: c.cancels, stderr: &serverStderr{}}
		cmd.Stderr = ct.stderr
		if c.opts.Stderr != nil {
			cmd.Stderr = io.MultiWriter(c.opts.Stderr, ct.stderr)
		}
		if plan == nil {
			return ct, nil, nil
		}
		ct.TmpDir = plan.tmpDir // removed once the process has exited
		return &sandboxedTransport{inner: ct, plan: plan}, nil, nil
	case TransportStreamableHTTP, TransportSSE:
		authn := c.opts.Authenticator
		if authn == nil {
			var err error
			if authn, err = c.newAuthenticator(ctx); err != nil {
				return nil, nil, err
			}
		}
		ct, err := c.clientTLS(ctx)
		if err != nil {
			return nil, nil, err
		}
		st, err := newHTTPStack(c.origin, c.opts.BaseTransport, authn, ct, c.cfg.Headers)
		if err != nil {
			return nil, nil, c.newError(KindConfig, fmt.Errorf("auth: %w", err))
		}
		// The limit reads every response body; go-sdk's own cap on an
		// event is off, as it would refuse a larger max_result_bytes.
		st.origin.limit = limit
		st.origin.cancels = c.cancels
		if c.cfg.Transport == TransportSSE {
			return sseTransport{inner: &mcp.SSEClientTransport{Endpoint: c.cfg.URL, HTTPClient: st.client, MaxEventSize: -1}, st: st}, st, nil
		}
		st.origin.wire = wire
		t := &mcp.StreamableClientTransport{Endpoint: c.cfg.URL, HTTPClient: st.client, MaxEventSize: -1}
		if oa, ok := authn.(OAuthAuthenticator); ok {
			t.OAuthHandler = oa.OAuthHandler()
		}
		return t, st, nil
	}
	return nil, nil, c.newError(KindConfig, fmt.Errorf("transport %q has no implementation", c.cfg.Transport))
}
