// Package oauthtest runs an OAuth authorization server and an MCP resource
// server that trusts it, on one loopback httptest server, for tests of
// mediator's OAuth client: protected resource metadata, RFC 8414 metadata,
// dynamic registration, an authorization endpoint that redirects at once
// (as the conformance suite's mock does; a test plays the browser by
// GETting it), PKCE-checked code exchange, refresh with rotation, the
// device grant, client credentials (basic, post, private_key_jwt), JWT
// bearer assertions and an enterprise IdP issuing ID-JAGs. The MCP endpoint
// is a go-sdk server behind auth.RequireBearerToken that accepts only tokens
// this server (or a server it trusts) issued for its own resource; its tool
// "admin" needs the scope "admin" and answers 403 insufficient_scope
// without it. NewTLS serves the same over HTTPS with a TLS config of the
// test's (a client CA, for mTLS).
//
// It is real protocol on real sockets, written for tests; it is not an
// authorization server for anything else.
package oauthtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DCRClientID is the client ID dynamic registration hands out.
const DCRClientID = "dcr-client"

// Server is the authorization server and MCP server. Lock Mu to read or
// change its fields while it runs.
type Server struct {
	srv  *httptest.Server
	base atomic.Pointer[string] // see UseHost

	Mu sync.Mutex
	// Knobs.
	IssuerOverride string // metadata issuer, when it should lie
	PKCEMethods    []string
	IssSupported   bool
	IssInResponse  func(issuer string) string // nil: the true issuer when supported
	TokenTTL       time.Duration
	Rotate         bool
	// ClientSecret, when set, makes dynamic registration hand out this
	// secret, and the registered client must then authenticate with it.
	ClientSecret string
	// Device offers the device authorization grant.
	Device bool
	// DeviceScript answers the first device-code polls of every device
	// login with these error codes, whatever the approval says.
	DeviceScript []string
	DeviceTTL    int  // expires_in of a device code; 0 means 600
	NoRefresh    bool // refuse every refresh (an expired login)
	// Clients are confidential clients by ID with their secrets; ClientKeys
	// those that sign private_key_jwt assertions.
	Clients    map[string]string
	ClientKeys map[string]crypto.PublicKey
	// Assertions are the workload identity JWTs the jwt-bearer grant takes.
	Assertions []string
	// IDTokens are the SSO ID tokens the IdP exchanges for ID-JAGs.
	IDTokens []string
	// TokenPrefix starts every access and refresh token, so a test can
	// look for tokens (a canary) in what a program printed.
	TokenPrefix string
	// PRMIssuer is the authorization server the protected resource
	// metadata names; empty means this server's own. Trusted are other
	// servers whose tokens the MCP endpoint accepts (an authorization
	// server migration).
	PRMIssuer string
	Trusted   []*Server
	// ClientID is what dynamic registration hands out; empty means
	// DCRClientID.
	ClientID string
	// MetadataStatus, when set, is the status every authorization server
	// metadata request gets (a broken server).
	MetadataStatus int
	// TokenRedirect, when set, makes the token endpoint answer 307 to it.
	TokenRedirect string
	// Revocation advertises an RFC 7009 revocation endpoint.
	Revocation bool

	// Observations.
	AuthRequests   []url.Values
	TokenRequests  []url.Values
	DeviceRequests []url.Values
	Registrations  int
	// RegistrationBodies are the dynamic registration requests.
	RegistrationBodies []map[string]any
	Refreshes          int
	DevicePolls        int
	// Revoked are the tokens the revocation endpoint took back, each with
	// its token_type_hint and the client that asked: "hint client token".
	Revoked []string
	// Presented holds the Authorization header of every request the MCP
	// endpoint received; PresentedExpired counts those whose token this
	// server issued and had expired.
	Presented        []string
	PresentedExpired int

	codes   map[string]codeGrant
	access  map[string]issued
	refresh map[string]string // refresh token → the scope it grants
	devices map[string]*deviceGrant
	jags    map[string]bool
}

type codeGrant struct {
	challenge, resource, redirect, scope string
}

type issued struct {
	expiry   time.Time
	resource string
	scope    string
}

