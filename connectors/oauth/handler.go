// Package oauth authorizes mediator's MCP client to one HTTP server, per the
// MCP authorization spec (2025-11-25 and 2026-07-28): discovery from the
// 401 challenge, PKCE S256, state and RFC 9207 iss checks, RFC 8707
// resource on every request, registration by config, client ID metadata
// document or dynamic registration, step-up, refresh with rotation, and the
// machine grants (client credentials, workload identity JWT bearer,
// enterprise-managed ID-JAG), optionally DPoP-bound.
//
// A Handler implements the go-sdk's auth.OAuthHandler, so it plugs into
// mcp.StreamableClientTransport.OAuthHandler. Every URL a server supplies is
// fetched through a GuardPolicy client.
package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"

	"github.com/mediatorhq/mediator/credentials"
)

// Grant names how the handler obtains tokens.
type Grant string

const (
	// GrantAuthorizationCode logs a user in through a CodeFetcher.
	GrantAuthorizationCode Grant = "authorization_code"
	// GrantClientCredentials authenticates the client itself (SEP-1046).
	GrantClientCredentials Grant = "client_credentials"
	// GrantJWTBearer presents a workload identity JWT (SEP-1933, RFC 7523).
	GrantJWTBearer Grant = "jwt_bearer"
	// GrantEnterprise exchanges an enterprise SSO ID token for an ID-JAG
	// and that for an access token (SEP-990).
	GrantEnterprise Grant = "enterprise"
)

// DPoP modes.
const (
	DPoPOff  = "off"
	DPoPAuto = "auto" // when the authorization server advertises ES256
)

// ClientConfig is a client registered out of band, from config.
type ClientConfig struct {
	ClientID     string
	ClientSecret credentials.Secret
	// Issuer binds the client to one authorization server (SEP-2352). Empty
	// means any; a mismatch skips this client.
	Issuer string
	// AuthMethod overrides the choice from the server's metadata.
	AuthMethod string
	// Key signs private_key_jwt assertions.
	Key *SigningKey
}

// EnterpriseConfig is the identity provider side of GrantEnterprise.
type EnterpriseConfig struct {
	TokenEndpoint string
	ClientID      string
	ClientSecret  credentials.Secret
	// IDToken returns the user's SSO ID token.
	IDToken func(ctx context.Context) (credentials.Secret, error)
}

