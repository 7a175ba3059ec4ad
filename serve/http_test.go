package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	ciToken    = "mdt_ci-token-for-tests"
	adminToken = "mdt_admin-token-for-tests"
)

// scopedServer is an MCP server whose tools ask TokenAuthorizer before
// they run, as the gateway asks Options.Authorize: weather__get_forecast,
// calendar__create_event and the workflow rain-reminders.
func scopedServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "scoped"}, nil)
	authorize := TokenAuthorizer([]string{"rain-reminders"})
	for _, name := range []string{"weather__get_forecast", "calendar__create_event", "rain-reminders"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: &jsonObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if err := authorize(ctx, req.Params.Name); err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + req.Params.Name}}}, nil
		})
	}
	return srv
}

var jsonObject = struct {
	Type string `json:"type"`
}{"object"}

func testTokens() []Token {
	return []Token{
		{Name: "ci", SHA256: HashToken(ciToken), Tools: []string{"weather__*"}, Workflows: []string{"rain-*"}},
		{Name: "admin", SHA256: HashToken(adminToken), Tools: []string{"*"}},
	}
}

// startHTTP serves srv's HTTP face on loopback with opts (URL filled in).
func startHTTP(t *testing.T, srv *mcp.Server, opts HTTPOptions) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	opts.URL = "http://" + ts.Listener.Addr().String()
	h, err := httpHandler(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// bearer adds a token (and headers) to every request.
type bearer struct {
	token  string
	header http.Header
	base   http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	for k, v := range b.header {
		r.Header[k] = v
	}
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

func connect(t *testing.T, endpoint string, rt http.RoundTripper) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: rt}}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func callText(t *testing.T, cs *mcp.ClientSession, name string) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res.Content[0].(*mcp.TextContent).Text, res.IsError
}

func post(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHTTPWithoutTokenIsUnauthorized(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens()})
	for _, tc := range []struct {
		name, auth string
	}{{"no token", ""}, {"wrong token", "Bearer mdt_not-a-configured-token"}, {"not bearer", "Basic " + ciToken}} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			resp := post(t, ts.URL+MCPPath, h)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			want := `Bearer resource_metadata="` + ts.URL + MetadataPath + `"`
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
		})
	}
	if _, err := connect(t, ts.URL+MCPPath, bearer{token: "mdt_wrong"}); err == nil {
		t.Error("a client with a wrong token connected")
	}
}

func TestHTTPTokenScope(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens()})
	ci, err := connect(t, ts.URL+MCPPath, bearer{token: ciToken})
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := callText(t, ci, "weather__get_forecast"); isErr {
		t.Errorf("ci token calling weather__get_forecast refused: %s", text)
	}
	if text, isErr := callText(t, ci, "rain-reminders"); isErr {
		t.Errorf("ci token running workflow rain-reminders refused: %s", text)
	}
	text, isErr := callText(t, ci, "calendar__create_event")
	if !isErr || !strings.Contains(text, `outside the scope of token "ci"`) || !strings.Contains(text, "weather__*") {
		t.Errorf("ci token calling calendar__create_event: error=%v %q; want refused naming the token and its scope", isErr, text)
	}

	admin, err := connect(t, ts.URL+MCPPath, bearer{token: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := callText(t, admin, "calendar__create_event"); isErr {
		t.Errorf("admin token calling calendar__create_event refused: %s", text)
	}
	// A workflow is matched against workflows: globs only, so tools: ["*"]
	// does not reach it.
	if text, isErr := callText(t, admin, "rain-reminders"); !isErr || !strings.Contains(text, "workflows") {
		t.Errorf("admin token (no workflows) running rain-reminders: error=%v %q; want refused", isErr, text)
	}
}

func TestTokenAuthorizerWithoutTokenRefuses(t *testing.T) {
	if err := TokenAuthorizer(nil)(context.Background(), "weather__get_forecast"); err == nil {
		t.Error("a request with no token in its context was allowed")
	}
}

func TestHTTPSessionBoundToItsToken(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens()})
	resp := post(t, ts.URL+MCPPath, http.Header{"Authorization": {"Bearer " + ciToken}})
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize with the ci token: status %d, session %q", resp.StatusCode, id)
	}
	// The admin token cannot take over ci's session (and its scope).
	resp = post(t, ts.URL+MCPPath, http.Header{"Authorization": {"Bearer " + adminToken}, "Mcp-Session-Id": {id}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("ci's session used with the admin token: status %d, want 403", resp.StatusCode)
	}
}

func TestHTTPOrigin(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens(), AllowedOrigins: []string{"https://app.example"}})
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"http://localhost.evil.example", http.StatusForbidden},
		{"https://app.example", http.StatusOK},
		{ts.URL, http.StatusOK}, // its own
		{"", http.StatusOK},     // not a browser
	} {
		h := http.Header{"Authorization": {"Bearer " + ciToken}}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		if resp := post(t, ts.URL+MCPPath, h); resp.StatusCode != tc.want {
			t.Errorf("Origin %q: status %d, want %d", tc.origin, resp.StatusCode, tc.want)
		}
	}
	// A bad origin is refused before the token is even asked for.
	if resp := post(t, ts.URL+MCPPath, http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad Origin, no token: status %d, want 403", resp.StatusCode)
	}
}