type deviceGrant struct {
	userCode, resource, scope string
	approved, denied          bool
	script                    []string
}

// New starts the server; it stops when the test ends.
func New(t testing.TB) *Server { return start(t, nil) }

// NewTLS starts the server on HTTPS with cfg (nil: httptest's defaults).
// Its certificate is httptest's; Certificate returns it for a client's CA
// bundle.
func NewTLS(t testing.TB, cfg *tls.Config) *Server {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	return start(t, cfg)
}

// Certificate is the HTTPS server's certificate, or nil over plain HTTP.
func (a *Server) Certificate() []byte {
	if c := a.srv.Certificate(); c != nil {
		return c.Raw
	}
	return nil
}

func start(t testing.TB, tlsCfg *tls.Config) *Server {
	a := &Server{PKCEMethods: []string{"S256"}, TokenTTL: time.Hour, Rotate: true,
		Clients: map[string]string{}, ClientKeys: map[string]crypto.PublicKey{},
		codes: map[string]codeGrant{}, access: map[string]issued{}, refresh: map[string]string{},
		devices: map[string]*deviceGrant{}, jags: map[string]bool{}}
	mux := http.NewServeMux()
	a.srv = httptest.NewUnstartedServer(mux)
	if tlsCfg != nil {
		a.srv.TLS = tlsCfg
		a.srv.StartTLS()
	} else {
		a.srv.Start()
	}
	t.Cleanup(a.srv.Close)

	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		a.Mu.Lock()
		iss := a.PRMIssuer
		a.Mu.Unlock()
		if iss == "" {
			iss = a.Issuer()
		}
		writeJSON(w, 200, map[string]any{"resource": a.MCPURL(), "authorization_servers": []string{iss}, "scopes_supported": []string{"tools"}})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server/as", a.metadata)
	mux.HandleFunc("POST /as/device", a.deviceAuthorization)
	mux.HandleFunc("GET /as/device/verify", a.deviceVerify)
	mux.HandleFunc("POST /as/register", a.register)
	mux.HandleFunc("GET /as/authorize", a.authorize)
	mux.HandleFunc("POST /as/token", a.token)
	mux.HandleFunc("POST /as/revoke", a.revoke)
	mux.HandleFunc("POST /idp/token", a.idpToken)

	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "protected", Version: "1"}, nil)
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "whoami", Description: "answers ok"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "admin", Description: "needs the admin scope"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "admin ok"}}}, nil, nil
	})
	// Localhost protection off: after UseHost, requests name the server
	// by a host name that resolves to loopback, as intended.
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, &mcp.StreamableHTTPOptions{Stateless: true, DisableLocalhostProtection: true})
	verify := func(ctx context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		// Audience: only a token this server (or one it trusts) issued for
		// this resource.
		is, ok := a.lookup(tok)
		if !ok || is.resource != a.MCPURL() {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: strings.Fields(is.scope), Expiration: is.expiry}, nil
	}
	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prm := a.URL() + "/.well-known/oauth-protected-resource/mcp"
		auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prm})(scoped(prm, h)).ServeHTTP(w, r)
	})
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.Mu.Lock()
		a.Presented = append(a.Presented, r.Header.Get("Authorization"))
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			if is, known := a.access[tok]; known && !time.Now().Before(is.expiry) {
				a.PresentedExpired++
			}
		}
		a.Mu.Unlock()
		protected.ServeHTTP(w, r)
	}))
	return a
}

