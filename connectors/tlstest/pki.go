// Package tlstest makes the certificates of mTLS tests: a client CA, client
// certificates it signs, and an httptest server that requires one.
package tlstest

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
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a client CA and one client certificate it signed, as PEM files.
type PKI struct {
	// Pool holds the CA, for a server's ClientCAs.
	Pool *x509.CertPool
	// CertFile and KeyFile are the client certificate (common name
	// "mediator") and its key; KeyPEM is the key's text.
	CertFile, KeyFile, KeyPEM string

	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64
}

// New makes a CA and a client certificate valid for an hour.
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir()}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
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
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.ca)
	p.serial.Store(1)
	p.CertFile, p.KeyPEM = p.Issue(t, "mediator", time.Now().Add(time.Hour))
	p.KeyFile = filepath.Join(p.dir, "client.key")
	WriteFile(t, p.KeyFile, p.KeyPEM)
	return p
}

// Issue signs a client certificate for cn valid until notAfter and returns
// its file and its key's PEM.
func (p *PKI) Issue(t testing.TB, cn string, notAfter time.Time) (certFile, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, tmpl.SerialNumber.String()+".crt")
	WriteFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	return certFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// Server starts an HTTPS server that requires a client certificate signed
// by the PKI's CA (TLS up to maxVersion; 0 means any) and returns it with a
// PEM file of its own certificate, the "private CA" a client must trust.
func (p *PKI) Server(t testing.TB, h http.Handler, maxVersion uint16) (srv *httptest.Server, serverCA string) {
	t.Helper()
	srv = httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.Pool, MaxVersion: maxVersion}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA = filepath.Join(t.TempDir(), "server-ca.pem")
	WriteFile(t, serverCA, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return srv, serverCA
}

// WriteFile writes a file with mode 0600.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