// Config configures a Handler for one server.
type Config struct {
	// ServerName keys the store; ServerURL is the configured MCP endpoint.
	ServerName string
	ServerURL  string
	// AllowInsecureLocalhost permits http to loopback (development, the
	// conformance suite).
	AllowInsecureLocalhost bool
	// TLS is the TLS of the MCP server's own origin (its CA bundle,
	// minimum version, client certificate), for the fetches the handler
	// makes there (protected resource metadata, and the authorization
	// server when it shares the origin). Nil means the defaults.
	TLS *tls.Config
	// RootCAs verify every other origin the handler fetches from (the
	// authorization server); nil means the system's roots.
	RootCAs *x509.CertPool
	// Resolver resolves host names for the SSRF guard (see
	// GuardPolicy.Resolver); nil means net.DefaultResolver.
	Resolver Resolver

	Grant Grant

	// Store keeps tokens and registrations; nil means a MemoryStore.
	Store  TokenStore
	Logger *slog.Logger

	// Fetcher and RedirectURL drive GrantAuthorizationCode. With neither
	// Fetcher nor Device the handler cannot ask the user: it uses a stored
	// token (refreshing it when needed) and otherwise fails with an error
	// wrapping ErrLoginRequired, before registering a client anywhere.
	// RedirectURL is still needed then, to find the registration a login
	// made.
	Fetcher     CodeFetcher
	RedirectURL string
	// Device, when set, logs the user in with the device authorization
	// grant (RFC 8628) instead of a redirect: it shows the verification
	// URI and user code, and the handler polls the token endpoint. For
	// machines without a browser; the authorization server must offer a
	// device_authorization_endpoint.
	Device DevicePrompt
	// SkipStoredToken authorizes anew even when the store holds a token for
	// the binding (an explicit login).
	SkipStoredToken bool

	// Client is a pre-registered client (first in registration priority).
	// For the machine grants it is the client's identity.
	Client *ClientConfig
	// ClientMetadataURL is mediator's client ID metadata document (SEP-991),
	// used when the authorization server supports it.
	ClientMetadataURL string
	// DisableDynamicRegistration skips RFC 7591 registration.
	DisableDynamicRegistration bool
	// ClientName is sent in dynamic registration.
	ClientName string
	// AskClient is the last resort of registration: ask the user for a
	// client ID. Nil means fail with an error saying what to configure.
	AskClient func(ctx context.Context, issuer string) (*ClientConfig, error)

	// Scopes are requested instead of the protected resource's
	// scopes_supported when the challenge names none; a challenge's scopes
	// are added to them.
	Scopes []string
	// ScopeFilter narrows the discovered scopes.
	ScopeFilter func([]string) []string
	// RequestOfflineAccess adds offline_access when the server offers it.
	RequestOfflineAccess bool

	// DPoP is DPoPOff (default) or DPoPAuto.
	DPoP string
	// DPoPKey is the key DPoP proofs are signed with. Nil means a fresh key
	// in memory, and then a DPoP-bound token is never reused from the store
	// (the key that could use it is gone); a key kept beside the token (see
	// KeyringStore.DPoPKey) lets a later process use both.
	DPoPKey *ecdsa.PrivateKey

	// Assertion returns the workload identity JWT for GrantJWTBearer.
	Assertion func(ctx context.Context) (credentials.Secret, error)
	// Enterprise configures GrantEnterprise.
	Enterprise *EnterpriseConfig

	// RefreshBefore renews a token this long before it expires, but never
	// more than a tenth of its lifetime before (a token living 30 s is
	// renewed 3 s before, not at every use); zero means one minute.
	RefreshBefore time.Duration
	// RefreshLock, when set, is held around each refresh of the server's
	// token, so mediator processes sharing the store take turns: the one
	// that waited re-reads the store and uses the token the other got,
	// instead of spending a refresh token a rotating authorization server
	// has just retired (which some treat as theft and answer by revoking
	// the grant). Nil means refreshes are single-flight within this
	// process only.
	RefreshLock func(ctx context.Context, server string) (unlock func(), err error)
	// MaxStepUps bounds step-up authorizations per operation within ten
	// minutes; zero means 3.
	MaxStepUps int

	// HTTPClient overrides the guarded client (tests only).
	HTTPClient *http.Client
	// Now overrides the clock (tests only).
	Now func() time.Time
	// Sleep overrides waiting between device grant polls (tests only).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Handler is the OAuth client of one MCP server.
type Handler struct {
	cfg      Config
	resource string
	store    TokenStore
	log      *slog.Logger
	dpop     *dpopKey

	// authMu serialises authorization flows; refreshMu makes a refresh
	// single-flight (callers wait and then see the new token).
	authMu    sync.Mutex
	refreshMu sync.Mutex

	mu       sync.Mutex
	sess     *session
	stepUps  map[string][]time.Time
	refreshN int
	renewals Renewals
	// policy and http are the SSRF guard; resolved says the policy has
	// taken in what the server's host name resolves to (see
	// resolveNetwork).
	policy   GuardPolicy
	http     *http.Client
	resolved bool
}

// session is the state bound to one (issuer, client, resource).
type session struct {
	key     TokenKey
	d       *discovered
	ca      clientAuth
	token   *Token
	granted []string
	dpop    bool
}

var _ auth.OAuthHandler = (*Handler)(nil)

// New validates the config.
func New(cfg Config) (*Handler, error) {
	if cfg.ServerName == "" {
		return nil, errors.New("oauth: ServerName is empty")
	}
	// The errors of New do not name the server: every caller knows which
	// server it configures, and says so once.
	res, err := CanonicalResource(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	policy, err := PolicyFor(cfg.ServerURL, cfg.AllowInsecureLocalhost)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	policy.Resolver, policy.ServerTLS, policy.RootCAs = cfg.Resolver, cfg.TLS, cfg.RootCAs
	if _, err := policy.checkURL(res); err != nil {
		return nil, fmt.Errorf("oauth: the server URL: %w", err)
	}
	if cfg.Grant == "" {
		cfg.Grant = GrantAuthorizationCode
	}
	switch cfg.Grant {
	case GrantAuthorizationCode:
		if cfg.Fetcher != nil && cfg.Device != nil {
			return nil, fmt.Errorf("oauth: authorization_code takes a Fetcher (browser login) or Device (device grant), not both")
		}
		if cfg.RedirectURL == "" && cfg.Device == nil {
			return nil, fmt.Errorf("oauth: authorization_code needs a RedirectURL")
		}
		if cfg.ClientMetadataURL != "" {
			u, err := url.Parse(cfg.ClientMetadataURL)
			if err != nil || u.Scheme != "https" || len(u.Path) < 2 {
				return nil, fmt.Errorf("oauth: client_metadata_url %q must be an https URL with a path", cfg.ClientMetadataURL)
			}
		}
	case GrantClientCredentials:
		if cfg.Client == nil || cfg.Client.ClientID == "" || (cfg.Client.ClientSecret.IsZero() && cfg.Client.Key == nil) {
			return nil, fmt.Errorf("oauth: client_credentials needs client_id and a client_secret or private key")
		}
	case GrantJWTBearer:
		if cfg.Assertion == nil {
			return nil, fmt.Errorf("oauth: jwt_bearer needs an Assertion source")
		}
	case GrantEnterprise:
		if cfg.Enterprise == nil || cfg.Enterprise.IDToken == nil || cfg.Enterprise.TokenEndpoint == "" || cfg.Client == nil {
			return nil, fmt.Errorf("oauth: enterprise needs the IdP token endpoint, an ID token source and the MCP client")
		}
	default:
		return nil, fmt.Errorf("oauth: grant %q is not one of authorization_code, client_credentials, jwt_bearer, enterprise", cfg.Grant)
	}
	h := &Handler{cfg: cfg, resource: res, policy: policy, store: cfg.Store, log: cfg.Logger, stepUps: map[string][]time.Time{}}
	if h.store == nil {
		h.store = NewMemoryStore()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.http = cfg.HTTPClient
	if h.http == nil {
		h.http = policy.Client()
	}
	if cfg.DPoP == DPoPAuto {
		if cfg.DPoPKey != nil {
			h.dpop, err = dpopKeyFrom(cfg.DPoPKey)
		} else {
			h.dpop, err = newDPoPKey()
		}
		if err != nil {
			return nil, fmt.Errorf("oauth: %w", err)
		}
	} else if cfg.DPoP != "" && cfg.DPoP != DPoPOff {
		return nil, fmt.Errorf("oauth: dpop %q is not one of off, auto", cfg.DPoP)
	}
	return h, nil
}

// guardPolicy is the SSRF guard's current policy.
func (h *Handler) guardPolicy() GuardPolicy {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.policy
}

// client is the guarded HTTP client of the current policy.
func (h *Handler) client() *http.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.http
}

// resolveNetwork lets the guard reach the networks the server's host name
// resolves to, once, before the first fetch. It runs at the first
// authorization rather than in New: that has a context, and by then the
// server has answered, so its name resolves. A failed lookup is tried
// again at the next authorization; meanwhile the policy from the URL alone
// applies.
func (h *Handler) resolveNetwork(ctx context.Context) {
	h.mu.Lock()
	done, p := h.resolved, h.policy
	h.mu.Unlock()
	if done {
		return
	}
	rp, err := p.ResolveServer(ctx)
	if err != nil {
		h.log.Debug("oauth: the server's networks stay closed to metadata fetches", "server", h.cfg.ServerName, "error", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.policy, h.resolved = rp, true
	if h.cfg.HTTPClient == nil && (rp.AllowLoopback != p.AllowLoopback || rp.AllowPrivate != p.AllowPrivate) {
		h.http.CloseIdleConnections()
		h.http = rp.Client()
	}
}

func (h *Handler) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

// Transport wraps the MCP HTTP client's round tripper. It is needed only for
// DPoP (the go-sdk transport always writes the Bearer scheme); with DPoP off
// it returns base unchanged.
func (h *Handler) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if h.dpop == nil {
		return base
	}
	return &dpopTransport{h: h, base: base}
}

func (h *Handler) usingDPoP() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sess != nil && h.sess.dpop
}

// TokenSource returns nil until the first authorization; the transport
// then sends no Authorization header and the server's 401 starts the flow.
func (h *Handler) TokenSource(context.Context) (oauth2.TokenSource, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sess == nil {
		return nil, nil
	}
	return tokenSource{h}, nil
}

type tokenSource struct{ h *Handler }

func (t tokenSource) Token() (*oauth2.Token, error) { return t.h.token(context.Background()) }

// errNeedsAuthorization makes the go-sdk transport send the request without
// a token (it special-cases invalid_grant), so the server's 401 reaches
// Authorize.
var errNeedsAuthorization = &oauth2.RetrieveError{ErrorCode: "invalid_grant", ErrorDescription: "authorization needed"}

func (h *Handler) fresh(t *Token) bool {
	if t == nil || t.AccessToken.IsZero() {
		return false
	}
	return t.Expiry.IsZero() || h.now().Before(h.renewAt(t))
}

// renewAt is when t is due for renewal: its expiry less RefreshBefore, or
// less a tenth of its lifetime when that is shorter.
func (h *Handler) renewAt(t *Token) time.Time {
	before := h.cfg.RefreshBefore
	if before == 0 {
		before = time.Minute
	}
	if !t.Issued.IsZero() && t.Expiry.After(t.Issued) {
		before = min(before, t.Expiry.Sub(t.Issued)/10)
	}
	return t.Expiry.Add(-before)
}

// RenewAt is when the current token is due for renewal; false when there
// is no token yet or it does not expire. A caller keeping the login alive
// (a long-running process) calls Renew then.
func (h *Handler) RenewAt() (time.Time, bool) {
	_, t := h.current()
	if t == nil || t.Expiry.IsZero() {
		return time.Time{}, false
	}
	return h.renewAt(t), true
}

// Renew renews the current token if it is due, as a request would, ahead
// of any request: one renewal at a time, shared with concurrent requests.
// An error wrapping ErrLoginRequired says only a new login helps (the
// authorization server refused the refresh token: it expired or was
// revoked); others may pass (the server was unreachable).
func (h *Handler) Renew(ctx context.Context) error {
	_, err := h.token(ctx)
	if errors.Is(err, errNeedsAuthorization) {
		return fmt.Errorf("%w: the login has expired: the authorization server refused to renew the token of server %q (its refresh token expired or was revoked)", ErrLoginRequired, h.cfg.ServerName)
	}
	return err
}

// Renewals counts a handler's renewals of its access token (a refresh
// token grant, or a machine grant run again) by outcome: OK; Refused,
// the authorization server answered with an OAuth error (an expired or
// revoked refresh token); Failed, no answer or an unusable one.
type Renewals struct {
	OK, Refused, Failed int
}

// Renewals returns the handler's renewal counts.
func (h *Handler) Renewals() Renewals {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.renewals
}

// countRenewal records a renewal's outcome.
func (h *Handler) countRenewal(err error) {
	var te *TokenError
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.renewals.OK++
	case errors.As(err, &te):
		h.renewals.Refused++
	default:
		h.renewals.Failed++
	}
}

// token returns a usable access token, renewing it ahead of expiry. Only
// one renewal runs at a time; concurrent callers wait for it.
func (h *Handler) token(ctx context.Context) (*oauth2.Token, error) {
	h.mu.Lock()
	s := h.sess
	var cur *Token
	if s != nil {
		cur = s.token
	}
	h.mu.Unlock()
	if s == nil {
		return nil, errNeedsAuthorization
	}
	if h.fresh(cur) {
		return toOAuth2(cur), nil
	}

	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	h.mu.Lock()
	if h.sess != s {
		s = h.sess
	}
	cur = s.token
	h.mu.Unlock()
	if h.fresh(cur) {
		return toOAuth2(cur), nil
	}
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	nt, err := h.renew(ctx, s)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) && te.Code == "invalid_grant" {
			h.log.Info("oauth token renewal refused; a new authorization is needed", "server", h.cfg.ServerName, "error", te.Code)
			return nil, errNeedsAuthorization
		}
		if errors.Is(err, errNoRenewal) {
			return nil, errNeedsAuthorization
		}
		return nil, &AuthorizationError{Server: h.cfg.ServerName, Err: err}
	}
	return toOAuth2(nt), nil
}

