package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/connectors/tlstest"
	"github.com/mediatorhq/mediator/credentials"
)

// hosts is a Resolver with fixed answers: the DNS of a test.
type hosts map[string][]netip.Addr

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := h[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// dialVia is a transport for the MCP connection itself that resolves names
// through r, as the system's resolver would for an intranet host.
func dialVia(r hosts, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if a, ok := r[host]; ok {
				addr = net.JoinHostPort(a[0].String(), port)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func certPool(t *testing.T, der []byte) *x509.CertPool {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// TestResolveServerOpensOnlyTheServersNetworks: the classes a configured
// host name resolves to are opened, link-local and metadata never.
func TestResolveServerOpensOnlyTheServersNetworks(t *testing.T) {
	r := hosts{
		"vm":       addrs("127.0.0.1"),
		"intranet": addrs("10.1.2.3"),
		"cgnat":    addrs("100.64.0.7"),
		"public":   addrs("93.184.216.34"),
		"imds":     addrs("169.254.169.254"),
		"both":     addrs("fd00::5", "127.0.0.1"),
	}
	for host, want := range map[string][2]bool{
		"vm": {true, false}, "intranet": {false, true}, "cgnat": {false, true},
		"public": {false, false}, "imds": {false, false}, "both": {true, true},
	} {
		p, err := PolicyFor("https://"+host+":8443/mcp", false)
		if err != nil {
			t.Fatal(err)
		}
		p.Resolver = r
		if p.AllowLoopback || p.AllowPrivate {
			t.Errorf("%s: the URL alone opened a network", host)
		}
		p, err = p.ResolveServer(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]bool{p.AllowLoopback, p.AllowPrivate}; got != want {
			t.Errorf("%s: loopback, private = %v, want %v", host, got, want)
		}
		if _, err := p.checkURL("https://169.254.169.254/latest/meta-data/"); err == nil {
			t.Errorf("%s: the metadata address was allowed", host)
		}
	}
	p, _ := PolicyFor("https://unknown.invalid/mcp", false)
	p.Resolver = r
	if _, err := p.ResolveServer(testContext(t)); err == nil {
		t.Error("an unresolvable server host was taken as public without an error")
	}
}

// TestGuardedClientRefusesAtDialTime: a name that resolves to a metadata,
// private or loopback address passes the URL check (it is a name) and is
// refused when the client dials it, before any connection is made.
func TestGuardedClientRefusesAtDialTime(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.Host, true)
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	r := hosts{
		"imds.test":     addrs("169.254.169.254"),
		"lan.test":      addrs("10.0.0.1"),
		"mixed.test":    addrs("10.0.0.1", "169.254.169.254"),
		"example.com":   addrs("127.0.0.1"), // a name httptest's certificate holds
		"v6-local.test": addrs("fe80::1"),
	}
	public := GuardPolicy{Resolver: r, RootCAs: certPool(t, srv.Certificate().Raw)}
	for host, want := range map[string]string{
		"imds.test":     "metadata",
		"lan.test":      "private",
		"mixed.test":    "resolves only to refused addresses",
		"example.com":   "loopback",
		"v6-local.test": "link-local",
	} {
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/", nil)
		resp, err := public.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: fetched", host)
			continue
		}
		if !errors.Is(err, ErrBlockedURL) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a guard refusal mentioning %q", host, err, want)
		}
	}
	if _, ok := hits.Load("example.com:" + port); ok {
		t.Error("a refused name reached the server")
	}
	// The same name is fetched once its network is the server's.
	local := public
	local.AllowLoopback = true
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, "https://example.com:"+port+"/", nil)
	resp, err := local.Client().Do(req)
	if err != nil {
		t.Fatalf("loopback name with loopback allowed: %v", err)
	}
	resp.Body.Close()
}

