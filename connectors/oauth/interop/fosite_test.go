package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
)

// This file runs mediator's OAuth client against an authorization server we
// did not write: ory/fosite, composed in-process with the authorization
// code grant, PKCE (S256 enforced, plain off) and the refresh token grant
// with rotation and reuse detection. fosite is a toolkit, not a finished
// server, so the fixture supplies what every fosite-based server supplies
// itself: the HTTP routes, the RFC 8414 metadata document, a logged-in user
// who consents, and two things fosite v0.49 does not do:
//   - RFC 8707 resource indicators. fosite knows audiences only (the
//     `audience` parameter); the authorization endpoint maps `resource` to
//     the granted audience, checked against the client's allowed audiences
//     with fosite's own audience strategy, and the token endpoint refuses a
//     request whose `resource` the grant does not cover (invalid_target).
//     It insists on `resource` in every token request, refresh included,
//     because the MCP spec makes it a MUST for the client.
//   - RFC 9207: the authorization response gets `iss` added, and the
//     metadata advertises it, so the client's mix-up check runs for real.
//
// fosite has no clock hook. Expiry is forced instead through its storage:
// expiringStore hands fosite's validator a copy of a token's session whose
// expiry has passed, so fosite itself declares the token expired. The
// client's clock is the oauth.Config.Now hook. No assertion depends on
// wall-clock time.

const (
	e2eServer   = "fosite-e2e"
	e2eClientID = "mediator-e2e"
	e2eSubject  = "alice"
	e2eScope    = "mcp:tools"
)

// expiringStore is fosite's in-memory storage with a way to expire an
// access token before its time.
type expiringStore struct {
	*storage.MemoryStore
	mu      sync.Mutex
	expired map[string]bool // access token signatures
}

func (s *expiringStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, err := s.MemoryStore.GetAccessTokenSession(ctx, signature, session)
	if err != nil {
		return r, err
	}
	s.mu.Lock()
	expired := s.expired[signature]
	s.mu.Unlock()
	if !expired {
		return r, nil
	}
	// A copy, so that nothing fosite shares is written under its feet.
	c := r.Sanitize(nil)
	sess := r.GetSession().Clone()
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(-time.Minute))
	c.SetSession(sess)
	return c, nil
}

// fositeAS is the authorization server: fosite behind loopback HTTP.
type fositeAS struct {
	t        *testing.T
	srv      *httptest.Server
	config   *fosite.Config
	provider fosite.OAuth2Provider
	strategy *fositeoauth2.HMACSHAStrategy
	store    *expiringStore
	// persisted says whether the client had saved a refresh token before
	// presenting it.
	persisted func(refreshToken string) bool

	mu            sync.Mutex
	authRequests  []url.Values
	tokenRequests []url.Values
	issued        []string // every code, access and refresh token handed out
	violations    []string
}

func newFositeAS(t *testing.T) *fositeAS {
	t.Helper()
	as := &fositeAS{t: t, store: &expiringStore{MemoryStore: storage.NewMemoryStore(), expired: map[string]bool{}}}
	mux := http.NewServeMux()
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)

	as.config = &fosite.Config{
		GlobalSecret:        []byte(rand.Text() + rand.Text())[:32], // HMAC key of fosite's opaque tokens
		AccessTokenLifespan: time.Hour,
		EnforcePKCE:         true,
		// Exact matching: an RFC 8707 resource names one server, not a
		// prefix of many.
		AudienceMatchingStrategy: fosite.ExactAudienceMatchingStrategy,
		ScopeStrategy:            fosite.ExactScopeStrategy,
	}
	as.strategy = compose.NewOAuth2HMACStrategy(as.config)
	as.provider = compose.Compose(as.config, as.store, as.strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)

	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                         as.issuer(),
			"authorization_endpoint":                         as.issuer() + "/authorize",
			"token_endpoint":                                 as.issuer() + "/token",
			"revocation_endpoint":                            as.issuer() + "/revoke",
			"response_types_supported":                       []string{"code"},
			"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
			"code_challenge_methods_supported":               []string{"S256"},
			"token_endpoint_auth_methods_supported":          []string{"none"},
			"scopes_supported":                               []string{e2eScope, "offline_access"},
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("GET /authorize", as.authorize)
	mux.HandleFunc("POST /token", as.token)
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		as.provider.WriteRevocationResponse(r.Context(), w, as.provider.NewRevocationRequest(r.Context(), r))
	})
	return as
}

func (as *fositeAS) issuer() string { return as.srv.URL }

