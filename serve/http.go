package serve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The paths HTTPHandler serves: the MCP endpoint (streamable HTTP), and
// the protected-resource metadata (RFC 9728) at the well-known path, both
// at its root form and with the endpoint's path appended.
const (
	MCPPath      = "/mcp"
	MetadataPath = "/.well-known/oauth-protected-resource"
)

// HTTPOptions configures HTTPHandler: who may call, and from which web
// origins.
type HTTPOptions struct {
	// URL is where hosts reach the server, scheme://host:port without a
	// path (e.g. https://mediator.example:7421). The MCP endpoint,
	// URL+MCPPath, is the protected resource the metadata names, and the
	// URL's origin is always allowed.
	URL string
	// Tokens are the bearer tokens that may call; with none, NoAuth must
	// say so.
	Tokens []Token
	// NoAuth serves every request without a token. It is refused with
	// Tokens; CheckListen allows it on loopback only.
	NoAuth bool
	// AllowedOrigins are the web origins (scheme://host[:port]) besides
	// URL's whose pages may call; a request with any other Origin header
	// is refused 403. A request without Origin (not from a browser) is
	// not concerned.
	AllowedOrigins []string
	Logger         *slog.Logger
}

// Token is one bearer token, known only by its SHA-256: the token itself
// is never stored.
type Token struct {
	// Name says whose token it is, in logs and audit; a session begun
	// with one token cannot be used with another.
	Name string
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string
	// Tools are globs (path.Match) on the names the host uses for
	// gateway tools, prompts and resource URIs (weather__*); Workflows,
	// on workflow tools' names. A name matching neither is refused.
	Tools, Workflows []string
}

// HashToken is the hex SHA-256 of a token, as Token.SHA256 holds it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidateToken checks a token's hash and globs; the errors name the
// field.
func ValidateToken(t Token) error {
	if t.Name == "" {
		return errors.New("name is not set")
	}
	if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("token_sha256: %q is not a SHA-256 in hex (64 characters 0-9a-f); `mediator serve token create %s` prints one", t.SHA256, t.Name)
	}
	for _, list := range []struct {
		field string
		globs []string
	}{{"tools", t.Tools}, {"workflows", t.Workflows}} {
		for i, g := range list.globs {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("%s[%d]: %q is not a valid glob (* ? [a-z]): %w", list.field, i, g, err)
			}
		}
	}
	return nil
}

// CheckListen refuses to serve on addr what would be unsafe: without TLS
// beyond loopback (unless insecureListen), and beyond loopback with no
// token at all, since anyone on the network could then call.
func (o HTTPOptions) CheckListen(addr string, tls, insecureListen bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w; write HOST:PORT, e.g. 127.0.0.1:7421", addr, err)
	}
	if IsLoopback(host) {
		return nil
	}
	if len(o.Tokens) == 0 {
		return fmt.Errorf("listen address %s is not loopback and serve.http.tokens is empty: anyone who can reach it could use every server's credentials; add a token (mediator serve token create NAME) or listen on 127.0.0.1", addr)
	}
	if !tls && !insecureListen {
		return fmt.Errorf("listen address %s is not loopback and serve.http.tls is not set: the bearer tokens would cross the network in clear; set serve.http.tls {cert: FILE, key_file: FILE}, listen on 127.0.0.1, or pass --insecure-listen if a TLS proxy fronts it", addr)
	}
	return nil
}

// IsLoopback reports whether host (a name or an address) is loopback:
// localhost, 127.0.0.0/8 or ::1. An empty host listens on every address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

type scopeKey struct{}

// tokenScope returns the token a request came with, put in ctx by
// HTTPHandler.
func tokenScope(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(scopeKey{}).(*Token)
	return t, ok
}

// TokenAuthorizer is Options.Authorize for the HTTP face with tokens: a
// request is allowed when the token it came with has a glob matching
// name, workflow names (workflows, exactly as offered) against its
// Workflows and every other name against its Tools. A request with no
// token in its context is refused, so the rule fails closed.
func TokenAuthorizer(workflows []string) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		t, ok := tokenScope(ctx)
		if !ok {
			return fmt.Errorf("%q: the request carries no bearer token", name)
		}
		globs, field := t.Tools, "tools"
		if slices.Contains(workflows, name) {
			globs, field = t.Workflows, "workflows"
		}
		for _, g := range globs {
			if ok, _ := path.Match(g, name); ok {
				return nil
			}
		}
		return fmt.Errorf("%q is outside the scope of token %q (its %s: [%s]); widen it in serve.http.tokens", name, t.Name, field, strings.Join(globs, ", "))
	}
}

// HTTPHandler serves s over streamable HTTP at MCPPath, and its
// protected-resource metadata at MetadataPath. Every request to the
// endpoint passes, in order: the Origin check (403), the bearer token
// (401, with WWW-Authenticate naming the metadata), and go-sdk's own
// DNS-rebinding check (a loopback listener refuses a non-loopback Host).
// The token's scope goes into each MCP request's context for
// TokenAuthorizer.
func HTTPHandler(s *Server, opts HTTPOptions) (http.Handler, error) {
	return httpHandler(s.MCPServer(), opts)
}

