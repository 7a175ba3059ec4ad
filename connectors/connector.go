package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
)

// Options configures New.
type Options struct {
	Config Config
	// Secrets must be scoped to Config.Name's server.
	Secrets SecretSource
	// Logger receives the connector's logs. The connector names its server
	// on each record (attribute "server"), so pass one without it.
	Logger *slog.Logger
	// ClientInfo names mediator to the server.
	ClientInfo *mcp.Implementation
	// BaseTransport is the HTTP round tripper under the auth layer; nil means
	// a fresh *http.Transport of this connector's own.
	BaseTransport http.RoundTripper
	// Stderr receives a stdio server's stderr; nil discards it.
	Stderr io.Writer
	// ProtectedPaths are mediator's own directories and files (config,
	// state, keyring, audit log): a sandboxed stdio server is never granted
	// any of them, nor a directory that holds one.
	ProtectedPaths []string
	// NewTransport, when set, replaces the transport built from Config (an
	// in-process server, a test harness). Auth from Config does not apply to it.
	NewTransport func(ctx context.Context) (mcp.Transport, error)
	// Authenticator, when set, replaces the one built from Config.Auth for
	// an HTTP server: an auth flow driven from outside the config, such as a
	// conformance harness. The origin rules apply to it all the same.
	Authenticator Authenticator
	// Reconnect shapes the delays between reconnect attempts after a session
	// drops; zero fields take the defaults of [Backoff].
	Reconnect Backoff
	// Login makes an oauth server's authorization interactive (see [Login]);
	// nil means stored logins only.
	Login *Login
	// TokenStore, when set, keeps the OAuth types' tokens and registrations
	// instead of the keyring behind Secrets.
	TokenStore oauth.TokenStore
	// LockDir holds the lock files mediator processes take turns with at
	// refreshing an OAuth server's token (see oauth.Config.RefreshLock);
	// empty means refreshes are single-flight within this process only.
	LockDir string
	// Now is the clock OAuth tokens' expiry is judged by; nil means
	// time.Now. Tests move it past an expiry.
	Now func() time.Time
	// Shutdowns, when set, follows a stdio server after Close, which then
	// returns as soon as the server's stdin is closed; nil makes Close
	// wait for the server to exit.
	Shutdowns *Shutdowns
	// Host handles what the server asks of the client (sampling,
	// elicitation) and what it notifies; see [Host].
	Host Host
}

// Connector is one authenticated MCP client for one server. It is safe for
// concurrent use.
type Connector struct {
	opts     Options
	log      *slog.Logger // opts.Logger with the server's name
	cfg      Config       // normalized
	origin   origin       // of cfg.URL; zero for stdio
	backoff  Backoff
	redactor *credentials.Redactor
	limit    *resultLimit   // max_result_bytes
	cancels  *cancelNotices // nil over Options.NewTransport
	subs     subscriptions  // resource subscriptions, kept across sessions
	progress progressRoutes
	// logLevel is what the server is asked to log (serverLogLevel).
	logLevelOnce sync.Once
	logLevel     string

	// hostMu guards the roots offered and the go-sdk client of the
	// latest connect attempt, which SetRoots tells of a change.
	hostMu  sync.Mutex
	roots   []string
	client  *mcp.Client
	tasks   *taskState  // what the sessions' wires learnt (see taskWire)
	notices noticeOrder // the log and progress notifications read and handled

	// life is canceled by Close; it bounds reconnects and aborts dials.
	life       context.Context
	cancelLife context.CancelFunc
	wg         sync.WaitGroup // the session watcher and its reconnect loop

	// oauth is the OAuth types' authenticator, built at the first connect
	// and kept across reconnects.
	oauthMu sync.Mutex
	oauth   *oauthAuthenticator

	mu         sync.Mutex
	session    *mcp.ClientSession
	stack      *httpStack // the session's HTTP machinery; nil for stdio
	status     Status
	changed    chan struct{}
	closed     bool
	readySince time.Time
	streak     int // reconnect attempts since the last session that lasted
}

// New validates the config and returns an unconnected connector. A config
// problem is an *Error of KindConfig naming the field.
func New(opts Options) (*Connector, error) {
	cfg, err := opts.Config.normalize(opts.NewTransport != nil)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClientInfo == nil {
		opts.ClientInfo = &mcp.Implementation{Name: "mediator", Version: "dev"}
	}
	c := &Connector{
		opts:     opts,
		log:      opts.Logger.With("server", cfg.Name),
		cfg:      cfg,
		backoff:  opts.Reconnect.withDefaults(),
		redactor: credentials.NewRedactor(),
		limit:    &resultLimit{max: cfg.MaxResultBytes},
		status:   Status{State: StateIdle, Since: time.Now()},
		changed:  make(chan struct{}),
		roots:    cfg.Roots,
		tasks:    newTaskState(),
	}
	if cfg.URL != "" {
		c.origin, _ = serverOrigin(cfg.URL) // normalize checked it
	}
	if opts.NewTransport == nil {
		c.cancels = newCancelNotices()
	}
	c.tasks.orphan = c.cancelOrphan
	c.life, c.cancelLife = context.WithCancel(context.Background())
	return c, nil
}