// registerClient pre-registers mediator as a public native client allowed
// to get tokens for one resource. The loopback redirect has no port: fosite
// accepts any port on loopback (RFC 8252 §7.3).
func (as *fositeAS) registerClient(resource string) {
	as.store.Clients[e2eClientID] = &fosite.DefaultClient{
		ID:            e2eClientID,
		Public:        true,
		RedirectURIs:  []string{"http://127.0.0.1/callback"},
		ResponseTypes: []string{"code"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		Scopes:        []string{e2eScope, "offline_access"},
		Audience:      []string{resource},
	}
}

// authorize is the authorization endpoint with a user who is logged in and
// consents to what the client asks.
func (as *fositeAS) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := as.provider.NewAuthorizeRequest(ctx, r)
	as.mu.Lock()
	as.authRequests = append(as.authRequests, r.URL.Query())
	as.mu.Unlock()
	if err != nil {
		as.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	resource := ar.GetRequestForm()["resource"]
	if len(resource) != 1 {
		as.provider.WriteAuthorizeError(ctx, w, ar, invalidTarget("exactly one resource parameter is required"))
		return
	}
	if err := as.config.GetAudienceStrategy(ctx)(ar.GetClient().GetAudience(), resource); err != nil {
		as.provider.WriteAuthorizeError(ctx, w, ar, invalidTarget("the client may not get tokens for this resource"))
		return
	}
	// As if the client had sent audience=resource: fosite carries the
	// requested audience into every token request of this grant.
	ar.SetRequestedAudience(fosite.Arguments{resource[0]})
	ar.GrantAudience(resource[0])
	resp, err := as.provider.NewAuthorizeResponse(ctx, ar, &fosite.DefaultSession{Subject: e2eSubject, Username: e2eSubject})
	if err != nil {
		as.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	resp.AddParameter("iss", as.issuer())
	as.mu.Lock()
	as.issued = append(as.issued, resp.GetCode())
	as.mu.Unlock()
	as.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func invalidTarget(hint string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: "invalid_target", DescriptionField: "The requested resource is invalid.", HintField: hint, CodeField: http.StatusBadRequest}
}

func (as *fositeAS) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := as.provider.NewAccessRequest(ctx, r, new(fosite.DefaultSession))
	form := r.PostForm
	as.mu.Lock()
	as.tokenRequests = append(as.tokenRequests, form)
	if form.Get("grant_type") == "refresh_token" && as.persisted != nil && !as.persisted(form.Get("refresh_token")) {
		as.violations = append(as.violations, "a refresh token was presented that the client had not saved first")
	}
	as.mu.Unlock()
	if err != nil {
		as.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if res := form["resource"]; len(res) != 1 || !slices.Contains(ar.GetRequestedAudience(), res[0]) {
		as.provider.WriteAccessError(ctx, w, ar, invalidTarget("the token request must name the resource the grant was issued for"))
		return
	}
	resp, err := as.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		as.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	as.mu.Lock()
	as.issued = append(as.issued, resp.GetAccessToken())
	if rt, ok := resp.GetExtra("refresh_token").(string); ok {
		as.issued = append(as.issued, rt)
	}
	as.mu.Unlock()
	as.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// expire makes fosite treat an access token as past its expiry.
func (as *fositeAS) expire(accessToken string) {
	sig := as.strategy.AccessTokenSignature(context.Background(), accessToken)
	as.store.mu.Lock()
	as.store.expired[sig] = true
	as.store.mu.Unlock()
}

func (as *fositeAS) counts() (authorizations int, grants map[string]int) {
	as.mu.Lock()
	defer as.mu.Unlock()
	grants = map[string]int{}
	for _, f := range as.tokenRequests {
		grants[f.Get("grant_type")]++
	}
	return len(as.authRequests), grants
}

// protectedMCP is a go-sdk MCP server that accepts only access tokens fosite
// issued for it.
type protectedMCP struct {
	srv      *httptest.Server
	as       *fositeAS
	resource string
	// persisted says whether the client had saved an access token before
	// sending it.
	persisted func(accessToken string) bool

	mu         sync.Mutex
	accepted   []string
	refused    map[string]string // token -> why
	violations []string
}

func newProtectedMCP(t *testing.T, as *fositeAS) *protectedMCP {
	t.Helper()
	mux := http.NewServeMux()
	m := &protectedMCP{srv: httptest.NewServer(mux), as: as, refused: map[string]string{}}
	t.Cleanup(m.srv.Close)
	m.resource = m.srv.URL + "/mcp"

	server := mcp.NewServer(&mcp.Implementation{Name: "fosite-protected", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Names the user the token was issued to."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: req.Extra.TokenInfo.UserID}}}, nil, nil
		})
	prm := m.srv.URL + "/.well-known/oauth-protected-resource/mcp"
	mux.Handle("GET "+strings.TrimPrefix(prm, m.srv.URL), auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               m.resource,
		AuthorizationServers:   []string{as.issuer()},
		ScopesSupported:        []string{e2eScope},
		BearerMethodsSupported: []string{"header"},
	}))
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux.Handle("/mcp", auth.RequireBearerToken(m.verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prm, Scopes: []string{e2eScope}})(mcpHandler))
	return m
}

