package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"

	"github.com/mediatorhq/mediator/credentials"
)

// Server A redirects its MCP endpoint to server B. The connector refuses to
// follow, B never hears from it, and so never receives A's key.
func TestRedirectToAnotherOriginIsRefused(t *testing.T) {
	const keyA = "key-of-a-redirect-canary-40c3"
	var logA, logB headerLog
	srvB := httptest.NewServer(guarded(&logB, nil, mcpHandler(TransportStreamableHTTP, testMCPServer())))
	t.Cleanup(srvB.Close)
	srvA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logA.record(r.Header)
		http.Redirect(w, r, srvB.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srvA.Close)

	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		t.Run(transport, func(t *testing.T) {
			c := mustNew(t, Options{
				Config:  Config{Name: "a", URL: srvA.URL + "/mcp", Transport: transport, Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}},
				Secrets: secretMap{"k": keyA},
			})
			err := c.Connect(testCtx(t))
			if err == nil {
				t.Fatal("Connect followed the redirect")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), "refusing redirect") || !strings.Contains(err.Error(), srvB.Listener.Addr().String()) {
				t.Errorf("error does not say which redirect was refused: %v", err)
			}
			if strings.Contains(err.Error(), keyA) {
				t.Errorf("error holds the key: %v", err)
			}
		})
	}
	if !logA.contains(keyA) {
		t.Fatal("A never received its own key; the test proves nothing")
	}
	if n := len(logB.all()); n != 0 || logB.contains(keyA) {
		t.Errorf("B received %d requests (A's key among them: %v)", n, logB.contains(keyA))
	}
}

// A redirect within the server's origin is followed, with the credential.
func TestRedirectWithinOriginIsFollowed(t *testing.T) {
	const key = "same-origin-key-canary-77aa"
	var log headerLog
	mcpH := guarded(&log, func(r *http.Request) bool { return r.Header.Get("X-API-Key") == key }, mcpHandler(TransportStreamableHTTP, testMCPServer()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/mcp", http.StatusPermanentRedirect)
			return
		}
		mcpH.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{
		Config:  Config{Name: "moved", URL: srv.URL + "/old", Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}},
		Secrets: secretMap{"k": key},
	})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, nil); err != nil {
		t.Fatalf("CallTool: %v", err)
	}
}

// Below the redirect policy, the transport itself talks only to the
// server's origin: a client that did follow a redirect to B reaches
// nothing, so B gets neither A's key nor A's messages.
func TestTransportRefusesOtherOrigins(t *testing.T) {
	const keyA = "key-of-a-layer-canary-d215"
	var logA, logB headerLog
	srvB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { logB.record(r.Header) }))
	t.Cleanup(srvB.Close)
	srvA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logA.record(r.Header)
		http.Redirect(w, r, srvB.URL+"/landed", http.StatusFound)
	}))
	t.Cleanup(srvA.Close)

	o, err := serverOrigin(srvA.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newHTTPStack(o, nil, headerAuth{header: "X-Api-Key", secret: credentials.NewSecret(keyA)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	following := *st.client
	following.CheckRedirect = nil // Go's default: follow
	_, err = following.Get(srvA.URL + "/start")
	if err == nil || !strings.Contains(err.Error(), "refusing a request to "+srvB.URL) {
		t.Fatalf("request to B: %v", err)
	}
	if !logA.contains(keyA) {
		t.Error("A did not receive its key")
	}
	if n := len(logB.all()); n != 0 {
		t.Errorf("B received %d requests", n)
	}
}

// A legacy SSE server names the URL its messages go to. One that names
// another origin (here B) gets a refusal, not mediator's messages or key.
func TestSSEEndpointOnAnotherOriginIsRefused(t *testing.T) {
	const keyA = "key-of-a-sse-canary-8b02"
	var logA, logB headerLog
	srvB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { logB.record(r.Header) }))
	t.Cleanup(srvB.Close)
	// A speaks just enough of the SSE transport to name B as the message
	// endpoint: go-sdk's own SSE handler always names its own origin.
	srvA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logA.record(r.Header)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: endpoint\ndata: "+srvB.URL+"/message\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srvA.Close)
	c := mustNew(t, Options{
		Config:  Config{Name: "a", URL: srvA.URL, Transport: TransportSSE, Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}, Timeout: 10 * time.Second},
		Secrets: secretMap{"k": keyA},
	})
	err := c.Connect(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "refusing a request to "+srvB.URL) {
		t.Fatalf("Connect: %v", err)
	}
	t.Logf("error: %v", err)
	if !logA.contains(keyA) {
		t.Error("A did not receive its key")
	}
	if n := len(logB.all()); n != 0 {
		t.Errorf("B received %d requests", n)
	}
}

