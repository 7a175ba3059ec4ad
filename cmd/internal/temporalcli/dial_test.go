package temporalcli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
)

const testPassphrase = "dial-test-passphrase-4c1e"

// testFactory is a Factory over a config at dir with a file keyring.
func testFactory(t *testing.T, temporalBlock string) (*cmdutil.Factory, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"HOME": dir, "XDG_STATE_HOME": filepath.Join(dir, "state"), "MEDIATOR_KEYRING_PASSPHRASE": testPassphrase}
	path := filepath.Join(dir, "config.yaml")
	body := "credentials:\n  backend: file\n  file_dir: " + filepath.Join(dir, "keyring") + "\n" + temporalBlock
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	f.ConfigFlag = path
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	return f, cfg
}

func setSecret(t *testing.T, f *cmdutil.Factory, cfg *config.Config, item, value string) {
	t.Helper()
	s, err := f.Secrets(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(config.TemporalSecretServer, item, credentials.NewSecret(value)); err != nil {
		t.Fatal(err)
	}
}

// The codec key comes from the keyring, as hex or base64; a client with
// it encrypts payloads under the item's name.
func TestCodecKeyFromKeyring(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
		f, cfg := testFactory(t, "temporal:\n  host_port: 127.0.0.1:7233\n  codec_key_secret: codec-1\n")
		setSecret(t, f, cfg, "codec-1", enc)
		o, err := ClientOptions(context.Background(), f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if o.Codec == nil {
			t.Fatal("no codec")
		}
		out, err := o.Codec.Encode([]*commonpb.Payload{{Data: []byte("canary-result")}})
		if err != nil || strings.Contains(out[0].String(), "canary-result") || string(out[0].Metadata["encryption-key-id"]) != "codec-1" {
			t.Fatalf("encoded = %v, %v", out, err)
		}
	}
}

func TestCodecKeyProblems(t *testing.T) {
	f, cfg := testFactory(t, "temporal:\n  host_port: 127.0.0.1:7233\n  codec_key_secret: codec-1\n")
	_, err := ClientOptions(context.Background(), f, cfg)
	if err == nil || !strings.Contains(err.Error(), "no keyring item temporal/codec-1; store it with: mediator secret set temporal codec-1") || cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("missing item: %v", err)
	}
	const short = "c2hvcnQtY2FuYXJ5LWtleQ=="
	setSecret(t, f, cfg, "codec-1", short)
	_, err = ClientOptions(context.Background(), f, cfg)
	if err == nil || !strings.Contains(err.Error(), "is not a 32-byte key") || strings.Contains(err.Error(), short) {
		t.Errorf("short key: %v", err)
	}
}

// temporal.tls: a CA file, and a client certificate whose key is in the
// keyring.
func TestTLSFromFilesAndKeyring(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	cert := filepath.Join(dir, "client.crt")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f, cfg := testFactory(t, "temporal:\n  host_port: t.example:7233\n  tls: {ca: "+cert+", cert: "+cert+", key_secret: client-key, server_name: t.internal}\n")
	setSecret(t, f, cfg, "client-key", string(keyPEM))
	o, err := ClientOptions(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || len(o.TLS.Certificates) != 1 || o.TLS.RootCAs == nil || o.TLS.ServerName != "t.internal" {
		t.Fatalf("tls = %+v", o.TLS)
	}

	notPEM := filepath.Join(dir, "ca.txt")
	_ = os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	f, cfg = testFactory(t, "temporal:\n  host_port: t.example:7233\n  tls: {ca: "+notPEM+"}\n")
	if _, err := ClientOptions(context.Background(), f, cfg); err == nil || !strings.Contains(err.Error(), "temporal.tls.ca: "+notPEM+" holds no PEM certificate") {
		t.Errorf("bad CA: %v", err)
	}
}

// Dial reaches the test server; an address nothing listens on fails
// with the config's field named.
func TestDial(t *testing.T) {
	srv := server.Need(t)
	f, cfg := testFactory(t, "temporal:\n  host_port: "+srv.HostPort+"\n  namespace: "+srv.Namespace+"\n")
	c, err := Dial(context.Background(), f, cfg, "dial-test")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	f, cfg = testFactory(t, "temporal:\n  host_port: 127.0.0.1:1\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, f, cfg, ""); err == nil || !strings.Contains(err.Error(), "temporal.host_port in "+cfg.Path) || cmdutil.ExitCode(err) != cmdutil.ExitConnect {
		t.Errorf("unreachable: %v", err)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "worker"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