// verify introspects the token with fosite and checks that it was issued
// for this server (RFC 8707 audience).
func (m *protectedMCP) verify(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	_, ar, err := m.as.provider.IntrospectToken(ctx, token, fosite.AccessToken, new(fosite.DefaultSession))
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.refused[token] = fosite.ErrorToRFC6749Error(err).ErrorField + ": " + fosite.ErrorToRFC6749Error(err).GetDescription()
		return nil, fmt.Errorf("%w: %s", auth.ErrInvalidToken, fosite.ErrorToRFC6749Error(err).ErrorField)
	}
	if aud := ar.GetGrantedAudience(); !slices.Equal(aud, fosite.Arguments{m.resource}) {
		m.violations = append(m.violations, fmt.Sprintf("a token for audience %v was sent to %s", aud, m.resource))
		return nil, fmt.Errorf("%w: wrong audience", auth.ErrInvalidToken)
	}
	if m.persisted != nil && !m.persisted(token) {
		m.violations = append(m.violations, "an access token was used that the client had not saved first")
	}
	m.accepted = append(m.accepted, token)
	return &auth.TokenInfo{
		Scopes:     ar.GetGrantedScopes(),
		Expiration: ar.GetSession().GetExpiresAt(fosite.AccessToken),
		UserID:     ar.GetSession().GetSubject(),
	}, nil
}

func (m *protectedMCP) refusal(token string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused[token]
}

// savedTokens wraps the real TokenStore and remembers every token value that
// was durably saved, so the servers can tell whether a token was saved
// before it was used.
type savedTokens struct {
	oauth.TokenStore
	mu     sync.Mutex
	values map[string]bool
}

func (s *savedTokens) SaveToken(ctx context.Context, key oauth.TokenKey, tok *oauth.Token) error {
	if err := s.TokenStore.SaveToken(ctx, key, tok); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[tok.AccessToken.Reveal()] = true
	s.values[tok.RefreshToken.Reveal()] = true
	return nil
}

func (s *savedTokens) saved(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return v != "" && s.values[v]
}

// e2eBrowser plays the user's browser: it opens the authorization URL,
// follows fosite's redirect to the client's loopback listener, and counts
// logins.
type e2eBrowser struct {
	mu    sync.Mutex
	opens int
}

func (b *e2eBrowser) open(ctx context.Context, authURL string) error {
	b.mu.Lock()
	b.opens++
	b.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Login complete") {
		return fmt.Errorf("browser: login page ended at %s with %s: %s", resp.Request.URL.Redacted(), resp.Status, body)
	}
	return nil
}

func (b *e2eBrowser) logins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens
}

