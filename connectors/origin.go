package connectors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// origin is scheme, host and port: the boundary a server's credential never
// crosses.
type origin struct{ scheme, host, port string }

func originOf(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "http":
			o.port = "80"
		case "https":
			o.port = "443"
		}
	}
	return o
}

func (o origin) String() string { return o.scheme + "://" + net.JoinHostPort(o.host, o.port) }

// httpStack is one connect attempt's HTTP machinery: the connector's own
// client and transport with the credential layer in between. A new stack is
// built at every connect so a rotated secret or certificate takes effect,
// and the previous one's idle connections are closed.
type httpStack struct {
	client *http.Client
	own    *http.Transport // nil when Options.BaseTransport is used
	origin *originTransport
	// ctx outlives the connect attempt and bounds long-lived streams (the
	// legacy SSE GET); close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
}

// newHTTPStack builds the stack; ct, from Config.TLS, may be nil, and
// headers are Config.Headers.
func newHTTPStack(server origin, base http.RoundTripper, authn Authenticator, ct *clientTLS, headers map[string]string) (*httpStack, error) {
	st := &httpStack{}
	if base == nil {
		st.own = http.DefaultTransport.(*http.Transport).Clone()
		st.own.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		base = st.own
	}
	for _, ta := range []TLSAuthenticator{asTLS(authn), ct.authenticator()} {
		if ta == nil {
			continue
		}
		if st.own == nil {
			// Fail closed: a client certificate or CA bundle the user
			// configured must never be dropped silently.
			return nil, errors.New("this server's TLS settings (client certificate, CA bundle) need the connector's own transport; Options.BaseTransport replaces it")
		}
		if err := ta.ConfigureTLS(st.own.TLSClientConfig); err != nil {
			return nil, fmt.Errorf("configuring TLS: %w", err)
		}
		if st.own.TLSClientConfig.MinVersion < tls.VersionTLS12 {
			return nil, errors.New("configuring TLS: the auth type lowered the minimum TLS version below 1.2")
		}
	}
	if tw, ok := authn.(TransportAuthenticator); ok {
		base = tw.WrapTransport(base)
	}
	// Not derived from the connector's life: Close ends the session (a
	// streamable DELETE) before it closes the stack.
	st.ctx, st.cancel = context.WithCancel(context.Background())
	st.origin = &originTransport{server: server, base: base, life: st.ctx, grace: bodyGrace}
	if _, none := authn.(noAuth); !none {
		// Only a credential or a header needs the per-request clone.
		st.origin.authn = authn
	}
	if len(headers) > 0 {
		st.origin.headers = make(http.Header, len(headers))
		for k, v := range headers {
			st.origin.headers.Set(k, v)
		}
	}
	st.client = &http.Client{Transport: st.origin, CheckRedirect: st.origin.checkRedirect}
	return st, nil
}

func asTLS(a Authenticator) TLSAuthenticator {
	ta, _ := a.(TLSAuthenticator)
	return ta
}

func (st *httpStack) close() {
	if st == nil {
		return
	}
	st.cancel()
	if st.own != nil {
		st.own.CloseIdleConnections()
	}
}

// sseTransport starts the legacy SSE transport on the stack's context.
// go-sdk ties the SSE GET stream to the context given to Connect, and the
// connect attempt's context ends with the attempt; dial still bounds getting
// the stream going, by canceling the stack when the attempt runs out.
type sseTransport struct {
	inner mcp.Transport
	st    *httpStack
}

func (t sseTransport) Connect(context.Context) (mcp.Connection, error) {
	return t.inner.Connect(t.st.ctx)
}

