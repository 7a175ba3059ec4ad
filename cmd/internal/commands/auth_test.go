package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/connectors/tlstest"
)

// Canaries of the OAuth tests: every token the authorization server issues
// starts with tokenCanary, and its dynamic registration hands out
// clientSecretCanary.
const (
	tokenCanary        = "tok-canary-Hq7Zm3Wx"
	clientSecretCanary = "client-secret-canary-Pn4Rt8"
)

// newOAuthServer is an authorization server with its protected MCP server,
// issuing canary tokens the test environment watches for.
func newOAuthServer(t *testing.T, e *testEnv) *oauthtest.Server {
	as := oauthtest.New(t)
	as.TokenPrefix = tokenCanary
	as.ClientSecret = clientSecretCanary
	e.canary = append(e.canary, tokenCanary, clientSecretCanary)
	return as
}

func oauthServerYAML(t *testing.T, name string, as *oauthtest.Server) string {
	return fmt.Sprintf("  %s:\n    url: %s\n    auth: {type: oauth, redirect_url: %q, allow_insecure_localhost: true}\n", name, as.MCPURL(), oauthtest.RedirectURL(t))
}

// browser plays the user: it watches what mediator prints on stderr and
// opens the first URL there that starts with prefix, following the
// authorization server's redirect back to mediator's listener.
type browser struct {
	t      *testing.T
	prefix string

	mu     sync.Mutex
	out    io.Writer
	seen   []byte
	opened []string
	wg     sync.WaitGroup
}

var urlPattern = regexp.MustCompile(`https?://[^\s,)]+`)

func (b *browser) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = append(b.seen, p...)
	if len(b.opened) == 0 {
		for _, u := range urlPattern.FindAllString(string(b.seen), -1) {
			if strings.HasPrefix(u, b.prefix) {
				b.opened = append(b.opened, u)
				b.wg.Go(func() {
					if err := oauthtest.Visit(b.t.Context(), u); err != nil {
						b.t.Errorf("browser: %v", err)
					}
				})
				break
			}
		}
	}
	return b.out.Write(p)
}

// watch makes the next runs' stderr go through a browser that opens URLs
// starting with prefix; no real browser may be started.
func (e *testEnv) watch(prefix string) *browser {
	b := &browser{t: e.t, prefix: prefix}
	e.setup = func(f *cmdutil.Factory) {
		b.out = f.IOStreams.ErrOut
		f.IOStreams.ErrOut = b
		f.OpenBrowser = func(context.Context, string) error {
			e.t.Error("a browser was started although the test plays it")
			return nil
		}
	}
	e.t.Cleanup(b.wg.Wait)
	return b
}

func itemNames(t *testing.T, e *testEnv, server string) []string {
	t.Helper()
	var listing struct {
		Secrets []struct{ Name string } `json:"secrets"`
	}
	r := e.mustRun("", "secret", "list", server, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &listing); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range listing.Secrets {
		names = append(names, s.Name)
	}
	return names
}