func TestOriginComparison(t *testing.T) {
	base, _ := serverOrigin("https://Example.com/mcp")
	for raw, same := range map[string]bool{
		"https://example.com:443/other": true,
		"https://EXAMPLE.com/":          true,
		"http://example.com/mcp":        false,
		"https://example.com:8443/mcp":  false,
		"https://api.example.com/mcp":   false,
		"https://example.com.evil/mcp":  false,
	} {
		u, _ := url.Parse(raw)
		if got := originOf(u) == base; got != same {
			t.Errorf("%s same origin as https://Example.com: %v, want %v", raw, got, same)
		}
	}
}

// tlsAuth stands for the coming mTLS auth type: it trusts the test CA and
// presents a client certificate through the TLS hook of the seam.
type tlsAuth struct {
	roots *x509.CertPool
	certs []tls.Certificate
}

func (tlsAuth) Authenticate(*http.Request) error { return nil }
func (a tlsAuth) ConfigureTLS(cfg *tls.Config) error {
	cfg.RootCAs = a.roots
	cfg.Certificates = a.certs
	return nil
}

// The TLS hook of the Authenticator seam reaches the connector's own
// transport: a server demanding a client certificate gets one.
func TestAuthenticatorTLSHook(t *testing.T) {
	var hlog headerLog
	h := guarded(&hlog, func(r *http.Request) bool { return r.TLS != nil && len(r.TLS.PeerCertificates) > 0 }, mcpHandler(TransportStreamableHTTP, testMCPServer()))
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	ctx := testCtx(t)

	c := mustNew(t, Options{Config: Config{Name: "mtls", URL: srv.URL}, Authenticator: tlsAuth{roots: roots, certs: srv.TLS.Certificates}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect with client certificate: %v", err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, nil); err != nil {
		t.Fatal(err)
	}

	// Without the hook the server's certificate is not trusted: fail closed.
	plain := mustNew(t, Options{Config: Config{Name: "plain", URL: srv.URL}})
	if err := plain.Connect(ctx); err == nil || kindOf(t, err) != KindTransport {
		t.Errorf("Connect without the TLS hook: %v", err)
	}

	// The hook needs the connector's own transport.
	shared := mustNew(t, Options{Config: Config{Name: "shared", URL: srv.URL}, BaseTransport: http.DefaultTransport, Authenticator: tlsAuth{roots: roots}})
	if err := shared.Connect(ctx); err == nil || kindOf(t, err) != KindConfig {
		t.Errorf("TLS hook with BaseTransport: %v", err)
	}
}

// oauthAuth stands for the coming OAuth auth types: its handler hands the
// streamable transport a token.
type oauthAuth struct{ token string }

func (oauthAuth) Authenticate(*http.Request) error  { return nil }
func (a oauthAuth) OAuthHandler() auth.OAuthHandler { return a }
func (a oauthAuth) TokenSource(context.Context) (oauth2.TokenSource, error) {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: a.token, TokenType: "Bearer"}), nil
}
func (oauthAuth) Authorize(context.Context, *http.Request, *http.Response) error {
	return errors.New("no authorization flow in this test")
}

// The OAuth hook of the seam reaches the streamable transport.
func TestAuthenticatorOAuthHook(t *testing.T) {
	const token = "oauth-token-canary-5f0e"
	var log headerLog
	srv := httptest.NewServer(guarded(&log, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token }, mcpHandler(TransportStreamableHTTP, testMCPServer())))
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "oauth", URL: srv.URL}, Authenticator: oauthAuth{token: token}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, nil); err != nil {
		t.Fatal(err)
	}

	wrong := mustNew(t, Options{Config: Config{Name: "oauth-wrong", URL: srv.URL}, Authenticator: oauthAuth{token: "expired"}})
	err := wrong.Connect(ctx)
	if err == nil || kindOf(t, err) != KindAuth || wrong.Status().State != StateAuthRequired {
		t.Errorf("Connect with a rejected token: %v, state %s", err, wrong.Status().State)
	}
}