// originTransport pins a connector's HTTP traffic to its server's origin:
// it adds the credential to requests for that origin and refuses requests
// for any other. It also counts the server's 401/403 answers: without an
// OAuthHandler go-sdk reports those only as a status text, and the connector
// needs to tell "credential rejected" from "unreachable".
type originTransport struct {
	server  origin
	base    http.RoundTripper
	authn   Authenticator
	headers http.Header     // Config.Headers, canonical; set before the credential
	life    context.Context // the stack's
	grace   time.Duration   // bodyGrace; tests choose their own
	limit   *sessionLimit   // bounds each message in a response; nil means none
	wire    *taskWire       // the session's task wire; nil means none
	cancels *cancelNotices  // told of each notifications/cancelled sent; nil means none

	rejections atomic.Int64 // 401 and 403 answers from the server's origin
	lastStatus atomic.Int32

	refusals    atomic.Int64 // requests refused for going to another origin
	lastRefusal atomic.Pointer[error]
}

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if to := originOf(req.URL); to != t.server {
		// Not even without the credential: the body is an MCP message,
		// and a server must not be able to point mediator's requests at
		// another host (a legacy SSE server names the URL its messages go
		// to; an internal address there would make mediator a proxy).
		if req.Body != nil {
			_ = req.Body.Close()
		}
		err := fmt.Errorf("refusing a request to %s: this server's connector talks only to the origin of its configured url, %s", to, t.server)
		// go-sdk may report the connection it then closes rather than
		// this; the connector's errors name the refusal (see probe).
		t.lastRefusal.Store(&err)
		t.refusals.Add(1)
		return nil, err
	}
	// The request runs on a context of its own, which the caller's
	// cancellation ends (see inflight) and so does the stack's: go-sdk
	// sends some requests (the cancellation notice of a timed-out call) on
	// contexts of its own, which a server that never answers would hold
	// open, and a failed connect attempt or a closed connector must leave
	// nothing in flight.
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	r := &inflight{cancel: cancel, grace: t.grace}
	r.stopCaller = context.AfterFunc(req.Context(), r.callerDone)
	r.stopLife = context.AfterFunc(t.life, cancel)
	if t.authn != nil || t.headers != nil {
		// RoundTrip must not modify the caller's request.
		req = req.Clone(ctx)
		for k, v := range t.headers {
			req.Header[k] = append([]string(nil), v...)
		}
	}
	if t.authn != nil {
		if err := t.authn.Authenticate(req); err != nil {
			r.finish()
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("adding credential: %w", err)
		}
	} else if t.headers == nil {
		req = req.WithContext(ctx)
	}
	if t.cancels != nil && isCancelNoticeRequest(req) {
		// Answered or failed, the notice has gone as far as it can.
		defer t.cancels.sent()
	}
	var resp *http.Response
	var err error
	if t.wire != nil {
		resp, err = t.wire.roundTrip(req, t.base.RoundTrip)
	} else {
		resp, err = t.base.RoundTrip(req)
	}
	if err != nil {
		r.finish()
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		t.lastStatus.Store(int32(resp.StatusCode))
		t.rejections.Add(1)
	}
	r.ReadCloser = t.limit.body(resp)
	r.reading.Store(true)
	resp.Body = r
	return resp, nil
}

// bodyGrace is how long a response body being read may outlive its
// caller's cancellation. go-sdk hands a call's result back while it still
// drains the rest of the response, and the caller then cancels the call's
// context (every connector call has a timeout): canceling the request at
// that moment would discard the keep-alive connection, and the next call
// would dial a new one. A caller that gives up on a stream that is still
// going (a slow tool) has it ended this much later.
const bodyGrace = 100 * time.Millisecond

// inflight is one request's lifetime: its cancel function, and, once the
// response arrived, its body, which releases everything when closed; a
// streamed response (SSE) keeps the request until then.
type inflight struct {
	io.ReadCloser
	cancel     context.CancelFunc
	grace      time.Duration
	reading    atomic.Bool // the response arrived; its body is being read
	stopCaller func() bool
	stopLife   func() bool
	once       sync.Once
}

// callerDone ends the request when its caller's context ends: at once
// while waiting for the response, after bodyGrace once reading it.
func (r *inflight) callerDone() {
	if r.reading.Load() {
		time.AfterFunc(r.grace, r.cancel)
		return
	}
	r.cancel()
}

func (r *inflight) finish() {
	r.stopCaller()
	r.stopLife()
	r.cancel()
}

func (r *inflight) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.finish)
	return err
}

// checkRedirect refuses every redirect that leaves the server's origin
// (RoundTrip would refuse the request anyway; this names the redirect). A
// 307/308 would resend the JSON-RPC body, tool arguments included, to a host
// the user never configured. The message names the new location, so the
// user can put it in the config if the move is legitimate. Redirects within
// the origin (e.g. /mcp to /mcp/) are followed.
func (t *originTransport) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if to := originOf(req.URL); to != t.server {
		return fmt.Errorf("refusing redirect from %s to another origin %s: a server's credential and messages go only to the origin of its configured url (change the url if the server moved)", t.server, to)
	}
	return nil
}