// TestIntranetServerByHostName is the review's case: https://NAME:PORT/mcp
// where NAME resolves to the machine itself. Its own metadata lives on the
// same loopback address; the login must reach it.
func TestIntranetServerByHostName(t *testing.T) {
	a := oauthtest.NewTLS(t, nil)
	a.UseHost("example.com")
	r := hosts{"example.com": addrs("127.0.0.1")}
	roots := certPool(t, a.Certificate())
	h, err := New(Config{
		ServerName: "intranet", ServerURL: a.MCPURL(),
		Fetcher: &HeadlessFetcher{}, RedirectURL: "http://127.0.0.1:7777/callback",
		Resolver: r, TLS: &tls.Config{RootCAs: roots}, RootCAs: roots,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.MCPURL(), OAuthHandler: h, HTTPClient: &http.Client{Transport: h.Transport(dialVia(r, roots))}}, nil)
	if err != nil {
		t.Fatalf("connect to an intranet server by host name: %v", err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if st := h.Status(); !st.Authorized || st.Issuer != "https://example.com:"+strings.Split(a.URL(), ":")[2]+"/as" {
		t.Errorf("status %+v", st)
	}
}

// TestClientCertificateOnlyForTheServersOrigin: the guarded client shows
// the client certificate to the MCP server's origin and to no other host,
// and verifies the other host with RootCAs.
func TestClientCertificateOnlyForTheServersOrigin(t *testing.T) {
	pki := tlstest.New(t)
	record := func(seen *[]int) http.Handler {
		var mu sync.Mutex
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			*seen = append(*seen, len(r.TLS.PeerCertificates))
			mu.Unlock()
			_, _ = io.WriteString(w, "{}")
		})
	}
	var atServer, atOther []int
	server, serverCA := pki.Server(t, record(&atServer), 0)
	other := httptest.NewUnstartedServer(record(&atOther))
	other.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	other.StartTLS()
	defer other.Close()

	pair, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	_ = serverCA
	p, err := PolicyFor(server.URL+"/mcp", false)
	if err != nil {
		t.Fatal(err)
	}
	p.AllowLoopback = true
	p.ServerTLS = &tls.Config{RootCAs: certPool(t, server.Certificate().Raw), Certificates: []tls.Certificate{pair}}
	p.RootCAs = certPool(t, other.Certificate().Raw)
	c := p.Client()
	for _, u := range []string{server.URL + "/.well-known/oauth-protected-resource/mcp", other.URL + "/.well-known/oauth-authorization-server"} {
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
	}
	if len(atServer) != 1 || atServer[0] != 1 {
		t.Errorf("the MCP server saw client certificates %v, want one", atServer)
	}
	if len(atOther) != 1 || atOther[0] != 0 {
		t.Errorf("another origin saw client certificates %v, want none", atOther)
	}
}

// TestPostsAreNeverRedirected: a token endpoint answering 307 would have
// the client's secret and the code re-posted to wherever it points.
func TestPostsAreNeverRedirected(t *testing.T) {
	var mu sync.Mutex
	var stolen []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		stolen = append(stolen, r.Method+" "+string(b)+" "+r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer thief.Close()
	a := newTestAS(t)
	a.Clients["pre"] = "CANARY-client-secret"
	a.TokenRedirect = thief.URL + "/token"
	h := newTestHandler(t, a, func(c *Config) {
		c.Client = &ClientConfig{ClientID: "pre", ClientSecret: credentials.NewSecret("CANARY-client-secret"), AuthMethod: AuthMethodSecretPost}
	})
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !errors.Is(err, ErrBlockedURL) || !strings.Contains(err.Error(), "never redirected") {
		t.Fatalf("connect = %v, want the redirect of the token request refused", err)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Errorf("the error carries the secret: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stolen) != 0 {
		t.Errorf("the redirect target received %d request(s): %q", len(stolen), stolen)
	}
}

// TestDiscoveryFailuresAreNotFallbacks: a server error or an unreachable
// metadata URL stops discovery with that error; only "not here" answers
// move on, and the 2025-03-26 fallback (which skips the PKCE check) is
// never reached by a failure.
func TestDiscoveryFailuresAreNotFallbacks(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for name, tc := range map[string]struct {
		prm  func(w http.ResponseWriter)
		hint string // in the challenge, or ""
		want string
	}{
		"prm 500":         {prm: func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) }, want: "500"},
		"prm 429":         {prm: func(w http.ResponseWriter) { http.Error(w, "slow down", http.StatusTooManyRequests) }, want: "429"},
		"prm unreachable": {hint: closedURL + "/prm", want: "connect"},
		"prm not json":    {prm: func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>") }, want: "decoding"},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				switch {
				case strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource") && tc.prm != nil:
					tc.prm(w)
				case r.URL.Path == "/mcp":
					if tc.hint != "" {
						w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+tc.hint+`"`)
					}
					w.WriteHeader(http.StatusUnauthorized)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			h, err := New(Config{ServerName: "s", ServerURL: srv.URL + "/mcp", AllowInsecureLocalhost: true, RedirectURL: "http://127.0.0.1:1/cb",
				Fetcher: CodeFetcherFunc(func(context.Context, *AuthorizationRequest) (*AuthorizationResponse, error) {
					t.Error("authorization reached the user")
					return nil, errors.New("no")
				})})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			err = h.Authorize(testContext(t), req, resp)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "registered") {
				t.Fatalf("Authorize = %v, want the discovery failure (%q)", err, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range paths {
				if strings.HasPrefix(p, "/.well-known/oauth-authorization-server") || p == "/register" || p == "/token" {
					t.Errorf("discovery fell back after a failure: it requested %s", p)
				}
			}
		})
	}
}
