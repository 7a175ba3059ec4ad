package connectors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a client CA and a client certificate it signed, as PEM files.
type testPKI struct {
	caPool           *x509.CertPool
	certFile, keyPEM string
	keyFile          string
	dir              string
	ca               *x509.Certificate
	caKey            *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	var err error
	p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	p.certFile, p.keyPEM = p.issue(t, "mediator", time.Now().Add(time.Hour))
	p.keyFile = filepath.Join(p.dir, "client.key")
	writeFile(t, p.keyFile, p.keyPEM)
	return p
}

// issue signs a client certificate valid until notAfter and returns its
// file and its key's PEM.
func (p *testPKI) issue(t *testing.T, cn string, notAfter time.Time) (certFile, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, tmpl.SerialNumber.String()+".crt")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	return certFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsServer requires a client certificate from the PKI's CA and a bearer
// token; serverCA is a PEM file of its own certificate (a private CA).
func mtlsServer(t *testing.T, p *testPKI, token string, maxVersion uint16) (srv *httptest.Server, serverCA string, seen *headerLog) {
	t.Helper()
	seen = &headerLog{}
	h := guarded(seen, func(r *http.Request) bool {
		return r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "mediator" &&
			(token == "" || r.Header.Get("Authorization") == "Bearer "+token)
	}, mcpHandler(TransportStreamableHTTP, testMCPServer()))
	srv = httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool, MaxVersion: maxVersion}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA = filepath.Join(t.TempDir(), "server-ca.pem")
	writeFile(t, serverCA, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return srv, serverCA, seen
}

// mTLS combines with bearer: the certificate (its key in the keyring file
// backend) goes in the handshake, the token in the header, and the
// server's private CA comes from the configured bundle.
func TestMTLSCombinedWithBearer(t *testing.T) {
	const token = "bearer-token-canary-71ab"
	p := newTestPKI(t)
	srv, serverCA, seen := mtlsServer(t, p, token, 0)
	ring := fileKeyring(t)
	setSecret(t, ring, "secure", "token", token)
	setSecret(t, ring, "secure", "client-key", p.keyPEM)
	cfg := Config{Name: "secure", URL: srv.URL + "/mcp",
		Auth: AuthConfig{Type: AuthBearer, Secret: "token"},
		TLS:  TLSConfig{Cert: p.certFile, KeySecret: "client-key", CA: serverCA, MinVersion: TLSVersion12}}
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
	p := newTestPKI(t)
	srv, serverCA, _ := mtlsServer(t, p, "", 0)
	c := mustNew(t, Options{Config: Config{Name: "cert-only", URL: srv.URL + "/mcp",
		Auth: AuthConfig{Type: AuthMTLS}, TLS: TLSConfig{Cert: p.certFile, KeyFile: p.keyFile, CA: serverCA, MinVersion: TLSVersion13}}})
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
	p := newTestPKI(t)
	srv, serverCA, seen := mtlsServer(t, p, "", 0)
	old, oldCA, _ := mtlsServer(t, p, "", tls.VersionTLS12)
	url := srv.URL + "/mcp"
	expiredCert, expiredKey := p.issue(t, "mediator", time.Now().Add(-time.Hour))
	expiredKeyFile := filepath.Join(t.TempDir(), "expired.key")
	writeFile(t, expiredKeyFile, expiredKey)
	_, otherKey := p.issue(t, "other", time.Now().Add(time.Hour))
	otherKeyFile := filepath.Join(t.TempDir(), "other.key")
	writeFile(t, otherKeyFile, otherKey)
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
		"unknown server CA":     {tls: TLSConfig{Cert: p.certFile, KeyFile: p.keyFile}, kind: KindTransport, want: "set tls.ca", noReach: true},
		"key not in keyring":    {tls: TLSConfig{Cert: p.certFile, KeySecret: "missing", CA: serverCA}, kind: KindAuth, want: "mediator secret set mtls missing", noReach: true},
		"expired certificate":   {tls: TLSConfig{Cert: expiredCert, KeyFile: expiredKeyFile, CA: serverCA}, kind: KindAuth, want: "expired", noReach: true},
		"key of another cert":   {tls: TLSConfig{Cert: p.certFile, KeyFile: otherKeyFile, CA: serverCA}, kind: KindConfig, want: "do not make a pair", noReach: true},
		"missing CA file":       {tls: TLSConfig{Cert: p.certFile, KeyFile: p.keyFile, CA: filepath.Join(t.TempDir(), "nope.pem")}, kind: KindConfig, want: "CA bundle", noReach: true},
		"shared transport":      {tls: TLSConfig{Cert: p.certFile, KeyFile: p.keyFile, CA: serverCA}, base: http.DefaultTransport, kind: KindConfig, want: "own transport", noReach: true},
		"server below min":      {url: old.URL + "/mcp", tls: TLSConfig{Cert: p.certFile, KeyFile: p.keyFile, CA: oldCA, MinVersion: TLSVersion13}, kind: KindTransport, want: "version"},
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