// The whole life of a login: a call before it fails with exit 3 and the
// login command; `auth login --no-browser` prints the URL (the test opens
// it); calls then work; status shows issuer, client and expiry but no
// token; logout removes the server's tokens and registration.
func TestAuthLoginStatusLogout(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "github", as))

	r := e.run("", "call", "github", "whoami")
	expectCode(t, r, cmdutil.ExitConnect, "call before login")
	if !strings.Contains(r.stderr, "mediator auth login github") {
		t.Errorf("call before login does not say how to log in:\n%s", r.stderr)
	}
	t.Logf("call before login:\n%s", r.stderr)
	r = e.run("", "auth", "status", "github")
	expectCode(t, r, cmdutil.ExitConnect, "status before login")

	b := e.watch(as.URL() + "/as/authorize?")
	r = e.mustRun("", "auth", "login", "github", "--no-browser")
	b.wg.Wait()
	if len(b.opened) != 1 || !strings.Contains(r.stderr, "open this URL in a browser") || !strings.Contains(r.stderr, "Logged in to github as client "+oauthtest.DCRClientID) {
		t.Fatalf("login output:\n%s", r.stderr)
	}
	q := as.LastAuthRequest()
	if q.Get("code_challenge_method") != "S256" || q.Get("resource") != as.MCPURL() {
		t.Errorf("authorization request %v", q)
	}
	e.setup = nil

	r = e.mustRun("", "call", "github", "whoami")
	if strings.TrimSpace(r.stdout) != "ok" {
		t.Errorf("call after login: %q", r.stdout)
	}
	e.mustRun("", "tools", "github")

	r = e.mustRun("", "auth", "status", "github")
	t.Logf("auth status github:\n%s", r.stdout)
	for _, want := range []string{"github", "oauth", "logged in", as.Issuer(), oauthtest.DCRClientID, "tools", "(in "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("", "auth", "status", "--json")
	var rows []struct {
		Server   string
		AuthType string `json:"auth_type"`
		State    string
		Logins   []struct {
			Issuer      string
			ClientID    string `json:"client_id"`
			Refreshable bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].State != "logged in" || len(rows[0].Logins) != 1 || !rows[0].Logins[0].Refreshable {
		t.Errorf("status --json: %s", r.stdout)
	}

	items := itemNames(t, e, "github")
	if len(items) < 3 { // index, token, registration
		t.Errorf("keyring items after login: %v", items)
	}
	e.mustRun("unrelated-value", "secret", "set", "github", "mine")
	as.Mu.Lock()
	as.Revocation = true
	as.Mu.Unlock()
	r = e.mustRun("", "auth", "logout", "github")
	if !strings.Contains(r.stderr, "Revoked at "+as.Issuer()+": refresh token, access token") ||
		!strings.Contains(r.stderr, "removed 1 token set(s) and 1 client registration(s)") {
		t.Errorf("logout: %s", r.stderr)
	}
	as.Mu.Lock()
	revoked := len(as.Revoked)
	as.Mu.Unlock()
	if revoked != 2 {
		t.Errorf("the authorization server revoked %d tokens, want the refresh and the access token", revoked)
	}
	if items := itemNames(t, e, "github"); !slices.Equal(items, []string{"mine"}) {
		t.Errorf("after logout the keyring holds %v, want only the user's own item", items)
	}
	r = e.run("", "call", "github", "whoami")
	expectCode(t, r, cmdutil.ExitConnect, "call after logout")
	r = e.mustRun("", "auth", "logout", "github")
	if !strings.Contains(r.stderr, "no stored login") {
		t.Errorf("second logout: %s", r.stderr)
	}
}

// Without --no-browser the system browser opener gets the URL (and the
// URL is printed as well, in case it does not open).
func TestAuthLoginOpensTheBrowser(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "github", as))
	var opened []string
	var wg sync.WaitGroup
	e.setup = func(f *cmdutil.Factory) {
		f.OpenBrowser = func(_ context.Context, u string) error {
			opened = append(opened, u)
			wg.Go(func() {
				if err := oauthtest.Visit(t.Context(), u); err != nil {
					t.Errorf("browser: %v", err)
				}
			})
			return nil
		}
	}
	r := e.mustRun("", "auth", "login", "github")
	wg.Wait()
	if len(opened) != 1 || !strings.Contains(r.stderr, opened[0]) {
		t.Errorf("opened %v; stderr:\n%s", opened, r.stderr)
	}

	// This authorization server cannot revoke: logout says so and removes
	// the tokens all the same.
	e.setup = nil
	r = e.mustRun("", "auth", "logout", "github")
	if !strings.Contains(r.stderr, "note: "+as.Issuer()+" offers no token revocation (RFC 7009)") || !strings.Contains(r.stderr, "removed 1 token set(s)") {
		t.Errorf("logout without revocation:\n%s", r.stderr)
	}
}

// --device shows a URL and a code; the "user" opens it elsewhere.
func TestAuthLoginDevice(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	as.Device = true
	e.writeConfig("servers:\n" + oauthServerYAML(t, "github", as))
	b := e.watch(as.URL() + "/as/device/verify?user_code=")
	r := e.mustRun("", "auth", "login", "github", "--device")
	b.wg.Wait()
	if !strings.Contains(r.stderr, "enter the code") || !strings.Contains(r.stderr, "Logged in to github") {
		t.Errorf("device login output:\n%s", r.stderr)
	}
	if g := as.TokenGrants(); !slices.Contains(g, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("grants %v", g)
	}
	e.setup = nil
	e.mustRun("", "call", "github", "whoami")

	// A server that does not offer the device grant says so.
	plain := newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "plain", plain))
	r = e.run("", "auth", "login", "plain", "--device")
	expectCode(t, r, cmdutil.ExitConnect, "device login where it is not offered")
	if !strings.Contains(r.stderr, "does not offer the device authorization grant") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// An expired login that cannot be renewed: call, tools and servers all exit
// 3 and name the login command.
func TestExpiredLoginExitsThreeWithTheHint(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "github", as))
	b := e.watch(as.URL() + "/as/authorize?")
	e.mustRun("", "auth", "login", "github", "--no-browser")
	b.wg.Wait()
	e.setup = nil

	as.ExpireAll()
	as.Mu.Lock()
	as.NoRefresh = true
	as.Mu.Unlock()
	for _, args := range [][]string{{"call", "github", "whoami"}, {"tools", "github"}, {"servers"}} {
		r := e.run("", args...)
		expectCode(t, r, cmdutil.ExitConnect, strings.Join(args, " "))
		t.Logf("mediator %s:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		if !strings.Contains(r.stdout+r.stderr, "mediator auth login github") {
			t.Errorf("mediator %s does not name the login command:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
}

// Two OAuth servers in one config and one keyring: each receives only the
// tokens its own authorization server issued for it.
func TestTwoOAuthServersEachReceiveOnlyTheirOwnToken(t *testing.T) {
	e := newTestEnv(t)
	one, two := newOAuthServer(t, e), newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "one", one) + oauthServerYAML(t, "two", two))
	for _, s := range []struct {
		name string
		as   *oauthtest.Server
	}{{"one", one}, {"two", two}} {
		b := e.watch(s.as.URL() + "/as/authorize?")
		e.mustRun("", "auth", "login", s.name, "--no-browser")
		b.wg.Wait()
	}
	e.setup = nil
	e.mustRun("", "call", "one", "whoami")
	e.mustRun("", "call", "two", "whoami")
	e.mustRun("", "servers")
	for _, c := range []struct {
		name      string
		at, other *oauthtest.Server
	}{{"one", one, two}, {"two", two, one}} {
		foreign := c.other.Issued()
		c.at.Mu.Lock()
		n := 0
		for _, v := range c.at.Presented {
			if v == "" {
				continue
			}
			n++
			if slices.Contains(foreign, strings.TrimPrefix(v, "Bearer ")) {
				t.Errorf("server %s received a token issued for the other server", c.name)
			}
		}
		c.at.Mu.Unlock()
		if n == 0 {
			t.Errorf("server %s received no token", c.name)
		}
	}
}