var errNoRenewal = errors.New("token cannot be renewed without the user")

// renew refreshes (authorization code) or re-runs the grant (machine
// grants), saves the result, and only then installs it.
func (h *Handler) renew(ctx context.Context, s *session) (*Token, error) {
	var nt *Token
	var err error
	switch h.cfg.Grant {
	case GrantAuthorizationCode:
		if lock := h.cfg.RefreshLock; lock != nil {
			unlock, err := lock(ctx, h.cfg.ServerName)
			if err != nil {
				return nil, fmt.Errorf("refreshing the token of server %q: %w", h.cfg.ServerName, err)
			}
			defer unlock()
		}
		cur := s.token
		// Another mediator process may have refreshed since this one read
		// the token: with a rotating authorization server the refresh
		// token held here is spent, and the stored one is the live one.
		// Under RefreshLock that read comes after the other's save.
		if st, err := h.store.LoadToken(ctx, s.key); err == nil && cur != nil && !sameToken(st, cur) && (st.TokenType != "DPoP" || h.cfg.DPoPKey != nil) {
			if h.fresh(st) {
				h.mu.Lock()
				s.token = st
				h.mu.Unlock()
				return st, nil
			}
			if !st.RefreshToken.IsZero() {
				cur = st
			}
		}
		if cur == nil || cur.RefreshToken.IsZero() {
			return nil, errNoRenewal
		}
		form := url.Values{
			"grant_type":    {grantRefreshToken},
			"refresh_token": {cur.RefreshToken.Reveal()},
			"resource":      {s.key.Resource},
		}
		nt, _, err = h.tokenRequestFor(ctx, s.d, s.ca, form, s.dpop)
		h.countRenewal(err)
		if err != nil {
			return nil, fmt.Errorf("refreshing the token of server %q: %w", h.cfg.ServerName, err)
		}
		h.mu.Lock()
		h.refreshN++
		h.mu.Unlock()
		if nt.RefreshToken.IsZero() {
			// No rotation: the old refresh token stays valid.
			nt.RefreshToken = cur.RefreshToken
		}
		if len(nt.Scopes) == 0 {
			nt.Scopes = cur.Scopes
		}
		// A refresh never widens the grant; what the server wants beyond
		// it is still wanted at the next login.
		nt.PendingScopes = cur.PendingScopes
	default:
		nt, err = h.machineGrant(ctx, s.d, s.ca, s.granted)
		h.countRenewal(err)
		if err != nil {
			return nil, err
		}
	}
	// Saved before use: if the AS rotated the refresh token, losing the new
	// one would lock the user out at the next refresh.
	if err := h.store.SaveToken(ctx, s.key, nt); err != nil {
		return nil, fmt.Errorf("saving the renewed token of server %q (not using it): %w", h.cfg.ServerName, err)
	}
	h.mu.Lock()
	s.token = nt
	h.mu.Unlock()
	return nt, nil
}