// Name is the server's name.
func (c *Connector) Name() string { return c.cfg.Name }

// Transport is the transport in use: one of the Transport* constants, or
// "in-process" for Options.NewTransport without a URL or command.
func (c *Connector) Transport() string {
	if c.cfg.Transport == "" {
		return transportInProcess
	}
	return c.cfg.Transport
}

// Endpoint is where the server is, for listings: the URL (a password in it
// masked) or the command line of a stdio server. It never holds a secret
// value; environment values are not shown.
func (c *Connector) Endpoint() string {
	switch {
	case c.cfg.URL != "":
		if u, err := url.Parse(c.cfg.URL); err == nil {
			return u.Redacted()
		}
		return c.cfg.URL
	case c.cfg.Command != "":
		return commandLine(c.cfg.Command, c.cfg.Args)
	}
	return transportInProcess
}

// Connect opens the session, bounded by the server's timeout and ctx. It
// returns nil at once when the connector is ready; when a connect or
// reconnect is already under way it waits for that one (within the same
// bound) and reports its outcome. After a failure it may be called again.
// The error is an *Error; KindAuth also puts the connector in
// StateAuthRequired.
func (c *Connector) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.status.State == StateConnecting {
		c.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		st, err := c.WaitFor(wctx, StateReady, StateFailed, StateAuthRequired, StateClosed)
		if err != nil {
			return c.waitError(wctx, opConnect)
		}
		switch st.State {
		case StateReady:
			return nil
		case StateClosed:
			return c.newError(KindNotConnected, errors.New("the connector is closed"))
		}
		var ce *Error
		if errors.As(st.Err, &ce) {
			return ce
		}
		return c.newError(KindTransport, fmt.Errorf("%s: %v", opConnect, st.Err))
	}
	switch c.status.State {
	case StateReady:
		c.mu.Unlock()
		return nil
	case StateClosed:
		c.mu.Unlock()
		return c.newError(KindNotConnected, errors.New("the connector is closed"))
	}
	c.setStateLocked(StateConnecting, nil)
	// Close waits for this attempt, which may be starting a process.
	c.wg.Add(1)
	defer c.wg.Done()
	c.mu.Unlock()

	// Close aborts a dial in progress.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel)
	defer stop()

	cs, st, cerr := c.dial(dctx)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.discard(cs, st)
		return c.newError(KindNotConnected, errors.New("the connector was closed while connecting"))
	}
	defer c.mu.Unlock()
	if cerr != nil {
		c.setStateLocked(failureState(cerr), cerr)
		return cerr
	}
	c.adoptLocked(cs, st)
	return nil
}

// failureState is where a failed connect leaves the connector.
func failureState(err *Error) State {
	if err.Kind == KindAuth {
		return StateAuthRequired
	}
	return StateFailed
}

// adoptLocked makes cs the live session and starts watching it. c.mu must
// be held and c.closed false, which keeps wg.Add from racing Close's Wait.
func (c *Connector) adoptLocked(cs *mcp.ClientSession, st *httpStack) {
	c.session, c.stack = cs, st
	c.readySince = time.Now()
	c.setStateLocked(StateReady, nil)
	c.wg.Add(1)
	go c.watch(cs, c.limit.trips.Load())
	// The URIs subscribed before this session: one subscribed after it
	// opened was sent on it already.
	uris := c.subscribedURIs()
	c.wg.Go(func() { c.resubscribe(cs, uris) })
}

// discard closes a session that nobody will use, off the caller's path.
func (c *Connector) discard(cs *mcp.ClientSession, st *httpStack) {
	if cs != nil {
		_ = cs.Close()
	}
	st.close()
}

// Close ends the session, stops any reconnect loop, and returns once no
// goroutine of the connector is left. A stdio server's stdin is closed;
// Close waits for the server to exit unless Options.Shutdowns follows it.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	cs, st := c.session, c.stack
	c.session, c.stack = nil, nil
	c.setStateLocked(StateClosed, nil)
	c.mu.Unlock()
	c.cancelLife()

	var err error
	if cs != nil {
		if cerr := cs.Close(); cerr != nil {
			err = c.newError(KindTransport, fmt.Errorf("closing the session: %w", cerr))
		}
	}
	st.close()
	c.wg.Wait()
	return err
}
