package connectors

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/connectors/tlstest"
)

// headlessLogin is a login whose user agent follows the authorization
// server's immediate redirect itself.
func headlessLogin() *Login { return &Login{Fetcher: &oauth.HeadlessFetcher{}} }

// TestOAuthOverMTLS: a server that wants a client certificate and is
// signed by a private CA also serves its OAuth metadata (and here its
// authorization server) over that connection. The login and later calls
// reach it with the connector's tls settings.
func TestOAuthOverMTLS(t *testing.T) {
	pki := tlstest.New(t)
	as := oauthtest.NewTLS(t, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool})
	ca := filepath.Join(t.TempDir(), "server-ca.pem")
	tlstest.WriteFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: as.Certificate()})))
	ring := fileKeyring(t)
	setSecret(t, ring, "bank", "client-key", pki.KeyPEM)
	cfg := Config{Name: "bank", URL: as.MCPURL(),
		Auth: AuthConfig{Type: AuthOAuth, RedirectURL: oauthtest.RedirectURL(t)},
		TLS:  TLSConfig{Cert: pki.CertFile, KeySecret: "client-key", CA: ca}}
	ctx := testCtx(t)

	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("bank"), Login: headlessLogin()})
	if err := login.Connect(ctx); err != nil {
		t.Fatalf("login over mTLS: %v", err)
	}
	_ = login.Close()
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("bank")})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect with the stored login over mTLS: %v", err)
	}
	if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestOAuthTLSFailureIsReported: when the authorization server's
// certificate does not verify, the error says so; it is not mistaken for
// "no metadata" and reported as a missing registration.
func TestOAuthTLSFailureIsReported(t *testing.T) {
	pki := tlstest.New(t)
	as := oauthtest.NewTLS(t, nil)
	// An authorization server whose certificate is a client certificate
	// of another CA: it verifies against nothing the connector trusts.
	pair, err := tls.X509KeyPair(mustRead(t, pki.CertFile), []byte(pki.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	bad := httptest.NewUnstartedServer(http.NotFoundHandler())
	bad.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	bad.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	bad.StartTLS()
	defer bad.Close()
	as.PRMIssuer = bad.URL + "/as"
	ca := filepath.Join(t.TempDir(), "server-ca.pem")
	tlstest.WriteFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: as.Certificate()})))
	cfg := Config{Name: "bank", URL: as.MCPURL(),
		Auth: AuthConfig{Type: AuthOAuth, RedirectURL: oauthtest.RedirectURL(t)},
		TLS:  TLSConfig{CA: ca}}
	c := mustNew(t, Options{Config: cfg, Secrets: fileKeyring(t).ForServer("bank"), Login: headlessLogin()})
	err = c.Connect(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "registered") {
		t.Fatalf("connect = %v, want the certificate failure", err)
	}
	t.Log(err)
}

// TestOAuthParallelCallsAtExpiryRefreshOnce: 50 calls through one connector
// find its token expired at once; the authorization server sees exactly
// one refresh and every call goes through. Then the same when the server
// rejects the token before its time (401 on every call).
func TestOAuthParallelCallsAtExpiryRefreshOnce(t *testing.T) {
	as := oauthtest.New(t)
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "busy", as)
	ctx := testCtx(t)
	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("busy"), Login: headlessLogin()})
	if err := login.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("busy"), Now: clock})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
	refreshes := func() int { as.Mu.Lock(); defer as.Mu.Unlock(); return as.Refreshes }
	if n := refreshes(); n != 0 {
		t.Fatalf("%d refreshes before expiry", n)
	}
	parallel := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}

	mu.Lock()
	now = now.Add(2 * time.Hour) // past the token's expiry, for mediator
	mu.Unlock()
	parallel()
	if n := refreshes(); n != 1 {
		t.Errorf("%d refreshes for 50 calls at expiry, want 1", n)
	}

	as.ExpireAll() // the server refuses the token; mediator thinks it fresh
	parallel()
	if n := refreshes(); n != 2 {
		t.Errorf("%d refreshes after 50 calls got 401, want 2 (one more)", n)
	}
	if n := c.OAuth().Refreshes(); n != 2 {
		t.Errorf("the handler counts %d refreshes, want 2", n)
	}
}

// TestOAuthStepUpDoesNotLoop: a call refused with 403 insufficient_scope
// tells the user to log in; that login asks for the scope, and the call
// then succeeds, instead of the login getting the old grant again.
func TestOAuthStepUpDoesNotLoop(t *testing.T) {
	as := oauthtest.New(t)
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "gh", as)
	ctx := testCtx(t)
	logIn := func() {
		t.Helper()
		c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("gh"), Login: headlessLogin()})
		defer c.Close()
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	logIn()
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("gh")})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.CallTool(ctx, "admin", nil, nil)
	if err == nil || kindOf(t, err) != KindAuth || !strings.Contains(err.Error(), "mediator auth login gh") || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("admin without its scope: %v, want KindAuth naming the scope and the login", err)
	}
	inv, err := NewTokenStore("gh", ring.ForServer("gh")).Inventory(ctx, "gh")
	if err != nil || len(inv.Logins) != 1 || strings.Join(inv.Logins[0].PendingScopes, " ") != "admin" {
		t.Fatalf("stored login after the refusal: %+v, %v", inv, err)
	}
	_ = c.Close()

	logIn()
	if got := as.LastAuthRequest().Get("scope"); !strings.Contains(" "+got+" ", " admin ") {
		t.Fatalf("the login asked for %q, want admin too", got)
	}
	c = mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("gh")})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "admin", nil, nil); err != nil {
		t.Fatalf("admin after the login: %v", err)
	}
}

// TestOAuthAfterLogoutNamesTheLogin: after a logout the client
// registration is gone too; the error says there is no stored login and
// which command makes one.
func TestOAuthAfterLogoutNamesTheLogin(t *testing.T) {
	as := oauthtest.New(t)
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "gh", as)
	ctx := testCtx(t)
	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("gh"), Login: headlessLogin()})
	if err := login.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()
	if err := NewTokenStore("gh", ring.ForServer("gh")).Forget(ctx, "gh"); err != nil {
		t.Fatal(err)
	}
	err := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("gh")}).Connect(ctx)
	if err == nil || kindOf(t, err) != KindAuth {
		t.Fatalf("connect after logout: %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `no stored login for server "gh"`) || !strings.Contains(msg, "mediator auth login gh") || strings.Contains(msg, "registered") {
		t.Errorf("after logout: %q", msg)
	}
}

// TestOAuthOverPlainHTTPIsAConfigError: New refuses what the OAuth handler
// would refuse, naming the field once and the server once.
func TestOAuthOverPlainHTTPIsAConfigError(t *testing.T) {
	_, err := New(Options{Config: Config{Name: "gh", URL: "http://127.0.0.1:9/mcp", Auth: AuthConfig{Type: AuthOAuth}}})
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindConfig {
		t.Fatalf("New = %v, want a config error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "allow_insecure_localhost") || strings.Count(msg, `"gh"`) > 1 {
		t.Errorf("message %q", msg)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