// Refreshes counts successful refresh-token grants (for status and tests).
func (h *Handler) Refreshes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshN
}

func toOAuth2(t *Token) *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken.Reveal(), TokenType: "Bearer", Expiry: t.Expiry}
}

// Authorize runs when the server answered 401 or 403. It returns nil when
// the request should be retried with the new token; every failure is an
// *AuthorizationError.
func (h *Handler) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	if err := h.authorize(ctx, req, resp); err != nil {
		return &AuthorizationError{Server: h.cfg.ServerName, Err: err}
	}
	return nil
}

func (h *Handler) authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	ch := parseChallenge(resp.Header)
	if resp.StatusCode == http.StatusForbidden && ch.err != "insufficient_scope" {
		return fmt.Errorf("server %q answered 403 Forbidden (%s); not an insufficient_scope challenge, so re-authorizing would not help", h.cfg.ServerName, orNone(ch.err))
	}

	h.authMu.Lock()
	defer h.authMu.Unlock()

	h.resolveNetwork(ctx)
	sent := bearerOf(req)
	// The session's token is renewed under h.mu by concurrent token()
	// calls; read it once, under the lock.
	s, cur := h.current()
	// Another request re-authorized while this one waited: just retry.
	if resp.StatusCode == http.StatusUnauthorized && cur != nil && h.fresh(cur) && sent != cur.AccessToken.Reveal() {
		return nil
	}

	stepUp := resp.StatusCode == http.StatusForbidden
	if stepUp {
		op := operationOf(req)
		if err := h.countStepUp(op); err != nil {
			return err
		}
	}

	d, err := h.discover(ctx, ch)
	if err != nil {
		return fmt.Errorf("server %q: %w", h.cfg.ServerName, err)
	}
	if s != nil && s.key.Issuer != d.issuer {
		// SEP-2352: nothing obtained from the old authorization server is
		// reused with the new one.
		h.log.Info("authorization server changed; re-registering", "server", h.cfg.ServerName, "old_issuer", s.key.Issuer, "new_issuer", d.issuer)
		s, cur = nil, nil
		h.mu.Lock()
		h.sess = nil
		h.mu.Unlock()
	}

	if !stepUp && cur != nil && !cur.RefreshToken.IsZero() && sent == cur.AccessToken.Reveal() {
		// The token was refused before its time: one refresh may fix it,
		// unless a concurrent token() call renewed it meanwhile.
		h.refreshMu.Lock()
		var rerr error
		if _, now := h.current(); sameToken(now, cur) {
			_, rerr = h.renew(ctx, s)
		}
		h.refreshMu.Unlock()
		if rerr == nil {
			return nil
		}
		h.log.Info("refresh after 401 failed; authorizing again", "server", h.cfg.ServerName)
	}

	scopes := ch.scope
	switch {
	case len(h.cfg.Scopes) > 0:
		scopes = union(h.cfg.Scopes, scopes)
	case len(scopes) == 0 && !stepUp:
		scopes = d.scopesSupported
	}
	if h.cfg.ScopeFilter != nil {
		scopes = h.cfg.ScopeFilter(scopes)
	}
	if stepUp && s != nil {
		// SEP-2350: keep what was granted, add what is challenged.
		scopes = union(s.granted, scopes)
	}
	ns, err := h.obtain(ctx, d, scopes, cur, resp.StatusCode == http.StatusUnauthorized)
	if err != nil {
		return fmt.Errorf("server %q: %w", h.cfg.ServerName, err)
	}
	h.mu.Lock()
	h.sess = ns
	h.mu.Unlock()
	return nil
}

