package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
)

// testAS is an authorization server and an MCP resource server on one
// loopback httptest server, speaking the real protocol: PRM, RFC 8414
// metadata, DCR, an authorization endpoint that redirects at once (like the
// conformance mock) and a token endpoint with PKCE checks and refresh-token
// rotation. The MCP endpoint is a go-sdk server behind RequireBearerToken.
type testAS struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// knobs
	issuerOverride string // metadata issuer, when it should lie
	pkceMethods    []string
	issSupported   bool
	issInResponse  func(issuer string) string // nil: the true issuer when supported
	tokenTTL       time.Duration
	rotate         bool
	clientSecret   string // when set, the registered client must authenticate
	device         bool   // offer the device authorization grant
	// deviceScript answers the first device-code polls of every device
	// login with these error codes, whatever the approval says.
	deviceScript []string
	noRefresh    bool // refuse every refresh (an expired login)
	deviceTTL    int  // expires_in of a device code; 0 means 600
	// observations
	authRequests   []url.Values
	tokenRequests  []url.Values
	registrations  int
	refreshes      int
	deviceRequests []url.Values
	devicePolls    int
	devices        map[string]*deviceGrantState // by device code
	codes          map[string]codeGrant
	access         map[string]time.Time // token -> expiry
	refresh        map[string]bool
}

type codeGrant struct {
	challenge, resource, redirect, scope string
}

type deviceGrantState struct {
	userCode, resource, scope string
	approved, denied          bool
	script                    []string
}

func newTestAS(t *testing.T) *testAS {
	a := &testAS{t: t, pkceMethods: []string{"S256"}, tokenTTL: time.Hour, rotate: true,
		codes: map[string]codeGrant{}, access: map[string]time.Time{}, refresh: map[string]bool{}, devices: map[string]*deviceGrantState{}}
	mux := http.NewServeMux()
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)

	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"resource": a.srv.URL + "/mcp", "authorization_servers": []string{a.issuer()}, "scopes_supported": []string{"tools"}})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server/as", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		iss := a.issuer()
		if a.issuerOverride != "" {
			iss = a.issuerOverride
		}
		m := map[string]any{
			"issuer":                   iss,
			"authorization_endpoint":   a.srv.URL + "/as/authorize",
			"token_endpoint":           a.srv.URL + "/as/token",
			"registration_endpoint":    a.srv.URL + "/as/register",
			"response_types_supported": []string{"code"},
			"authorization_response_iss_parameter_supported": a.issSupported,
		}
		if a.pkceMethods != nil {
			m["code_challenge_methods_supported"] = a.pkceMethods
		}
		if a.device {
			m["device_authorization_endpoint"] = a.srv.URL + "/as/device"
		}
		writeJSON(w, 200, m)
	})
	mux.HandleFunc("POST /as/device", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		defer a.mu.Unlock()
		a.deviceRequests = append(a.deviceRequests, r.PostForm)
		dc, uc := "dc-"+rand.Text(), rand.Text()[:8]
		a.devices[dc] = &deviceGrantState{userCode: uc, resource: r.PostForm.Get("resource"), scope: r.PostForm.Get("scope"), script: slices.Clone(a.deviceScript)}
		ttl := a.deviceTTL
		if ttl == 0 {
			ttl = 600
		}
		writeJSON(w, 200, map[string]any{
			"device_code": dc, "user_code": uc, "expires_in": ttl, "interval": 1,
			"verification_uri":          a.srv.URL + "/as/device/verify",
			"verification_uri_complete": a.srv.URL + "/as/device/verify?user_code=" + uc,
		})
	})
	// The user's browser: opening the verification URI with the code
	// approves the login (deny=1 refuses it).
	mux.HandleFunc("GET /as/device/verify", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, d := range a.devices {
			if d.userCode == r.URL.Query().Get("user_code") {
				d.approved, d.denied = r.URL.Query().Get("deny") == "", r.URL.Query().Get("deny") != ""
				_, _ = w.Write([]byte("approved"))
				return
			}
		}
		http.Error(w, "unknown user code", http.StatusNotFound)
	})
	mux.HandleFunc("POST /as/register", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		a.mu.Lock()
		a.registrations++
		a.mu.Unlock()
		if body["application_type"] != "native" {
			writeJSON(w, 400, map[string]any{"error": "invalid_client_metadata", "error_description": "application_type must be native"})
			return
		}
		resp := map[string]any{"client_id": "dcr-client", "token_endpoint_auth_method": "none"}
		if a.clientSecret != "" {
			resp["client_secret"] = a.clientSecret
			resp["token_endpoint_auth_method"] = "client_secret_basic"
		}
		writeJSON(w, 201, resp)
	})
	mux.HandleFunc("GET /as/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		a.mu.Lock()
		a.authRequests = append(a.authRequests, q)
		code := "code-" + rand.Text()
		a.codes[code] = codeGrant{challenge: q.Get("code_challenge"), resource: q.Get("resource"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
		back := url.Values{"code": {code}, "state": {q.Get("state")}}
		switch {
		case a.issInResponse != nil:
			if v := a.issInResponse(a.issuer()); v != "" {
				back.Set("iss", v)
			}
		case a.issSupported:
			back.Set("iss", a.issuer())
		}
		a.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /as/token", a.token)

	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "protected", Version: "1"}, nil)
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, struct{}{}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, &mcp.StreamableHTTPOptions{Stateless: true})
	verify := func(ctx context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		exp, ok := a.access[tok]
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: []string{"tools"}, Expiration: exp}, nil
	}
	mux.Handle("/mcp", auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: a.srv.URL + "/.well-known/oauth-protected-resource/mcp"})(h))
	return a
}