func httpHandler(srv *mcp.Server, opts HTTPOptions) (http.Handler, error) {
	base, err := url.Parse(opts.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.Trim(base.Path, "/") != "" {
		return nil, fmt.Errorf("serve: URL %q is not scheme://host:port (http or https, no path)", opts.URL)
	}
	switch {
	case opts.NoAuth && len(opts.Tokens) > 0:
		return nil, errors.New("serve: auth none and tokens both given; keep one")
	case !opts.NoAuth && len(opts.Tokens) == 0:
		return nil, errors.New("serve: no bearer token is configured; add one (mediator serve token create NAME), or say auth: none to serve loopback without")
	}
	hashes := make([][]byte, len(opts.Tokens))
	for i, t := range opts.Tokens {
		if err := ValidateToken(t); err != nil {
			return nil, fmt.Errorf("serve: token %q: %w", t.Name, err)
		}
		hashes[i], _ = hex.DecodeString(t.SHA256)
	}
	origins := []string{base.Scheme + "://" + base.Host}
	for _, o := range opts.AllowedOrigins {
		origins = append(origins, strings.TrimSuffix(o, "/"))
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	resource := strings.TrimSuffix(opts.URL, "/") + MCPPath
	metadataURL := strings.TrimSuffix(opts.URL, "/") + MetadataPath
	meta := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mediator",
	})

	srv.AddReceivingMiddleware(scopeMiddleware)
	endpoint := TasksHandler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Logger: logger}))
	if !opts.NoAuth {
		match := tokenMatcher(opts.Tokens, hashes)
		verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
			t := match(token)
			if t == nil {
				return nil, fmt.Errorf("%w: no configured token has this hash", auth.ErrInvalidToken)
			}
			return &auth.TokenInfo{UserID: t.Name, Extra: map[string]any{scopeExtra: t}}, nil
		}
		endpoint = auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{
			ResourceMetadataURL:    metadataURL,
			AllowMissingExpiration: true, // static tokens: revoked by removing their hash
		})(endpoint)
	}
	endpoint = checkOrigin(origins, logger, endpoint)

	mux := http.NewServeMux()
	mux.Handle(MCPPath, endpoint)
	mux.Handle(MetadataPath, meta)
	mux.Handle(MetadataPath+MCPPath, meta)
	return mux, nil
}

// MatchToken returns what finds the token a bearer token is, among
// tokens (each checked with ValidateToken first; the error names the
// token): the *Token whose hash it has, or nil. Every hash is compared,
// in constant time, so the time taken says nothing of which one matched,
// or how much of one.
func MatchToken(tokens []Token) (func(token string) *Token, error) {
	hashes := make([][]byte, len(tokens))
	for i, t := range tokens {
		if err := ValidateToken(t); err != nil {
			return nil, fmt.Errorf("token %q: %w", t.Name, err)
		}
		hashes[i], _ = hex.DecodeString(t.SHA256)
	}
	return tokenMatcher(slices.Clone(tokens), hashes), nil
}

func tokenMatcher(tokens []Token, hashes [][]byte) func(string) *Token {
	return func(token string) *Token {
		sum := sha256.Sum256([]byte(token))
		found := -1
		for i, h := range hashes {
			if subtle.ConstantTimeCompare(sum[:], h) == 1 {
				found = i
			}
		}
		if found < 0 {
			return nil
		}
		return &tokens[found]
	}
}

// AllowsWorkflow reports whether a glob of t.Workflows matches the
// workflow name (path.Match), as TokenAuthorizer decides for a workflow.
func (t *Token) AllowsWorkflow(name string) bool {
	for _, g := range t.Workflows {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// scopeExtra is the TokenInfo.Extra key of the *Token a request came with.
const scopeExtra = "mediator.token"

// scopeMiddleware puts the token each request came with into its context,
// where TokenAuthorizer finds it.
func scopeMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
			if t, ok := extra.TokenInfo.Extra[scopeExtra].(*Token); ok {
				ctx = context.WithValue(ctx, scopeKey{}, t)
			}
		}
		return next(ctx, method, req)
	}
}

// checkOrigin refuses a request whose Origin header is not one of origins:
// a web page the user visits must not reach the server, even through a
// DNS name rebound to 127.0.0.1. Requests without Origin are not from a
// browser's page.
func checkOrigin(origins []string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !slices.ContainsFunc(origins, func(a string) bool { return strings.EqualFold(a, o) }) {
			logger.Warn("refused a request from a web origin not in serve.http.allowed_origins", "origin", o)
			http.Error(w, fmt.Sprintf("Forbidden: origin %q is not allowed; add it to serve.http.allowed_origins if it should be", o), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
