package connectors

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/credentials"
)

// fileKeyring is a real keyring: the file backend with a passphrase.
func fileKeyring(t *testing.T) *credentials.Store {
	t.Helper()
	s, err := credentials.Open(t.Context(), credentials.Options{
		Backend:    credentials.BackendFile,
		FileDir:    t.TempDir(),
		Passphrase: func(string) (string, error) { return "test passphrase", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setSecret(t *testing.T, s *credentials.Store, server, name, value string) {
	t.Helper()
	if err := s.Set(server, name, credentials.NewSecret(value)); err != nil {
		t.Fatal(err)
	}
}

// browserLogin is the Login of `mediator auth login`, with the test
// playing the browser that the authorization URL is opened in.
func browserLogin(t *testing.T) *Login {
	// The browser lives apart from the login: not on its context.
	return &Login{OpenURL: func(_ context.Context, u string) error {
		go func() {
			if err := oauthtest.Visit(t.Context(), u); err != nil {
				t.Errorf("browser: %v", err)
			}
		}()
		return nil
	}}
}

func oauthConfig(t *testing.T, name string, as *oauthtest.Server) Config {
	return Config{Name: name, URL: as.MCPURL(), Auth: AuthConfig{
		Type: AuthOAuth, RedirectURL: oauthtest.RedirectURL(t), AllowInsecureLocalhost: true,
	}}
}

// An oauth server needs a login; the login stores the token in the keyring
// and every later connector (another process) uses it without one.
func TestOAuthLoginThenStoredToken(t *testing.T) {
	as := oauthtest.New(t)
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "github", as)
	ctx := testCtx(t)

	cold := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")})
	err := cold.Connect(ctx)
	if err == nil || kindOf(t, err) != KindAuth || cold.Status().State != StateAuthRequired {
		t.Fatalf("connect before login: %v (state %s)", err, cold.Status().State)
	}
	if !strings.Contains(err.Error(), "mediator auth login github") {
		t.Errorf("the error does not say how to log in: %v", err)
	}
	var ae *oauth.AuthorizationError
	if !errors.As(err, &ae) || !ae.LoginRequired() {
		t.Errorf("the error does not carry the login-required AuthorizationError: %v", err)
	}
	if strings.Contains(err.Error(), "rejected by transport") {
		t.Errorf("go-sdk's wrapping shows in the message: %v", err)
	}
	t.Logf("before login: %v", err)

	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github"), Login: browserLogin(t)})
	if err := login.Connect(ctx); err != nil {
		t.Fatalf("login: %v", err)
	}
	st := login.OAuth().Status()
	if !st.Authorized || st.Issuer != as.Issuer() || st.ClientID != oauthtest.DCRClientID {
		t.Errorf("status after login: %+v", st)
	}
	_ = login.Close()

	items, err := ring.List("github")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(items, func(it credentials.Item) bool { return strings.HasPrefix(it.Name, "oauth-token-") }) {
		t.Errorf("no token in the keyring after login: %v", items)
	}

	warm := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")})
	if err := warm.Connect(ctx); err != nil {
		t.Fatalf("connect after login: %v", err)
	}
	if _, err := warm.CallTool(ctx, "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
	as.Mu.Lock()
	logins := len(as.AuthRequests)
	as.Mu.Unlock()
	if logins != 1 {
		t.Errorf("%d authorization requests, want the login's one", logins)
	}

	// Logout empties the keyring items of the server and nothing else.
	setSecret(t, ring, "github", "unrelated", "stays")
	if err := NewTokenStore("github", ring.ForServer("github")).Forget(ctx, "github"); err != nil {
		t.Fatal(err)
	}
	items, _ = ring.List("github")
	if len(items) != 1 || items[0].Name != "unrelated" {
		t.Errorf("after logout the keyring holds %v", items)
	}
	again := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")})
	if err := again.Connect(ctx); err == nil || kindOf(t, err) != KindAuth {
		t.Errorf("connect after logout: %v", err)
	}
}

// The device grant through the connector: the prompt shows the code, the
// "user" approves it at the verification URI.
func TestOAuthDeviceLogin(t *testing.T) {
	as := oauthtest.New(t)
	as.Device = true
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "dev", as)
	var shown *oauth.DeviceAuthorization
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("dev"), Login: &Login{Device: func(ctx context.Context, da *oauth.DeviceAuthorization) error {
		shown = da
		return oauthtest.Visit(ctx, da.VerificationURIComplete)
	}}})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if shown == nil || shown.UserCode == "" {
		t.Fatalf("no device code shown: %+v", shown)
	}
	if g := as.TokenGrants(); !slices.Contains(g, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("grants %v", g)
	}
}

// A failed login involves the user once, even though go-sdk asks for
// authorization again while connecting.
func TestOAuthLoginAsksOnce(t *testing.T) {
	as := oauthtest.New(t)
	as.PKCEMethods = []string{"S256"}
	as.IssSupported = true
	as.IssInResponse = func(string) string { return "https://evil.example" }
	opened := 0
	c := mustNew(t, Options{Config: oauthConfig(t, "once", as), Secrets: fileKeyring(t).ForServer("once"), Login: &Login{OpenURL: func(ctx context.Context, u string) error {
		opened++
		go func() { _ = oauthtest.Visit(t.Context(), u) }()
		return nil
	}}})
	err := c.Connect(testCtx(t))
	if err == nil || kindOf(t, err) != KindAuth || !strings.Contains(err.Error(), "mix-up") {
		t.Fatalf("connect with a mismatched iss: %v", err)
	}
	if opened != 1 {
		t.Errorf("the browser was opened %d times, want once", opened)
	}
}

func ecKeyPEM(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Every machine grant, configured as in the config file with its
// credential in the keyring, gets a token and calls a tool.
func TestOAuthMachineGrants(t *testing.T) {
	as := oauthtest.New(t)
	key, keyPEM := ecKeyPEM(t)
	as.Clients["svc-basic"] = "basic secret/&="
	as.Clients["svc-post"] = "post-secret"
	as.ClientKeys["svc-jwt"] = &key.PublicKey
	as.Clients["ent-client"] = "ent-secret"
	as.Assertions = []string{"workload-jwt-canary"}
	as.IDTokens = []string{"sso-id-token-canary"}
	ring := fileKeyring(t)
	assertionFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(assertionFile, []byte("workload-jwt-canary\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		auth    AuthConfig
		secrets map[string]string
		method  string // what the AS must have seen
	}{
		"client-credentials basic": {AuthConfig{Type: AuthClientCredentials, ClientID: "svc-basic", ClientSecret: "cs", AuthMethod: AuthMethodBasic}, map[string]string{"cs": "basic secret/&="}, "basic"},
		"client-credentials post":  {AuthConfig{Type: AuthClientCredentials, ClientID: "svc-post", ClientSecret: "cs", AuthMethod: AuthMethodPost}, map[string]string{"cs": "post-secret"}, "post"},
		"client-credentials jwt":   {AuthConfig{Type: AuthClientCredentials, ClientID: "svc-jwt", PrivateKey: "key", SigningAlg: SigningES256}, map[string]string{"key": keyPEM}, "jwt"},
		"jwt-bearer item":          {AuthConfig{Type: AuthJWTBearer, Assertion: "wl"}, map[string]string{"wl": "workload-jwt-canary"}, ""},
		"jwt-bearer file":          {AuthConfig{Type: AuthJWTBearer, AssertionFile: assertionFile}, nil, ""},
		"enterprise":               {AuthConfig{Type: AuthEnterprise, ClientID: "ent-client", ClientSecret: "cs", IdPTokenEndpoint: as.IdPTokenEndpoint(), IdPClientID: "idp-client", IDToken: "idt"}, map[string]string{"cs": "ent-secret", "idt": "sso-id-token-canary"}, "basic"},
	} {
		t.Run(name, func(t *testing.T) {
			server := strings.ReplaceAll(name, " ", "-")
			for k, v := range tc.secrets {
				setSecret(t, ring, server, k, v)
			}
			tc.auth.AllowInsecureLocalhost = true
			tc.auth.Scopes = []string{"tools"}
			c := mustNew(t, Options{Config: Config{Name: server, URL: as.MCPURL(), Auth: tc.auth}, Secrets: ring.ForServer(server)})
			ctx := testCtx(t)
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
				t.Fatal(err)
			}
			if st := c.OAuth().Status(); !st.Authorized || strings.Join(st.Scopes, " ") != "tools" {
				t.Errorf("status %+v", st)
			}
		})
	}
	// private_key_jwt signs; the key never travels.
	as.Mu.Lock()
	defer as.Mu.Unlock()
	for _, f := range as.TokenRequests {
		for _, v := range f {
			if strings.Contains(strings.Join(v, " "), "PRIVATE KEY") {
				t.Error("the private key was sent to the token endpoint")
			}
		}
	}
}

// A wrong client secret is an auth failure naming the problem, with no
// secret in it, and the connector waits in auth-required.
func TestOAuthMachineGrantRefused(t *testing.T) {
	as := oauthtest.New(t)
	as.Clients["svc"] = "right"
	ring := fileKeyring(t)
	setSecret(t, ring, "svc", "cs", "wrong-secret-canary-9c1d")
	c := mustNew(t, Options{Config: Config{Name: "svc", URL: as.MCPURL(), Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "svc", ClientSecret: "cs", AllowInsecureLocalhost: true}}, Secrets: ring.ForServer("svc")})
	err := c.Connect(testCtx(t))
	if err == nil || kindOf(t, err) != KindAuth || c.Status().State != StateAuthRequired {
		t.Fatalf("connect with a wrong client secret: %v (state %s)", err, c.Status().State)
	}
	if !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong-secret-canary") {
		t.Errorf("error: %v", err)
	}
}