// Servers of other auth types have no login; the machine types get their
// token without a user, and their login only checks that.
func TestAuthLoginOtherTypes(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	as.Clients["svc"] = canaryKey
	e.writeConfig(fmt.Sprintf(`servers:
  svc:
    url: %s
    auth: {type: client-credentials, client_id: svc, client_secret: svc-secret, auth_method: post, allow_insecure_localhost: true}
  plain:
    url: https://plain.example.com/mcp
    auth: {type: bearer, secret: token}
`, as.MCPURL()))
	r := e.run("", "auth", "login", "plain")
	expectCode(t, r, cmdutil.ExitUsage, "login to a bearer server")
	if !strings.Contains(r.stderr, "mediator secret set plain token") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	r = e.run("", "auth", "login", "svc", "--device")
	expectCode(t, r, cmdutil.ExitUsage, "--device for client credentials")

	r = e.run("", "call", "svc", "whoami")
	expectCode(t, r, cmdutil.ExitConnect, "call without the client secret")
	if !strings.Contains(r.stderr, "mediator secret set svc svc-secret") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	e.mustRun(canaryKey, "secret", "set", "svc", "svc-secret")
	r = e.mustRun("", "auth", "login", "svc")
	if !strings.Contains(r.stderr, "Logged in to svc as client svc") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	e.mustRun("", "call", "svc", "whoami")
	r = e.mustRun("", "auth", "status")
	for _, want := range []string{"client-credentials", "logged in", "bearer"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

// mTLS combined with bearer, all from the config file: the certificate by a
// path relative to the config, its key and the token in the keyring (file
// backend), the server's private CA from a bundle.
func TestMTLSWithBearerFromTheConfig(t *testing.T) {
	e := newTestEnv(t)
	p := tlstest.New(t)
	keyBody := strings.Split(p.KeyPEM, "\n")[1]
	e.canary = append(e.canary, keyBody)
	var sawCert, sawToken bool
	var mu sync.Mutex
	h := mcpWhoami()
	srv, serverCA := p.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawCert = sawCert || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0)
		sawToken = sawToken || r.Header.Get("Authorization") == "Bearer "+canaryKey
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+canaryKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}), 0)
	cert, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	e.writeConfig(fmt.Sprintf(`servers:
  bank:
    url: %s/mcp
    auth: {type: bearer, secret: token}
    tls: {cert: certs/client.pem, key_secret: client-key, ca: %s, min_version: "1.2"}
`, srv.URL, serverCA))
	if err := os.MkdirAll(filepath.Join(filepath.Dir(e.cfgPath), "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	tlstest.WriteFile(t, filepath.Join(filepath.Dir(e.cfgPath), "certs", "client.pem"), string(cert))

	r := e.run("", "call", "bank", "whoami")
	expectCode(t, r, cmdutil.ExitConnect, "call without the key in the keyring")
	if !strings.Contains(r.stderr, "mediator secret set bank") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	e.mustRun(canaryKey, "secret", "set", "bank", "token")
	e.mustRun(p.KeyPEM, "secret", "set", "bank", "client-key")
	r = e.mustRun("", "call", "bank", "whoami")
	if strings.TrimSpace(r.stdout) != "ok" {
		t.Errorf("call: %q", r.stdout)
	}
	mu.Lock()
	if !sawCert || !sawToken {
		t.Errorf("the server saw certificate %v, token %v", sawCert, sawToken)
	}
	mu.Unlock()
	r = e.mustRun("", "auth", "status", "bank")
	if !strings.Contains(r.stdout, "client certificate") || !strings.Contains(r.stdout, "CN=mediator") {
		t.Errorf("status:\n%s", r.stdout)
	}
	r = e.mustRun("", "config", "validate")
	t.Logf("config validate: %s%s", r.stdout, r.stderr)
}

// mcpWhoami is a go-sdk MCP server with a whoami tool, over streamable HTTP.
func mcpWhoami() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "whoami", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
}
