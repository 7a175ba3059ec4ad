package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// serverNameRule: letters, digits and hyphens, with single underscores only
// between them. No dot keeps "server.tool" splittable at the first dot; no
// "__" and no leading or trailing "_" keeps "server__tool" splittable at the
// first "__". Together they make every server's names disjoint from every
// other server's, so cross-server collisions cannot happen by construction.
var serverNameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*(_[A-Za-z0-9-]+)*$`)

// ValidateServerName reports whether name can be a server name. The config
// layer calls it to reject bad names with the same rule and message.
func ValidateServerName(name string) error {
	if name == "" {
		return errors.New("server name is empty")
	}
	if !serverNameRule.MatchString(name) {
		return fmt.Errorf("server name %q is not valid: use letters, digits and '-', with single '_' only between them "+
			"(no '.', no '__', no leading or trailing '_'), so that %q and %q name its tools unambiguously",
			name, name+".TOOL", name+"__TOOL")
	}
	return nil
}

// server is one configured server and what the orchestrator knows of it.
type server struct {
	cfg  ServerConfig
	conn *connectors.Connector

	mu     sync.Mutex
	flight *flight
	cat    *catalogue
	// catSince is the connector's Status.Since when cat was listed (or
	// the listing refused, see refusedListing): a changed value means a
	// new session, whose tools must be listed (and checked against the
	// pins) again.
	catSince time.Time
	catErr   error
	// pinGen counts the accepts of this server's tools: a listing that
	// started before one was checked against older pins, and is checked
	// again before it becomes the catalogue.
	pinGen uint64
}

// flight is one connect-and-list attempt that concurrent callers share.
type flight struct {
	done chan struct{}
	cat  *catalogue
	err  error
}

func (o *Orchestrator) buildServers(cfgs []ServerConfig) (map[string]*server, []string, error) {
	var problems []error
	servers := make(map[string]*server, len(cfgs))
	folded := make(map[string]string, len(cfgs))
	for i, cfg := range cfgs {
		where := fmt.Sprintf("servers[%d]", i)
		if cfg.Name != "" {
			where = fmt.Sprintf("server %q", cfg.Name)
		}
		if err := ValidateServerName(cfg.Name); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if _, dup := servers[cfg.Name]; dup {
			problems = append(problems, fmt.Errorf("%s is configured twice; server names must be unique", where))
			continue
		}
		if other, dup := folded[strings.ToLower(cfg.Name)]; dup {
			// Their pin files would be one file on a case-insensitive file system.
			problems = append(problems, fmt.Errorf("%s and server %q differ only in case; server names must differ in more than case", where, other))
			continue
		}
		folded[strings.ToLower(cfg.Name)] = cfg.Name
		if cfg.MaxTools < 0 {
			problems = append(problems, fmt.Errorf("%s: MaxTools is %d; use 0 for the default (%d) or a positive cap", where, cfg.MaxTools, DefaultMaxTools))
			continue
		}
		if err := cfg.Tools.check(); err != nil {
			problems = append(problems, fmt.Errorf("%s: tools: %w", where, err))
			continue
		}
		if err := cfg.Resources.check(); err != nil {
			problems = append(problems, fmt.Errorf("%s: resources: %w", where, err))
			continue
		}
		if err := cfg.Prompts.check(); err != nil {
			problems = append(problems, fmt.Errorf("%s: prompts: %w", where, err))
			continue
		}
		var stderr io.Writer = o.opts.Stderr
		if cfg.Stderr != nil {
			stderr = cfg.Stderr
		}
		conn, err := connectors.New(connectors.Options{
			Config:         cfg.Config,
			Secrets:        o.secretsFor(cfg.Name),
			Logger:         o.log, // the connector names its server on its records
			ClientInfo:     o.opts.ClientInfo,
			Stderr:         stderr,
			NewTransport:   cfg.NewTransport,
			LockDir:        o.opts.LockDir,
			ProtectedPaths: o.opts.ProtectedPaths,
			Shutdowns:      o.opts.Shutdowns,
			Host:           o.connectorHost(),
		})
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		}
		servers[cfg.Name] = &server{cfg: cfg, conn: conn}
	}
	if len(problems) > 0 {
		return nil, nil, &Error{Kind: KindInvalidConfig, Msg: "invalid server configuration", Err: errors.Join(problems...)}
	}
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return servers, names, nil
}

// secretsFor scopes the provider to one server, so a connector can never
// ask for another server's credential.
func (o *Orchestrator) secretsFor(name string) connectors.SecretSource {
	if o.opts.Secrets != nil {
		if ss := o.opts.Secrets.ForServer(name); ss != nil {
			return ss
		}
	}
	return noSecrets{server: name}
}

// noSecrets stands in when no store is configured, so a server that needs a
// credential fails with a message that says why instead of a nil dereference.
type noSecrets struct{ server string }

func (n noSecrets) Secret(_ context.Context, name string) (credentials.Secret, error) {
	return credentials.Secret{}, fmt.Errorf("secret %q of server %q: no credential store is configured: %w", name, n.server, credentials.ErrNotFound)
}

// lookup finds a configured server or says which names were meant.
func (o *Orchestrator) lookup(name string) (*server, error) {
	if s, ok := o.servers[name]; ok {
		return s, nil
	}
	sug := suggest.Ranked(name, o.names)
	msg := fmt.Sprintf("unknown server %q%s", name, suggest.DidYouMean(sug))
	if len(sug) == 0 {
		if len(o.names) == 0 {
			msg += "; no servers are configured"
		} else {
			msg += "; configured servers: " + strings.Join(o.names, ", ")
		}
	}
	return nil, &Error{Kind: KindUnknownServer, Suggestions: sug, Msg: msg}
}

// Connect connects the named servers (all when none are named)
// concurrently. One slow or broken server never blocks the others; their
// failures show in Servers(). It returns when every attempt has settled.
// Unknown names are logged and skipped.
func (o *Orchestrator) Connect(ctx context.Context, servers ...string) {
	if len(servers) == 0 {
		servers = o.names
	}
	var wg sync.WaitGroup
	for _, name := range servers {
		s, err := o.lookup(name)
		if err != nil {
			o.log.Warn("connect: skipping server", "error", err)
			continue
		}
		wg.Go(func() {
			if _, err := o.catalogueOf(ctx, s); err != nil {
				// Info, not Warn: the caller shows the failure (the CLI in its
				// table of servers), and the default level must not repeat it.
				o.log.Info("server unavailable", "server", name, "error", o.redact(err.Error()))
			}
		})
	}
	wg.Wait()
}

// relist lists the server's tools afresh and makes that listing the
// session's catalogue: once mediator has seen a server's tools change,
// calls are checked against what it saw.
func (o *Orchestrator) relist(ctx context.Context, s *server) (*catalogue, error) {
	s.mu.Lock()
	s.cat, s.catErr = nil, nil
	s.mu.Unlock()
	return o.catalogueOf(ctx, s)
}

// catalogueOf returns the server's tool catalogue for its current session,
// connecting and listing first if needed. Concurrent callers share one
// attempt; a caller whose ctx ends stops waiting without cancelling it.
func (o *Orchestrator) catalogueOf(ctx context.Context, s *server) (*catalogue, error) {
	if o.closed.Load() {
		return nil, &Error{Kind: KindClosed, Server: s.cfg.Name, Msg: "orchestrator is closed"}
	}
	s.mu.Lock()
	if s.cat != nil || refusedListing(s.catErr) {
		st := s.conn.Status()
		if st.State == connectors.StateReady && st.Since.Equal(s.catSince) {
			cat, err := s.cat, s.catErr
			s.mu.Unlock()
			return cat, err
		}
	}
	if f := s.flight; f != nil {
		s.mu.Unlock()
		select {
		case <-f.done:
			return f.cat, f.err
		case <-ctx.Done():
			return nil, connectionError(s.cfg.Name, "", fmt.Errorf("waiting for the connection: %w", ctx.Err()))
		}
	}
	f := &flight{done: make(chan struct{})}
	s.flight = f
	gen := s.pinGen
	s.mu.Unlock()

	cat, since, err := o.load(ctx, s)

	s.mu.Lock()
	// A listing may be under way when the server says its tools changed
	// and the user accepts some: never keep one checked against old pins.
	for err == nil && cat != nil && s.pinGen != gen {
		gen = s.pinGen
		s.mu.Unlock()
		cat, err = o.buildCatalogue(ctx, s, cat.offered())
		s.mu.Lock()
	}
	s.flight = nil
	s.cat, s.catSince, s.catErr = cat, since, err
	f.cat, f.err = cat, err
	close(f.done)
	s.mu.Unlock()
	return cat, err
}

// refusedListing reports whether err refuses what the server listed (too
// many tools, colliding names): the session's listing stays refused
// until the session ends or the tools are listed afresh, rather than be
// fetched again by every call.
func refusedListing(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && (oe.Kind == KindTooManyTools || oe.Kind == KindCollision)
}

// load connects the server if its connector is not ready, lists its tools
// and builds the catalogue, all within the server's own timeout.
func (o *Orchestrator) load(ctx context.Context, s *server) (*catalogue, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if s.conn.Status().State != connectors.StateReady {
		if err := s.conn.Connect(ctx); err != nil {
			return nil, time.Time{}, o.connErr(s.cfg.Name, "", err)
		}
	}
	// Taken before listing: a reconnect while listing changes Since, and the
	// next call lists again rather than trusting a list from the old session.
	since := s.conn.Status().Since
	tools, err := o.listTools(ctx, s)
	if err != nil {
		return nil, since, err
	}
	now, err := offered(s.cfg.Name, tools)
	if err != nil {
		return nil, since, err
	}
	cat, err := o.buildCatalogue(ctx, s, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	return cat, since, nil
}

func (s *server) timeout() time.Duration {
	if s.cfg.Timeout > 0 {
		return s.cfg.Timeout
	}
	return connectors.DefaultTimeout
}

// listTools lists the server's tools, up to its cap. A server that offers
// more has its whole list refused rather than cut short: which tools made
// the cut would be up to the server's order, and the rest of the listing is
// never fetched, let alone pinned.
func (o *Orchestrator) listTools(ctx context.Context, s *server) ([]*mcp.Tool, error) {
	max := s.cfg.MaxTools
	if max <= 0 {
		max = DefaultMaxTools
	}
	tools, more, err := s.conn.ListToolsUpTo(ctx, max)
	if err != nil {
		return nil, o.connErr(s.cfg.Name, "", fmt.Errorf("listing tools: %w", err))
	}
	if more {
		name := s.cfg.Name
		return nil, &Error{Kind: KindTooManyTools, Server: name,
			Msg: fmt.Sprintf("server %q offers more than %d tools, the most mediator takes from it (its max_tools setting, servers.%s.max_tools in the config; default %d); "+
				"its whole tool list is refused rather than cut short: raise max_tools if you expect that many", name, max, name, DefaultMaxTools)}
	}
	return tools, nil
}

// connErr wraps a connector failure with its message redacted: a server
// may echo a credential back in an error body.
func (o *Orchestrator) connErr(server, tool string, err error) *Error {
	e := connectionError(server, tool, err)
	e.Err = &redactedError{err: err, msg: o.redact(err.Error())}
	return e
}

// redactedError keeps the original chain for errors.As/Is while its
// message has every known secret masked.
type redactedError struct {
	err error
	msg string
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

func (o *Orchestrator) redact(s string) string { return o.opts.Redactor.Redact(s) }

// Servers reports every configured server, in name order.
func (o *Orchestrator) Servers() []ServerStatus {
	out := make([]ServerStatus, 0, len(o.names))
	for _, name := range o.names {
		s := o.servers[name]
		row := ServerStatus{
			Name:      name,
			Transport: s.conn.Transport(),
			Endpoint:  o.redact(s.conn.Endpoint()),
			Sandbox:   s.conn.Sandbox(),
			Status:    s.conn.Status(),
		}
		if row.Err != nil {
			row.Err = &redactedError{err: row.Err, msg: o.redact(row.Err.Error())}
		}
		s.mu.Lock()
		if s.cat != nil {
			row.Tools = len(s.cat.names)
		}
		row.ToolsErr = s.catErr
		s.mu.Unlock()
		// A connection failure already shows in Status; ToolsErr is for a
		// tool list that is unusable although the connection is up.
		var oe *Error
		if errors.As(row.ToolsErr, &oe) && (oe.Kind == KindConnection || oe.Kind == KindServer) {
			row.ToolsErr = nil
		}
		out = append(out, row)
	}
	return out
}

// Close closes every connector concurrently and then the audit log.
func (o *Orchestrator) Close() error {
	o.bgMu.Lock()
	was := o.closed.Swap(true)
	o.bgMu.Unlock()
	if was {
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, name := range o.names {
		s := o.servers[name]
		wg.Go(func() {
			if err := s.conn.Close(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("closing server %q: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	o.bg.Wait() // its listings fail at once on closed connectors
	if o.audit != nil {
		if err := o.audit.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// check rejects malformed patterns up front, so a typo in the config is an
// error at start rather than a filter that silently matches nothing.
func (f ToolFilter) check() error {
	for _, list := range [][]string{f.Allow, f.Deny} {
		for _, p := range list {
			if strings.Contains(strings.TrimSuffix(p, "**"), "**") {
				return fmt.Errorf("pattern %q: \"**\" may only end a pattern (\"demo://docs/**\")", p)
			}
			if _, err := path.Match(strings.TrimSuffix(p, "**"), ""); err != nil {
				return fmt.Errorf("pattern %q: %w (use path.Match globs: *, ?, [a-z]; a final ** matches the rest)", p, err)
			}
		}
	}
	return nil
}