// The OAuth handler is built once and kept across reconnects, so its
// session (and single-flight refresh) survives them.
func TestOAuthHandlerSurvivesReconnects(t *testing.T) {
	as := oauthtest.New(t)
	as.Clients["svc"] = "s"
	ring := fileKeyring(t)
	setSecret(t, ring, "svc", "cs", "s")
	c := mustNew(t, Options{Config: Config{Name: "svc", URL: as.MCPURL(), Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "svc", ClientSecret: "cs", AllowInsecureLocalhost: true}}, Secrets: ring.ForServer("svc")})
	ctx := testCtx(t)
	a1, err := c.newAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.newAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a1.(oauthAuthenticator).h != a2.(oauthAuthenticator).h {
		t.Error("a second connect built a second OAuth handler")
	}
}

// With dpop: true against a server without DPoP support the tokens stay
// Bearer, and the DPoP key is kept in the server's keyring items.
func TestOAuthDPoPKeyKept(t *testing.T) {
	as := oauthtest.New(t)
	as.Clients["svc"] = "s"
	ring := fileKeyring(t)
	setSecret(t, ring, "svc", "cs", "s")
	cfg := Config{Name: "svc", URL: as.MCPURL(), Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "svc", ClientSecret: "cs", DPoP: true, AllowInsecureLocalhost: true}}
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("svc")})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
	items, _ := ring.List("svc")
	if !slices.ContainsFunc(items, func(it credentials.Item) bool { return it.Name == "oauth-dpop-key" }) {
		t.Errorf("no DPoP key among %v", items)
	}
	k1, err := NewTokenStore("svc", ring.ForServer("svc")).DPoPKey(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewTokenStore("svc", ring.ForServer("svc")).DPoPKey(ctx, "svc")
	if !k1.Equal(k2) {
		t.Error("the DPoP key changed between two reads")
	}
}

// Two OAuth servers in one keyring: each receives only the tokens its own
// authorization server issued for it.
func TestOAuthTwoServersEachReceiveOnlyTheirOwnToken(t *testing.T) {
	as1, as2 := oauthtest.New(t), oauthtest.New(t)
	ring := fileKeyring(t)
	ctx := testCtx(t)
	var conns []*Connector
	for _, s := range []struct {
		name string
		as   *oauthtest.Server
	}{{"one", as1}, {"two", as2}} {
		cfg := oauthConfig(t, s.name, s.as)
		login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer(s.name), Login: browserLogin(t)})
		if err := login.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		_ = login.Close()
		c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer(s.name)})
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := c.CallTool(ctx, "whoami", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, at, other *oauthtest.Server) {
		foreign := other.Issued()
		at.Mu.Lock()
		defer at.Mu.Unlock()
		n := 0
		for _, v := range at.Presented {
			if v == "" {
				continue
			}
			n++
			if slices.Contains(foreign, strings.TrimPrefix(v, "Bearer ")) {
				t.Errorf("server %s received a token issued for the other server", name)
			}
		}
		if n == 0 {
			t.Errorf("server %s received no token at all", name)
		}
	}
	check("one", as1, as2)
	check("two", as2, as1)
}