func (a *testAS) issuer() string { return a.srv.URL + "/as" }
func (a *testAS) mcpURL() string { return a.srv.URL + "/mcp" }

func (a *testAS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokenRequests = append(a.tokenRequests, f)
	if a.clientSecret != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != "dcr-client" || p != url.QueryEscape(a.clientSecret) {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
	}
	issue := func(scope string) {
		at := "at-" + rand.Text()
		a.access[at] = time.Now().Add(a.tokenTTL)
		resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(a.tokenTTL.Seconds()), "scope": scope}
		rt := "rt-" + rand.Text()
		a.refresh[rt] = true
		resp["refresh_token"] = rt
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
			issue(g.scope)
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		a.devicePolls++
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
			issue(d.scope)
		}
	case "refresh_token":
		a.refreshes++
		if a.noRefresh || !a.refresh[f.Get("refresh_token")] || f.Get("resource") == "" {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
			return
		}
		if a.rotate {
			delete(a.refresh, f.Get("refresh_token"))
		}
		issue("tools")
	default:
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// expireAll makes every issued access token invalid at the resource server.
func (a *testAS) expireAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.access {
		a.access[k] = time.Now().Add(-time.Hour)
	}
}

func (a *testAS) lastAuthRequest() url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.authRequests) == 0 {
		return nil
	}
	return a.authRequests[len(a.authRequests)-1]
}

func (a *testAS) tokenGrants() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, f := range a.tokenRequests {
		out = append(out, f.Get("grant_type"))
	}
	return out
}

// newTestHandler is a headless authorization-code handler for the fixture.
func newTestHandler(t *testing.T, a *testAS, mod func(*Config)) *Handler {
	t.Helper()
	policy, err := PolicyFor(a.mcpURL(), true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ServerName:             "fixture",
		ServerURL:              a.mcpURL(),
		AllowInsecureLocalhost: true,
		Fetcher:                NewHeadlessFetcher(policy),
		RedirectURL:            "http://127.0.0.1:7777/callback",
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// connect opens a go-sdk client session through the handler.
func connect(t *testing.T, ctx context.Context, a *testAS, h *Handler) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.mcpURL(), OAuthHandler: h, HTTPClient: &http.Client{Transport: h.Transport(nil)}}, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func containsAll(s []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(s, w) {
			return false
		}
	}
	return true
}

var _ = strings.Contains
