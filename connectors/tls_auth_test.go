package connectors

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors/tlstest"
)

// mtlsServer requires a client certificate from the PKI's CA (common name
// mediator) and, when token is set, that bearer token; serverCA is a PEM
// file of its own certificate (a private CA).
func mtlsServer(t *testing.T, p *tlstest.PKI, token string, maxVersion uint16) (srv *httptest.Server, serverCA string, seen *headerLog) {
	t.Helper()
	seen = &headerLog{}
	h := guarded(seen, func(r *http.Request) bool {
		return r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "mediator" &&
			(token == "" || r.Header.Get("Authorization") == "Bearer "+token)
	}, mcpHandler(TransportStreamableHTTP, testMCPServer()))
	srv, serverCA = p.Server(t, h, maxVersion)
	return srv, serverCA, seen
}

// mTLS combines with bearer: the certificate (its key in the keyring file
// backend) goes in the handshake, the token in the header, and the
// server's private CA comes from the configured bundle.
func TestMTLSCombinedWithBearer(t *testing.T) {
	const token = "bearer-token-canary-71ab"
	p := tlstest.New(t)
	srv, serverCA, seen := mtlsServer(t, p, token, 0)
	ring := fileKeyring(t)
	setSecret(t, ring, "secure", "token", token)
	setSecret(t, ring, "secure", "client-key", p.KeyPEM)
	cfg := Config{Name: "secure", URL: srv.URL + "/mcp",
		Auth: AuthConfig{Type: AuthBearer, Secret: "token"},
		TLS:  TLSConfig{Cert: p.CertFile, KeySecret: "client-key", CA: serverCA, MinVersion: TLSVersion12}}
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("secure")})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(seen.all()) == 0 {
		t.Fatal("the server saw no request")
	}
}

// The auth form `auth: {type: mtls, cert, key_file, ca}`: the certificate
// alone, its key in a file.
func TestMTLSAlone(t *testing.T) {
	p := tlstest.New(t)
	srv, serverCA, _ := mtlsServer(t, p, "", 0)
	c := mustNew(t, Options{Config: Config{Name: "cert-only", URL: srv.URL + "/mcp",
		Auth: AuthConfig{Type: AuthMTLS}, TLS: TLSConfig{Cert: p.CertFile, KeyFile: p.KeyFile, CA: serverCA, MinVersion: TLSVersion13}}})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, nil); err != nil {
		t.Fatal(err)
	}
}

// Everything that can go wrong fails closed, with the kind and a message
// that points at the setting to fix.
func TestMTLSFailures(t *testing.T) {
	p := tlstest.New(t)
	srv, serverCA, seen := mtlsServer(t, p, "", 0)
	old, oldCA, _ := mtlsServer(t, p, "", tls.VersionTLS12)
	url := srv.URL + "/mcp"
	expiredCert, expiredKey := p.Issue(t, "mediator", time.Now().Add(-time.Hour))
	expiredKeyFile := filepath.Join(t.TempDir(), "expired.key")
	tlstest.WriteFile(t, expiredKeyFile, expiredKey)
	_, otherKey := p.Issue(t, "other", time.Now().Add(time.Hour))
	otherKeyFile := filepath.Join(t.TempDir(), "other.key")
	tlstest.WriteFile(t, otherKeyFile, otherKey)
	ring := fileKeyring(t)

	for name, tc := range map[string]struct {
		url     string
		tls     TLSConfig
		base    http.RoundTripper
		kind    Kind
		want    string
		noReach bool // the server must see no HTTP request at all
	}{
		"no client certificate": {tls: TLSConfig{CA: serverCA}, kind: KindAuth, want: "requires a TLS client certificate", noReach: true},
		"unknown server CA":     {tls: TLSConfig{Cert: p.CertFile, KeyFile: p.KeyFile}, kind: KindTransport, want: "set tls.ca", noReach: true},
		"key not in keyring":    {tls: TLSConfig{Cert: p.CertFile, KeySecret: "missing", CA: serverCA}, kind: KindAuth, want: "mediator secret set mtls missing", noReach: true},
		"expired certificate":   {tls: TLSConfig{Cert: expiredCert, KeyFile: expiredKeyFile, CA: serverCA}, kind: KindAuth, want: "expired", noReach: true},
		"key of another cert":   {tls: TLSConfig{Cert: p.CertFile, KeyFile: otherKeyFile, CA: serverCA}, kind: KindConfig, want: "do not make a pair", noReach: true},
		"missing CA file":       {tls: TLSConfig{Cert: p.CertFile, KeyFile: p.KeyFile, CA: filepath.Join(t.TempDir(), "nope.pem")}, kind: KindConfig, want: "CA bundle", noReach: true},
		"shared transport":      {tls: TLSConfig{Cert: p.CertFile, KeyFile: p.KeyFile, CA: serverCA}, base: http.DefaultTransport, kind: KindConfig, want: "own transport", noReach: true},
		"server below min":      {url: old.URL + "/mcp", tls: TLSConfig{Cert: p.CertFile, KeyFile: p.KeyFile, CA: oldCA, MinVersion: TLSVersion13}, kind: KindTransport, want: "version"},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(seen.all())
			u := url
			if tc.url != "" {
				u = tc.url
			}
			c := mustNew(t, Options{Config: Config{Name: "mtls", URL: u, TLS: tc.tls}, Secrets: ring.ForServer("mtls"), BaseTransport: tc.base})
			err := c.Connect(testCtx(t))
			if err == nil {
				t.Fatal("connected")
			}
			if k := kindOf(t, err); k != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %s: %v\nwant %s mentioning %q", k, err, tc.kind, tc.want)
			}
			if tc.noReach && len(seen.all()) != before {
				t.Error("a request reached the server")
			}
		})
	}
}