// go-sdk's DNS-rebinding protection stays on: a loopback listener refuses
// a request naming another host.
func TestHTTPRebindingHost(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens()})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+MCPPath, strings.NewReader(`{}`))
	req.Host = "rebound.evil.example"
	req.Header.Set("Authorization", "Bearer "+ciToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host rebound.evil.example on loopback: status %d, want 403", resp.StatusCode)
	}
}

func TestHTTPProtectedResourceMetadata(t *testing.T) {
	ts := startHTTP(t, scopedServer(), HTTPOptions{Tokens: testTokens()})
	for _, p := range []string{MetadataPath, MetadataPath + MCPPath} {
		resp, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, %v", p, resp.StatusCode, err)
		}
		if doc["resource"] != ts.URL+MCPPath {
			t.Errorf("GET %s: resource = %v, want %s", p, doc["resource"], ts.URL+MCPPath)
		}
		if m, _ := doc["bearer_methods_supported"].([]any); len(m) != 1 || m[0] != "header" {
			t.Errorf("GET %s: bearer_methods_supported = %v, want [header]", p, doc["bearer_methods_supported"])
		}
		if _, ok := doc["authorization_servers"]; ok {
			t.Errorf("GET %s: names authorization servers, but the tokens are static: %v", p, doc)
		}
	}
}

func TestHTTPNoAuth(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "open"}, nil)
	srv.AddTool(&mcp.Tool{Name: "ping", InputSchema: &jsonObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil
	})
	ts := startHTTP(t, srv, HTTPOptions{NoAuth: true})
	cs, err := connect(t, ts.URL+MCPPath, bearer{})
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := callText(t, cs, "ping"); isErr || text != "pong" {
		t.Errorf("ping with auth none: %q", text)
	}
	// The origin check holds without tokens too.
	if resp := post(t, ts.URL+MCPPath, http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad Origin with auth none: status %d, want 403", resp.StatusCode)
	}
}

func TestHTTPOptionsRefused(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "x"}, nil)
	for _, tc := range []struct {
		name string
		opts HTTPOptions
		want string
	}{
		{"no tokens, no auth none", HTTPOptions{URL: "http://127.0.0.1:7421"}, "no bearer token"},
		{"both", HTTPOptions{URL: "http://127.0.0.1:7421", NoAuth: true, Tokens: testTokens()}, "keep one"},
		{"bad hash", HTTPOptions{URL: "http://127.0.0.1:7421", Tokens: []Token{{Name: "ci", SHA256: "abc"}}}, "token_sha256"},
		{"bad glob", HTTPOptions{URL: "http://127.0.0.1:7421", Tokens: []Token{{Name: "ci", SHA256: HashToken("x"), Tools: []string{"[weather"}}}}, "tools[0]"},
		{"bad URL", HTTPOptions{URL: "127.0.0.1:7421", NoAuth: true}, "not scheme://host:port"},
	} {
		if _, err := httpHandler(srv, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	withTokens := HTTPOptions{Tokens: testTokens()}
	for _, tc := range []struct {
		name           string
		opts           HTTPOptions
		addr           string
		tls, insecure  bool
		wantErrContain string
	}{
		{"loopback, no auth", HTTPOptions{NoAuth: true}, "127.0.0.1:7421", false, false, ""},
		{"localhost", HTTPOptions{NoAuth: true}, "localhost:7421", false, false, ""},
		{"ipv6 loopback", HTTPOptions{NoAuth: true}, "[::1]:7421", false, false, ""},
		{"all interfaces, no tokens", HTTPOptions{NoAuth: true}, ":7421", true, false, "tokens is empty"},
		{"lan, no tokens", HTTPOptions{NoAuth: true}, "192.168.1.5:7421", true, true, "tokens is empty"},
		{"lan, no TLS", withTokens, "0.0.0.0:7421", false, false, "tls is not set"},
		{"lan, TLS", withTokens, "0.0.0.0:7421", true, false, ""},
		{"lan, --insecure-listen", withTokens, "0.0.0.0:7421", false, true, ""},
		{"no port", withTokens, "127.0.0.1", false, false, "HOST:PORT"},
	} {
		err := tc.opts.CheckListen(tc.addr, tc.tls, tc.insecure)
		switch {
		case tc.wantErrContain == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErrContain != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErrContain)):
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.wantErrContain)
		}
	}
}

func TestHTTPOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ts := httptest.NewUnstartedServer(nil)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h, err := httpHandler(scopedServer(), HTTPOptions{URL: "https://" + ts.Listener.Addr().String(), Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.StartTLS()
	t.Cleanup(ts.Close) // after the clients' Close, registered later

	rt := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	cs, err := connect(t, ts.URL+MCPPath, bearer{token: ciToken, base: rt})
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := callText(t, cs, "weather__get_forecast"); isErr {
		t.Errorf("over TLS: %s", text)
	}
	// A client that does not trust the certificate gets nowhere.
	if _, err := connect(t, ts.URL+MCPPath, bearer{token: ciToken}); err == nil {
		t.Error("a client without the CA connected")
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mediator test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
