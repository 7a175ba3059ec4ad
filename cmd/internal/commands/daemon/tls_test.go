package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA signs the daemon's certificate and the clients'.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	dir    string
	file   string // the CA's PEM
	serial int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{dir: t.TempDir(), serial: 1}
	var err error
	if ca.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	ca.cert, _ = x509.ParseCertificate(der)
	ca.file = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for cn valid until notAfter, for a server on
// 127.0.0.1 or for a client, and returns its and its key's files.
func (ca *testCA) issue(t *testing.T, cn string, notAfter time.Time, server bool) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(ca.dir, fmt.Sprintf("%d.crt", ca.serial))
	keyFile = filepath.Join(ca.dir, fmt.Sprintf("%d.key", ca.serial))
	writePEM(t, certFile, "CERTIFICATE", der)
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client is an HTTPS client trusting ca, presenting the certificate in
// certFile/keyFile ("" for none).
func (ca *testCA) client(t *testing.T, certFile, keyFile string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tc := &tls.Config{RootCAs: pool}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

// request does method url with body on c: the status and the body, or
// the error of a refused handshake.
func request(t *testing.T, c *http.Client, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// Client certificates signed by daemon.tls.client_ca reach the workflows
// of daemon.tls.client_workflows only, over real TLS: one reaches say and
// not hold; an expired one is refused in the handshake; none is 401; and
// a reload rescopes them without a restart.
func TestDaemonClientCertificates(t *testing.T) {
	h := newHome(t)
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "daemon", time.Now().Add(time.Hour), true)
	tlsBlock := func(globs string) string {
		return fmt.Sprintf("  tls: {cert: %s, key_file: %s, client_ca: %s, client_workflows: %s}\n", srvCert, srvKey, ca.file, globs)
	}
	h.write(tlsBlock(`[say]`))
	h.storeKey()
	r := h.start()
	base := r.baseURL(t)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base URL %s", base)
	}
	certFile, keyFile := ca.issue(t, "ci", time.Now().Add(time.Hour), false)
	good := ca.client(t, certFile, keyFile)

	names := func() []string {
		t.Helper()
		code, body, err := request(t, good, "GET", base+"/v1/workflows", "")
		if err != nil || code != 200 {
			t.Fatalf("GET /v1/workflows with a certificate: %d %s %v", code, body, err)
		}
		var out struct{ Workflows []struct{ Name string } }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, w := range out.Workflows {
			ns = append(ns, w.Name)
		}
		return ns
	}
	if got := names(); strings.Join(got, ",") != "say" {
		t.Errorf("a certificate scoped to say sees %v", got)
	}
	if code, body, err := request(t, good, "POST", base+"/v1/runs", `{"workflow": "hold", "inputs": {"text": "x"}}`); err != nil || code != http.StatusForbidden {
		t.Errorf("a run of another workflow: %d %s %v", code, body, err)
	}
	if code, body, err := request(t, good, "POST", base+"/v1/runs", `{"workflow": "say", "inputs": {"text": "x"}}`); err != nil || code/100 != 2 {
		t.Errorf("a run of its workflow: %d %s %v", code, body, err)
	}

	certFile, keyFile = ca.issue(t, "old", time.Now().Add(-time.Hour), false)
	expired := ca.client(t, certFile, keyFile)
	if code, _, err := request(t, expired, "GET", base+"/v1/workflows", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an expired certificate: %d %v", code, err)
	}
	if code, body, err := request(t, ca.client(t, "", ""), "GET", base+"/v1/workflows", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no certificate, no token: %d %s %v", code, body, err)
	}

	h.write(tlsBlock(`[hold]`))
	r.reload <- nil
	if err := <-r.reloaded; err != nil {
		t.Fatalf("reload: %v\n%s", err, r.stderr.String())
	}
	if got := names(); strings.Join(got, ",") != "hold" {
		t.Errorf("after the reload a certificate scoped to hold sees %v", got)
	}
	if strings.Contains(r.stderr.String(), "need a restart") {
		t.Errorf("client_workflows asked for a restart:\n%s", r.stderr.String())
	}
	r.stop(t)
}
