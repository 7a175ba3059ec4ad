package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors/oauth"
)

// Kind classifies connector failures so front ends can choose exit codes
// and the audit log can record an error class.
type Kind string

const (
	KindTransport    Kind = "transport"     // could not reach or talk to the server
	KindTimeout      Kind = "timeout"       // the server did not answer in time
	KindAuth         Kind = "auth"          // credentials missing or rejected
	KindNotConnected Kind = "not-connected" // no session (failed or closed)
	KindProtocol     Kind = "protocol"      // JSON-RPC error from the server
	KindConfig       Kind = "config"        // the server's config is unusable
	KindCanceled     Kind = "canceled"      // the caller canceled the context
	KindTooLarge     Kind = "too-large"     // a message from the server went over max_result_bytes
)

// Error is a connector failure with the server it concerns. Its text never
// holds a secret value: a connector scrubs the values it fetched from every
// error it returns.
type Error struct {
	Server string
	Kind   Kind
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("server %q: %s: %v", e.Server, e.Kind, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// probe remembers how many 401/403 answers the server had given, how many
// requests the connector had refused to send to another origin, and how
// many messages over the limit it had refused, before an operation, so the
// operation's failure can be told apart as an auth failure or put down to
// the refusal.
type probe struct {
	stack      *httpStack
	rejections int64
	refusals   int64
	limit      *resultLimit
	trips      int64
}

func (c *Connector) newProbe(st *httpStack) probe {
	p := probe{limit: c.limit, trips: c.limit.trips.Load()}
	if st != nil {
		p.stack, p.rejections, p.refusals = st, st.origin.rejections.Load(), st.origin.refusals.Load()
	}
	return p
}

// tooLarge returns the limit's error if err is it, or if a message over
// the limit was refused since the probe was taken: the session that ended
// is why the operation failed, whatever go-sdk made of it.
func (p probe) tooLarge(err error) error {
	var tl *tooLargeError
	if errors.As(err, &tl) {
		return tl
	}
	if p.limit == nil || p.limit.trips.Load() == p.trips {
		return nil
	}
	return p.limit.err()
}

// refusal returns the connector's refusal of a request to another origin
// if there was one since the probe was taken.
func (p probe) refusal() error {
	if p.stack == nil || p.stack.origin.refusals.Load() == p.refusals {
		return nil
	}
	if e := p.stack.origin.lastRefusal.Load(); e != nil {
		return *e
	}
	return nil
}

// rejected returns the HTTP status of the server's last 401/403 answer if
// there was one since the probe was taken.
func (p probe) rejected() (int, bool) {
	if p.stack == nil || p.stack.origin.rejections.Load() == p.rejections {
		return 0, false
	}
	return int(p.stack.origin.lastStatus.Load()), true
}

// classify turns an error from go-sdk or the transport into an *Error. op
// says what was being done ("connect", "call tool \"echo\""); ctx is the
// operation's context, whose state tells a timeout from a cancellation.
func (c *Connector) classify(ctx context.Context, op string, err error, p probe) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	if op != opConnect && c.Status().State == StateClosed {
		return c.newError(KindNotConnected, fmt.Errorf("%s: the connector was closed during the call: %w", op, err))
	}
	// The refusal is the cause, whatever go-sdk reported on the way out
	// (often the connection it closed after the failed send).
	if refused := p.refusal(); refused != nil {
		return c.newError(KindTransport, fmt.Errorf("%s: %w", op, refused))
	}
	if tl := p.tooLarge(err); tl != nil {
		return c.newError(KindTooLarge, fmt.Errorf("%s: %w", op, tl))
	}
	// go-sdk wraps a failed authorization into "rejected by transport";
	// underneath is the handler's own account of what went wrong.
	var ae *oauth.AuthorizationError
	if errors.As(err, &ae) && !errors.Is(ctx.Err(), context.Canceled) {
		return c.newError(KindAuth, &explained{msg: fmt.Sprintf("%s: %s", op, c.authorizationHint(ae)), err: ae})
	}
	if hint, rejected := c.tlsHint(err); hint != "" {
		kind := KindTransport
		if rejected {
			kind = KindAuth
		}
		return c.newError(kind, fmt.Errorf("%s: %s: %w", op, hint, err))
	}
	// An OAuth flow that ran out of time (a login nobody finished) is a
	// timeout, whatever 401 started it.
	if status, ok := p.rejected(); ok && !(c.cfg.Auth.IsOAuth() && ctx.Err() != nil) {
		return c.newError(KindAuth, fmt.Errorf("%s: %s", op, c.rejectionHint(status)))
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return c.newError(KindTimeout, fmt.Errorf("%s: no answer in time (%s): %w", op, c.timeoutText(ctx), err))
	case errors.Is(ctx.Err(), context.Canceled):
		return c.newError(KindCanceled, fmt.Errorf("%s: %w", op, err))
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) && !localRPCCode(rpcErr.Code) {
		return c.newError(KindProtocol, fmt.Errorf("%s: %w", op, err))
	}
	if errors.Is(err, exec.ErrNotFound) {
		return c.newError(KindConfig, fmt.Errorf("%s: command: %w", op, err))
	}
	if op != opConnect && (errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return c.newError(KindTransport, fmt.Errorf("%s: the connection to the server broke during the call (the server exited or closed it); the call was not retried, since it may have run and tools need not be idempotent: %w", op, err))
	}
	return c.newError(KindTransport, fmt.Errorf("%s: %w", op, err))
}

const opConnect = "connect"

// localRPCCodes are the JSON-RPC error codes go-sdk uses for failures on
// mediator's side of the wire (client closing -32003, server closing
// -32004, rejected by transport -32005): the server never answered, so
// they are transport errors, not the server's protocol errors.
func localRPCCode(code int64) bool { return code == -32003 || code == -32004 || code == -32005 }

func (c *Connector) rejectionHint(status int) string {
	what := fmt.Sprintf("the server answered HTTP %d %s", status, http.StatusText(status))
	if c.opts.Authenticator != nil {
		return what + ": it rejected the credential"
	}
	switch c.cfg.Auth.Type {
	case AuthOAuth:
		return fmt.Sprintf("%s although mediator sent a token from its authorization server; %s", what, c.LoginHint())
	case AuthClientCredentials, AuthJWTBearer, AuthEnterprise:
		return fmt.Sprintf("%s although mediator sent a token from its authorization server: check that the client in auth may use this server", what)
	case AuthMTLS:
		return what + "; it wants a credential beyond the client certificate (add auth, with tls: for the certificate)"
	case AuthNone:
		return what + "; it requires authentication, but this server's auth type is none (set auth in the config)"
	case AuthAPIKey, AuthBearer:
		return fmt.Sprintf("%s: it rejected the credential from keyring item %q (store the right one with `mediator secret set %s %s`)",
			what, c.cfg.Auth.Secret, c.cfg.Name, c.cfg.Auth.Secret)
	}
	return what + ": it rejected the credential"
}

// explained is an error whose message tells the story better than its
// chain's would (go-sdk's "rejected by transport" wrapping), while errors.As
// still finds what is underneath.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// LoginHint tells the user how to log in to an oauth server.
func (c *Connector) LoginHint() string {
	return fmt.Sprintf("log in with `mediator auth login %s`", c.cfg.Name)
}

// authorizationHint says why the OAuth flow failed and what fixes it.
func (c *Connector) authorizationHint(ae *oauth.AuthorizationError) string {
	// The handler names its server for callers of its own; this message
	// is already about the server.
	why := strings.TrimPrefix(ae.Err.Error(), fmt.Sprintf("server %q: ", c.cfg.Name))
	switch {
	case ae.LoginRequired():
		return fmt.Sprintf("%s; %s", why, c.LoginHint())
	case c.cfg.Auth.Type == AuthOAuth:
		return fmt.Sprintf("authorization failed: %s (%s to start over)", why, c.LoginHint())
	}
	return "authorization failed: " + why
}

// newError builds an *Error for this server whose text holds no secret value
// this connector has fetched. When err's text held one, the chain is cut:
// the wrapped errors would still print it.
func (c *Connector) newError(kind Kind, err error) *Error {
	msg := err.Error()
	if clean := c.redactor.Redact(msg); clean != msg {
		err = errors.New(clean)
	}
	return &Error{Server: c.cfg.Name, Kind: kind, Err: err}
}