// e2eClock is the client's clock.
type e2eClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *e2eClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *e2eClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// freeLoopbackPort picks a port for the login redirect. The listener the
// client opens later binds it again; the gap is short.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFositeEndToEnd drives a real connector through a whole OAuth life
// against fosite: login on the first 401, a call, refresh ahead of expiry
// by the client's clock, refresh after the server refuses a token fosite
// has expired, rotation (the old refresh token is dead, and replaying it
// makes fosite revoke the family, from which the client recovers by
// logging in again), and logout with revocation.
func TestFositeEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	as := newFositeAS(t)
	mcpSrv := newProtectedMCP(t, as)
	as.registerClient(mcpSrv.resource)

	keyring, err := credentials.Open(ctx, credentials.Options{Backend: "file", FileDir: t.TempDir(), Passphrase: func(string) (string, error) { return "e2e-passphrase", nil }})
	if err != nil {
		t.Fatalf("opening the file keyring: %v", err)
	}
	store := &savedTokens{TokenStore: &oauth.KeyringStore{Secrets: keyring}, values: map[string]bool{}}
	as.persisted = store.saved
	mcpSrv.persisted = store.saved
	key := oauth.TokenKey{Server: e2eServer, Issuer: as.issuer(), ClientID: e2eClientID, Resource: mcpSrv.resource}
	stored := func() *oauth.Token {
		t.Helper()
		tok, err := store.LoadToken(ctx, key)
		if err != nil {
			t.Fatalf("loading the stored token: %v", err)
		}
		return tok
	}

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	browser := &e2eBrowser{}
	clock := &e2eClock{}
	h, err := oauth.New(oauth.Config{
		ServerName:             e2eServer,
		ServerURL:              mcpSrv.resource,
		AllowInsecureLocalhost: true,
		Store:                  store,
		Logger:                 logger,
		Fetcher:                &oauth.LoopbackFetcher{Open: browser.open, Timeout: 30 * time.Second},
		RedirectURL:            fmt.Sprintf("http://127.0.0.1:%d/callback", freeLoopbackPort(t)),
		Client:                 &oauth.ClientConfig{ClientID: e2eClientID, Issuer: as.issuer()},
		RequestOfflineAccess:   true,
		Now:                    clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connectors.New(connectors.Options{
		Config:        connectors.Config{Name: e2eServer, URL: mcpSrv.resource, Timeout: 30 * time.Second},
		Authenticator: connectors.NewOAuthAuthenticator(h),
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client logs:\n%s", logs.String())
		}
	})

	call := func(step string) {
		t.Helper()
		res, err := conn.CallTool(ctx, "whoami", nil, nil)
		if err != nil {
			t.Fatalf("%s: call: %v", step, err)
		}
		if res.IsError || len(res.Content) != 1 {
			t.Fatalf("%s: call result %+v", step, res)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != e2eSubject {
			t.Fatalf("%s: the server saw user %q, want %q", step, got, e2eSubject)
		}
	}

	// Login: the first request gets a 401, discovery goes PRM -> RFC 8414,
	// the browser logs in, the code is exchanged.
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	call("login")
	if n := browser.logins(); n != 1 {
		t.Fatalf("logins after connecting = %d, want 1", n)
	}
	as.mu.Lock()
	q := as.authRequests[0]
	as.mu.Unlock()
	for k, want := range map[string]string{"response_type": "code", "client_id": e2eClientID, "code_challenge_method": "S256", "resource": mcpSrv.resource} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, e2eScope) || !slices.Contains(scopes, "offline_access") {
		t.Errorf("authorization request scope = %q, want %s and offline_access", q.Get("scope"), e2eScope)
	}
	first := stored()
	if first.RefreshToken.IsZero() {
		t.Fatal("fosite issued no refresh token (offline_access not granted?)")
	}
	if st := h.Status(); !st.Authorized || st.Issuer != as.issuer() || st.ClientID != e2eClientID || st.Resource != mcpSrv.resource {
		t.Errorf("status after login = %+v", st)
	}

	// Expiry by the client's clock: the token is renewed before it is sent,
	// so the server never sees an expired token.
	clock.advance(2 * time.Hour)
	call("refresh ahead of expiry")
	if n := h.Refreshes(); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	second := stored()
	if second.AccessToken.Reveal() == first.AccessToken.Reveal() || second.RefreshToken.Reveal() == first.RefreshToken.Reveal() {
		t.Fatal("the refresh did not replace the stored access and refresh tokens (fosite rotates both)")
	}
	if why := mcpSrv.refusal(first.AccessToken.Reveal()); why != "" {
		t.Errorf("the server refused the old token (%s): the client should have refreshed before sending it", why)
	}
	// fosite revoked the old access token when it rotated the refresh token.
	if status := rawMCPStatus(ctx, t, mcpSrv, first.AccessToken.Reveal()); status != http.StatusUnauthorized {
		t.Errorf("the pre-rotation access token got %d from the server, want 401", status)
	}

	// Expiry at the authorization server, ahead of the client's view: the
	// server answers 401, the client refreshes and retries.
	as.expire(second.AccessToken.Reveal())
	call("refresh after 401")
	if why := mcpSrv.refusal(second.AccessToken.Reveal()); !strings.Contains(why, "expired") {
		t.Errorf("the server's refusal of the expired token = %q, want fosite's token expired", why)
	}
	if n := h.Refreshes(); n != 2 {
		t.Fatalf("refreshes = %d, want 2", n)
	}
	third := stored()
	if third.RefreshToken.Reveal() == second.RefreshToken.Reveal() {
		t.Fatal("the second refresh did not rotate the stored refresh token")
	}
	if n := browser.logins(); n != 1 {
		t.Errorf("logins after two refreshes = %d, want still 1", n)
	}

	// Rotation: the first refresh token is dead. Presenting it (as a thief
	// would) is refused, and fosite revokes the whole grant (RFC 6819
	// §5.2.2.3), so the client's current tokens die too.
	if code := postRefresh(ctx, t, as, mcpSrv.resource, first.RefreshToken.Reveal()); code != "invalid_grant" {
		t.Fatalf("replaying the rotated refresh token: error %q, want invalid_grant", code)
	}
	// The client finds its token refused, its refresh token revoked, and
	// logs in again instead of failing the call.
	call("recover from a revoked grant")
	if n := browser.logins(); n != 2 {
		t.Fatalf("logins after the grant was revoked = %d, want 2", n)
	}
	if why := mcpSrv.refusal(third.AccessToken.Reveal()); why == "" {
		t.Error("the server never refused the access token of the revoked grant")
	}
	fourth := stored()
	if fourth.RefreshToken.Reveal() == third.RefreshToken.Reveal() {
		t.Error("the new login did not replace the revoked refresh token")
	}

	// Logout: fosite revokes the grant (RFC 7009), nothing of the server
	// stays in the keyring, and the next call needs a new login.
	revs, err := h.Revoke(ctx)
	if err != nil || len(revs) != 1 || revs[0].Err != nil || !slices.Equal(revs[0].Revoked, []string{"refresh_token", "access_token"}) {
		t.Fatalf("revoking at logout: %+v, %v", revs, err)
	}
	if code := postRefresh(ctx, t, as, mcpSrv.resource, fourth.RefreshToken.Reveal()); code == "" {
		t.Error("fosite still refreshes the revoked refresh token")
	}
	if status := rawMCPStatus(ctx, t, mcpSrv, fourth.AccessToken.Reveal()); status != http.StatusUnauthorized {
		t.Errorf("the revoked access token got %d from the server, want 401", status)
	}
	if err := h.Forget(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if _, err := store.LoadToken(ctx, key); !errors.Is(err, oauth.ErrNotStored) {
		t.Fatalf("token after logout: %v, want ErrNotStored", err)
	}
	if items, err := keyring.List(e2eServer); err != nil || len(items) != 0 {
		t.Fatalf("keyring items of %s after logout: %v (%v), want none", e2eServer, items, err)
	}
	if st := h.Status(); st.Authorized {
		t.Errorf("status after logout = %+v, want not authorized", st)
	}
	call("after logout")
	if n := browser.logins(); n != 3 {
		t.Fatalf("logins after logout = %d, want 3", n)
	}
	last := stored()
	mcpSrv.mu.Lock()
	lastSent := mcpSrv.accepted[len(mcpSrv.accepted)-1]
	mcpSrv.mu.Unlock()
	if lastSent == fourth.AccessToken.Reveal() || lastSent != last.AccessToken.Reveal() {
		t.Error("the call after logout did not use the token of the new login")
	}

	// What held throughout.
	authorizations, grants := as.counts()
	if authorizations != 3 || grants["authorization_code"] != 3 {
		t.Errorf("authorization requests %d, code exchanges %d; want 3 each", authorizations, grants["authorization_code"])
	}
	as.mu.Lock()
	for i, q := range as.authRequests {
		if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("resource") != mcpSrv.resource {
			t.Errorf("authorization request %d lacks S256 PKCE or the resource: %v", i+1, redactedKeys(q))
		}
	}
	for i, f := range as.tokenRequests {
		if f.Get("resource") != mcpSrv.resource {
			t.Errorf("token request %d (%s) has resource %q, want %q", i+1, f.Get("grant_type"), f.Get("resource"), mcpSrv.resource)
		}
	}
	asViolations, issued := slices.Clone(as.violations), slices.Clone(as.issued)
	as.mu.Unlock()
	mcpSrv.mu.Lock()
	violations := append(asViolations, mcpSrv.violations...)
	accepted := len(mcpSrv.accepted)
	mcpSrv.mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	if accepted == 0 {
		t.Error("the server accepted no token")
	}
	if len(issued) < 3*3+2*2 {
		t.Errorf("fosite handed out %d codes and tokens, want at least 13", len(issued))
	}
	out := logs.String()
	for _, s := range issued {
		if strings.Contains(out, s) {
			t.Errorf("a code or token fosite issued appears in the logs")
			break
		}
	}
}

// rawMCPStatus sends one initialize request with the given token and
// returns the HTTP status.
func rawMCPStatus(ctx context.Context, t *testing.T, m *protectedMCP, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.resource, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// postRefresh presents a refresh token to fosite's token endpoint directly
// and returns the OAuth error code ("" on success).
func postRefresh(ctx context.Context, t *testing.T, as *fositeAS, resource, refreshToken string) string {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {e2eClientID}, "resource": {resource}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, as.issuer()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return e.Error
}

// redactedKeys lists a query's parameter names, for messages that must not
// print the values.
func redactedKeys(q url.Values) []string {
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