// current returns the session and its token as they are now.
func (h *Handler) current() (*session, *Token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sess == nil {
		return nil, nil
	}
	return h.sess, h.sess.token
}

func orNone(s string) string {
	if s == "" {
		return "no error code"
	}
	return "error=" + s
}

func bearerOf(req *http.Request) string {
	if req == nil {
		return ""
	}
	a := req.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "DPoP "} {
		if t, ok := cutPrefixFold(a, p); ok {
			return t
		}
	}
	return ""
}

func cutPrefixFold(s, p string) (string, bool) {
	if len(s) >= len(p) && equalFold(s[:len(p)], p) {
		return s[len(p):], true
	}
	return "", false
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// operationOf names the JSON-RPC call that was refused, so step-up attempts
// are counted per operation (MCP: track attempts per resource and operation).
func operationOf(req *http.Request) string {
	if req == nil || req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&msg); err != nil {
		return ""
	}
	return msg.Method + " " + msg.Params.Name
}

const stepUpWindow = 10 * time.Minute

func (h *Handler) countStepUp(op string) error {
	max := h.cfg.MaxStepUps
	if max == 0 {
		max = 3
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	var recent []time.Time
	for _, t := range h.stepUps[op] {
		if now.Sub(t) < stepUpWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= max {
		h.stepUps[op] = recent
		return fmt.Errorf("server %q still answers 403 insufficient_scope for %q after %d step-up authorizations; giving up", h.cfg.ServerName, op, max)
	}
	h.stepUps[op] = append(recent, now)
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// obtain gets a token for the discovered server with the given scopes.
// prev is the token the handler had before, if any.
func (h *Handler) obtain(ctx context.Context, d *discovered, scopes []string, prev *Token, mayReuse bool) (*session, error) {
	useDPoP := h.dpop != nil && slices.Contains(d.meta.DPoPSigningAlgValuesSupported, "ES256")
	switch h.cfg.Grant {
	case GrantAuthorizationCode:
		return h.authorizationCode(ctx, d, scopes, prev, mayReuse, useDPoP)
	default:
		ca, err := h.machineClient(ctx, d)
		if err != nil {
			return nil, err
		}
		s := &session{key: TokenKey{Server: h.cfg.ServerName, Issuer: d.issuer, ClientID: ca.clientID, Resource: d.resource}, d: d, ca: ca, granted: scopes, dpop: useDPoP}
		tok, err := h.machineGrant(ctx, d, ca, scopes)
		if err != nil {
			return nil, err
		}
		if err := h.store.SaveToken(ctx, s.key, tok); err != nil {
			return nil, fmt.Errorf("saving token: %w", err)
		}
		s.token = tok
		s.dpop = useDPoP && tok.TokenType == "DPoP"
		return s, nil
	}
}

func (h *Handler) authorizationCode(ctx context.Context, d *discovered, scopes []string, prev *Token, mayReuse, useDPoP bool) (*session, error) {
	interactive := h.cfg.Fetcher != nil || h.cfg.Device != nil
	switch {
	case h.cfg.Device != nil:
		// Checked before registering: a client registered for a grant the
		// server does not offer would only clutter it.
		if err := checkDeviceSupport(d); err != nil {
			return nil, err
		}
	case !d.fallback:
		// A fallback server publishes no metadata, so there is nothing
		// to check; see legacyDiscovery.
		if err := requirePKCE(d.meta); err != nil {
			return nil, err
		}
	}
	if h.cfg.Fetcher != nil && d.meta.AuthorizationEndpoint == "" {
		return nil, fmt.Errorf("authorization server %s has no authorization_endpoint", d.issuer)
	}
	ca, err := h.register(ctx, d, interactive)
	if err != nil {
		if errors.Is(err, errNotRegistered) {
			// After a logout, or before the first login: the registration
			// went with the tokens.
			return nil, fmt.Errorf("%w: no stored login for server %q with %s", ErrLoginRequired, h.cfg.ServerName, d.issuer)
		}
		return nil, err
	}
	key := TokenKey{Server: h.cfg.ServerName, Issuer: d.issuer, ClientID: ca.clientID, Resource: d.resource}
	s := &session{key: key, d: d, ca: ca, dpop: useDPoP}

	// After a restart, or after a login by another process: a stored token
	// for exactly this binding spares the user a login. The token this
	// handler just had refused is not tried again.
	var renewErr error
	if !h.cfg.SkipStoredToken && ((mayReuse && prev == nil) || !interactive) {
		if tok, err := h.store.LoadToken(ctx, key); err == nil && (tok.TokenType != "DPoP" || h.cfg.DPoPKey != nil) && !sameToken(tok, prev) && !pendingBeyond(tok, scopes) {
			s.token, s.granted = tok, tok.Scopes
			s.dpop = useDPoP && tok.TokenType == "DPoP"
			if h.fresh(tok) {
				return s, nil
			}
			if _, renewErr = h.renew(ctx, s); renewErr == nil {
				return s, nil
			}
			s.token = nil
		}
	}
	if !interactive {
		switch {
		case !mayReuse:
			// The login that fixes this must ask for these scopes, or it
			// would get the same grant and the call would fail again.
			h.rememberPendingScopes(ctx, key, prev, scopes)
			return nil, fmt.Errorf("%w: the server needs scopes %q beyond the stored login with %s", ErrLoginRequired, joinScopes(scopes), d.issuer)
		case renewErr != nil || prev != nil:
			return nil, fmt.Errorf("%w: the login with %s has expired and could not be renewed", ErrLoginRequired, d.issuer)
		}
		return nil, fmt.Errorf("%w: no stored login with %s", ErrLoginRequired, d.issuer)
	}

	// Scopes a server demanded of an earlier, non-interactive call (see
	// rememberPendingScopes) are asked for now.
	if tok, err := h.store.LoadToken(ctx, key); err == nil && len(tok.PendingScopes) > 0 {
		scopes = union(scopes, tok.PendingScopes)
	}
	if h.cfg.RequestOfflineAccess && slices.Contains(d.meta.ScopesSupported, "offline_access") && !slices.Contains(scopes, "offline_access") {
		scopes = append(slices.Clone(scopes), "offline_access")
	}
	if h.cfg.Device != nil {
		tok, err := h.deviceGrant(ctx, d, ca, scopes, useDPoP)
		if err != nil {
			return nil, err
		}
		return h.installCodeToken(ctx, s, tok, scopes)
	}

	verifier := rand.Text() + rand.Text() // 52 base32 chars: within RFC 7636's 43..128
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := rand.Text()

	au, err := url.Parse(d.meta.AuthorizationEndpoint)
	if err != nil {
		return nil, fmt.Errorf("authorization_endpoint %q does not parse", d.meta.AuthorizationEndpoint)
	}
	if _, err := h.guardPolicy().checkURL(au.String()); err != nil {
		return nil, fmt.Errorf("authorization_endpoint: %w", err)
	}
	q := au.Query()
	q.Set("response_type", "code")
	q.Set("client_id", ca.clientID)
	q.Set("redirect_uri", h.cfg.RedirectURL)
	q.Set("state", state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("resource", d.resource)
	if len(scopes) > 0 {
		q.Set("scope", joinScopes(scopes))
	}
	au.RawQuery = q.Encode()

	guard := h.guardPolicy()
	res, err := h.cfg.Fetcher.FetchCode(ctx, &AuthorizationRequest{URL: au.String(), RedirectURL: h.cfg.RedirectURL, State: state, Issuer: d.issuer, guard: &guard})
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(res.State), []byte(state)) != 1 {
		return nil, errors.New("authorization response state does not match the request: discarding it (possible CSRF)")
	}
	if err := checkIss(res.Iss, d.issuer, d.meta.AuthorizationResponseIssParameterSupported); err != nil {
		return nil, err
	}
	if res.Error != "" {
		return nil, fmt.Errorf("authorization server %s refused: %s %s", d.issuer, res.Error, res.ErrorDescription)
	}
	if res.Code == "" {
		return nil, errors.New("authorization response carries no code")
	}
	form := url.Values{
		"grant_type":    {grantAuthorizationCode},
		"code":          {res.Code},
		"redirect_uri":  {h.cfg.RedirectURL},
		"code_verifier": {verifier},
		"resource":      {d.resource},
	}
	tok, _, err := h.tokenRequestFor(ctx, d, ca, form, useDPoP)
	if err != nil {
		return nil, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	return h.installCodeToken(ctx, s, tok, scopes)
}

// installCodeToken saves a token a user login produced and binds it to the
// session.
func (h *Handler) installCodeToken(ctx context.Context, s *session, tok *Token, scopes []string) (*session, error) {
	if len(tok.Scopes) == 0 {
		tok.Scopes = scopes
	}
	if err := h.store.SaveToken(ctx, s.key, tok); err != nil {
		return nil, fmt.Errorf("saving the token of server %q: %w", h.cfg.ServerName, err)
	}
	s.token, s.granted = tok, tok.Scopes
	s.dpop = s.dpop && tok.TokenType == "DPoP"
	return s, nil
}

func sameToken(a, b *Token) bool {
	return a != nil && b != nil && a.AccessToken.Equal(b.AccessToken)
}

// pendingBeyond reports whether a stored token is known to lack scopes the
// server demanded that are among those now asked for: using it would only
// earn another 403.
func pendingBeyond(t *Token, scopes []string) bool {
	for _, p := range t.PendingScopes {
		if !slices.Contains(t.Scopes, p) && slices.Contains(scopes, p) {
			return true
		}
	}
	return false
}

// rememberPendingScopes records, with the stored login, the scopes a server
// demanded (403 insufficient_scope) that a handler without a user could not
// obtain, so the next `mediator auth login` requests them. Best effort: a
// failure only costs the user one more step-up later.
func (h *Handler) rememberPendingScopes(ctx context.Context, key TokenKey, cur *Token, scopes []string) {
	tok, err := h.store.LoadToken(ctx, key)
	if err != nil {
		if cur == nil {
			return
		}
		tok = cur
	}
	nt := *tok
	nt.PendingScopes = union(tok.PendingScopes, scopes)
	if err := h.store.SaveToken(ctx, key, &nt); err != nil {
		h.log.Warn("oauth: could not record the scopes the server asked for; the next login may need a step-up", "server", h.cfg.ServerName, "error", err)
		return
	}
	// A session's token changes only under both locks (see renew).
	h.refreshMu.Lock()
	h.mu.Lock()
	if h.sess != nil && h.sess.key == key && sameToken(h.sess.token, &nt) {
		h.sess.token = &nt
	}
	h.mu.Unlock()
	h.refreshMu.Unlock()
}

// tokenRequestFor sends a token request with or without a DPoP proof.
func (h *Handler) tokenRequestFor(ctx context.Context, d *discovered, ca clientAuth, form url.Values, useDPoP bool) (*Token, *tokenResponse, error) {
	var dp *dpopKey
	if useDPoP {
		dp = h.dpop
	}
	return h.tokenRequest(ctx, d.meta.TokenEndpoint, d.issuer, ca, form, dp)
}

// checkIss applies RFC 9207 as the MCP 2026-07-28 table says: compare
// whenever iss is present (plain string comparison), require it only when
// the server advertised it.
func checkIss(iss, issuer string, advertised bool) error {
	switch {
	case iss != "" && iss != issuer:
		return fmt.Errorf("authorization response iss %q does not match the authorization server %q: discarding it (possible mix-up attack)", iss, issuer)
	case iss == "" && advertised:
		return fmt.Errorf("authorization server %q advertises authorization_response_iss_parameter_supported but the response has no iss: discarding it", issuer)
	}
	return nil
}

func joinScopes(s []string) string {
	var b bytes.Buffer
	for i, v := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	return b.String()
}

// Forget logs the server out: the session and everything stored.
func (h *Handler) Forget(ctx context.Context) error {
	h.mu.Lock()
	h.sess = nil
	h.mu.Unlock()
	return h.store.Forget(ctx, h.cfg.ServerName)
}

// Status describes the current authorization without any secret.
type Status struct {
	Authorized bool
	Issuer     string
	ClientID   string
	Resource   string
	Scopes     []string
	Expiry     time.Time
	TokenType  string
}

// Status reports the session.
func (h *Handler) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sess == nil || h.sess.token == nil {
		return Status{}
	}
	s := h.sess
	return Status{Authorized: true, Issuer: s.key.Issuer, ClientID: s.key.ClientID, Resource: s.key.Resource, Scopes: slices.Clone(s.granted), Expiry: s.token.Expiry, TokenType: s.token.TokenType}
}