// scoped serves h, answering a call of the admin tool 403 unless the token
// carries the admin scope.
func scoped(prm string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The admin tool wants the admin scope: 403 insufficient_scope
		// with the scope to ask for (MCP step-up authorization).
		if toolName(r) == "admin" {
			if ti := auth.TokenInfoFromContext(r.Context()); ti == nil || !slices.Contains(ti.Scopes, "admin") {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="admin", resource_metadata=%q`, prm))
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// lookup finds an access token this server or a trusted one issued.
func (a *Server) lookup(tok string) (issued, bool) {
	a.Mu.Lock()
	is, ok := a.access[tok]
	trusted := slices.Clone(a.Trusted)
	a.Mu.Unlock()
	for _, o := range trusted {
		if ok {
			break
		}
		o.Mu.Lock()
		is, ok = o.access[tok]
		o.Mu.Unlock()
	}
	return is, ok
}

// toolName is the tool a tools/call request body names, or "".
func toolName(r *http.Request) string {
	if r.Method != http.MethodPost || r.Body == nil {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err != nil {
		return ""
	}
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != "tools/call" {
		return ""
	}
	return msg.Params.Name
}

// URL is the server's base URL.
func (a *Server) URL() string {
	if b := a.base.Load(); b != nil {
		return *b
	}
	return a.srv.URL
}

// UseHost makes the server name itself by host (a name a test's resolver
// maps to 127.0.0.1) in every URL it advertises, as an intranet server
// reached by its host name does. Over HTTPS the name must be one
// httptest's certificate holds: example.com.
func (a *Server) UseHost(host string) {
	u, _ := url.Parse(a.srv.URL)
	b := u.Scheme + "://" + net.JoinHostPort(host, u.Port())
	a.base.Store(&b)
}

// Issuer is the authorization server's issuer.
func (a *Server) Issuer() string { return a.URL() + "/as" }

// MCPURL is the protected MCP endpoint.
func (a *Server) MCPURL() string { return a.URL() + "/mcp" }

// IdPTokenEndpoint is the enterprise IdP's token endpoint.
func (a *Server) IdPTokenEndpoint() string { return a.URL() + "/idp/token" }

// Issued lists every access token the server has issued.
func (a *Server) Issued() []string {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	out := make([]string, 0, len(a.access))
	for k := range a.access {
		out = append(out, k)
	}
	return out
}

// ExpireAll makes every issued access token invalid at the resource server.
func (a *Server) ExpireAll() {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	for k, is := range a.access {
		is.expiry = time.Now().Add(-time.Hour)
		a.access[k] = is
	}
}

// RevokeRefreshTokens takes back every refresh token issued: a refresh
// then gets invalid_grant, as after a user revoked the grant.
func (a *Server) RevokeRefreshTokens() {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	clear(a.refresh)
}

// LastAuthRequest is the query of the last authorization request, or nil.
func (a *Server) LastAuthRequest() url.Values {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if len(a.AuthRequests) == 0 {
		return nil
	}
	return a.AuthRequests[len(a.AuthRequests)-1]
}

// TokenGrants lists the grant_type of every token request.
func (a *Server) TokenGrants() []string {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	var out []string
	for _, f := range a.TokenRequests {
		out = append(out, f.Get("grant_type"))
	}
	return out
}

func (a *Server) metadata(w http.ResponseWriter, r *http.Request) {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.MetadataStatus != 0 {
		http.Error(w, "metadata unavailable", a.MetadataStatus)
		return
	}
	iss := a.Issuer()
	if a.IssuerOverride != "" {
		iss = a.IssuerOverride
	}
	m := map[string]any{
		"issuer":                   iss,
		"authorization_endpoint":   a.URL() + "/as/authorize",
		"token_endpoint":           a.URL() + "/as/token",
		"registration_endpoint":    a.URL() + "/as/register",
		"response_types_supported": []string{"code"},
		"authorization_response_iss_parameter_supported": a.IssSupported,
	}
	if a.PKCEMethods != nil {
		m["code_challenge_methods_supported"] = a.PKCEMethods
	}
	if a.Device {
		m["device_authorization_endpoint"] = a.URL() + "/as/device"
	}
	if a.Revocation {
		m["revocation_endpoint"] = a.URL() + "/as/revoke"
	}
	writeJSON(w, 200, m)
}

// revoke is RFC 7009: the client that asks must authenticate as it does at
// the token endpoint; the token stops working, refresh or access.
func (a *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	id, _, ok := a.clientAuth(r, a.Issuer())
	if !ok {
		writeJSON(w, 401, map[string]any{"error": "invalid_client"})
		return
	}
	tok := r.PostForm.Get("token")
	delete(a.refresh, tok)
	delete(a.access, tok)
	a.Revoked = append(a.Revoked, r.PostForm.Get("token_type_hint")+" "+id+" "+tok)
	w.WriteHeader(http.StatusOK)
}

func (a *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	a.Mu.Lock()
	defer a.Mu.Unlock()
	a.DeviceRequests = append(a.DeviceRequests, r.PostForm)
	dc, uc := "dc-"+rand.Text(), rand.Text()[:8]
	a.devices[dc] = &deviceGrant{userCode: uc, resource: r.PostForm.Get("resource"), scope: r.PostForm.Get("scope"), script: slices.Clone(a.DeviceScript)}
	ttl := a.DeviceTTL
	if ttl == 0 {
		ttl = 600
	}
	writeJSON(w, 200, map[string]any{
		"device_code": dc, "user_code": uc, "expires_in": ttl, "interval": 1,
		"verification_uri":          a.URL() + "/as/device/verify",
		"verification_uri_complete": a.URL() + "/as/device/verify?user_code=" + uc,
	})
}

// deviceVerify is the user's browser at the verification URI: opening it
// with the code approves the login (deny=1 refuses it).
func (a *Server) deviceVerify(w http.ResponseWriter, r *http.Request) {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	for _, d := range a.devices {
		if d.userCode == r.URL.Query().Get("user_code") {
			d.approved, d.denied = r.URL.Query().Get("deny") == "", r.URL.Query().Get("deny") != ""
			_, _ = w.Write([]byte("approved"))
			return
		}
	}
	http.Error(w, "unknown user code", http.StatusNotFound)
}

func (a *Server) register(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	a.Mu.Lock()
	defer a.Mu.Unlock()
	a.Registrations++
	a.RegistrationBodies = append(a.RegistrationBodies, body)
	if body["application_type"] != "native" {
		writeJSON(w, 400, map[string]any{"error": "invalid_client_metadata", "error_description": "application_type must be native"})
		return
	}
	id := a.ClientID
	if id == "" {
		id = DCRClientID
	}
	resp := map[string]any{"client_id": id, "token_endpoint_auth_method": "none"}
	if a.ClientSecret != "" {
		resp["client_secret"] = a.ClientSecret
		resp["token_endpoint_auth_method"] = "client_secret_basic"
	}
	writeJSON(w, 201, resp)
}

func (a *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.Mu.Lock()
	a.AuthRequests = append(a.AuthRequests, q)
	code := "code-" + rand.Text()
	a.codes[code] = codeGrant{challenge: q.Get("code_challenge"), resource: q.Get("resource"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	switch {
	case a.IssInResponse != nil:
		if v := a.IssInResponse(a.Issuer()); v != "" {
			back.Set("iss", v)
		}
	case a.IssSupported:
		back.Set("iss", a.Issuer())
	}
	a.Mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

// clientAuth checks the client's authentication (RFC 6749 §2.3, RFC 7523)
// and returns the client ID. confidential says it proved a credential.
func (a *Server) clientAuth(r *http.Request, audience string) (id string, confidential, ok bool) {
	f := r.PostForm
	secrets := a.Clients
	if a.ClientSecret != "" {
		id := a.ClientID
		if id == "" {
			id = DCRClientID
		}
		secrets = map[string]string{id: a.ClientSecret}
		for k, v := range a.Clients {
			secrets[k] = v
		}
	}
	if u, p, basic := r.BasicAuth(); basic {
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		s, known := secrets[u]
		return u, true, known && s == p
	}
	id = f.Get("client_id")
	if s := f.Get("client_secret"); s != "" {
		want, known := secrets[id]
		return id, true, known && want == s
	}
	if f.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		key, known := a.ClientKeys[id]
		if !known {
			return id, true, false
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(f.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"ES256", "RS256"}), jwt.WithAudience(audience), jwt.WithIssuer(id), jwt.WithSubject(id), jwt.WithExpirationRequired())
		return id, true, err == nil
	}
	// A public client: fine unless the client is confidential.
	_, hasSecret := secrets[id]
	_, hasKey := a.ClientKeys[id]
	return id, false, !hasSecret && !hasKey
}

func (a *Server) token(w http.ResponseWriter, r *http.Request) {
	a.Mu.Lock()
	redirect := a.TokenRedirect
	a.Mu.Unlock()
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusTemporaryRedirect)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	a.Mu.Lock()
	defer a.Mu.Unlock()
	a.TokenRequests = append(a.TokenRequests, f)
	_, confidential, ok := a.clientAuth(r, a.Issuer())
	if !ok {
		writeJSON(w, 401, map[string]any{"error": "invalid_client"})
		return
	}
	issue := func(scope, resource string, refresh bool) {
		at := a.TokenPrefix + "at-" + rand.Text()
		a.access[at] = issued{expiry: time.Now().Add(a.TokenTTL), resource: resource, scope: scope}
		resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(a.TokenTTL.Seconds()), "scope": scope}
		if refresh {
			rt := a.TokenPrefix + "rt-" + rand.Text()
			a.refresh[rt] = scope
			resp["refresh_token"] = rt
		}
		writeJSON(w, 200, resp)
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := a.codes[f.Get("code")]
		delete(a.codes, f.Get("code"))
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case !ok:
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown code"})
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		case f.Get("resource") != g.resource || f.Get("redirect_uri") != g.redirect:
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "resource or redirect_uri differs"})
		default:
			issue(g.scope, g.resource, true)
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		a.DevicePolls++
		d := a.devices[f.Get("device_code")]
		switch {
		case d == nil:
			writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
		case len(d.script) > 0:
			code := d.script[0]
			d.script = d.script[1:]
			writeJSON(w, 400, map[string]any{"error": code})
		case f.Get("resource") != d.resource:
			writeJSON(w, 400, map[string]any{"error": "invalid_target", "error_description": "resource differs"})
		case d.denied:
			writeJSON(w, 400, map[string]any{"error": "access_denied"})
		case !d.approved:
			writeJSON(w, 400, map[string]any{"error": "authorization_pending"})
		default:
			delete(a.devices, f.Get("device_code"))
			issue(d.scope, d.resource, true)
		}
	case "refresh_token":
		a.Refreshes++
		scope, known := a.refresh[f.Get("refresh_token")]
		if a.NoRefresh || !known || f.Get("resource") == "" {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
			return
		}
		if a.Rotate {
			delete(a.refresh, f.Get("refresh_token"))
		}
		if scope == "" {
			scope = "tools"
		}
		issue(scope, f.Get("resource"), true)
	case "client_credentials":
		if !confidential {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "client_credentials needs a confidential client"})
			return
		}
		issue(f.Get("scope"), f.Get("resource"), false)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		as := f.Get("assertion")
		if !slices.Contains(a.Assertions, as) && !a.jags[as] {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "assertion not accepted"})
			return
		}
		delete(a.jags, as)
		issue(f.Get("scope"), f.Get("resource"), false)
	default:
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
	}
}

// idpToken is the enterprise IdP: RFC 8693 exchange of a known ID token for
// an ID-JAG aimed at this server's authorization server.
func (a *Server) idpToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	a.Mu.Lock()
	defer a.Mu.Unlock()
	a.TokenRequests = append(a.TokenRequests, f)
	switch {
	case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange",
		f.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag",
		!slices.Contains(a.IDTokens, f.Get("subject_token")):
		writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
	case f.Get("audience") != a.Issuer() || f.Get("resource") != a.MCPURL():
		writeJSON(w, 400, map[string]any{"error": "invalid_target"})
	default:
		jag := "jag-" + rand.Text()
		a.jags[jag] = true
		writeJSON(w, 200, map[string]any{"access_token": jag, "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "token_type": "N_A", "expires_in": 300})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// RedirectURL is a loopback redirect URI on a port that was free a moment
// ago, for a browser login's one-shot listener.
func RedirectURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
}

// Visit plays the user's browser: it opens the URL and follows the
// authorization server's redirect to the login's listener. It fails unless
// the last page answered 200.
func Visit(ctx context.Context, rawURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the browser ended at %s with %s", resp.Request.URL.Redacted(), resp.Status)
	}
	return nil
}
