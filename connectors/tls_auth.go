package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// clientTLS is Config.TLS loaded for one connect. Certificate, key and CA
// bundle are read anew at every connect, so a renewed certificate takes
// effect at the next reconnect without a restart.
type clientTLS struct {
	cert  *tls.Certificate
	roots *x509.CertPool
	min   uint16
	// caPEM is the CA bundle's text, for the OAuth fetches to other
	// origins (see oauthTLS).
	caPEM []byte
}

// authenticator returns ct as a TLSAuthenticator, or nil for no TLS settings.
func (ct *clientTLS) authenticator() TLSAuthenticator {
	if ct == nil {
		return nil
	}
	return ct
}

// Authenticate adds nothing to requests: the credential is the handshake's.
func (ct *clientTLS) Authenticate(*http.Request) error { return nil }

func (ct *clientTLS) ConfigureTLS(cfg *tls.Config) error {
	if ct.cert != nil {
		// Always offer the configured certificate, even when the server's
		// list of acceptable CAs does not name its issuer: a server that
		// refuses it then says so, instead of the handshake quietly going
		// ahead without a certificate.
		cert := ct.cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if ct.roots != nil {
		cfg.RootCAs = ct.roots
	}
	cfg.MinVersion = max(cfg.MinVersion, ct.min)
	return nil
}

// clientTLS loads Config.TLS. Any problem fails the connect: a configured
// certificate or CA bundle is never silently left out.
func (c *Connector) clientTLS(ctx context.Context) (*clientTLS, error) {
	t := c.cfg.TLS
	if t.IsZero() {
		return nil, nil
	}
	ct := &clientTLS{min: tls.VersionTLS12}
	if t.MinVersion == TLSVersion13 {
		ct.min = tls.VersionTLS13
	}
	if t.CA != "" {
		data, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, c.newError(KindConfig, fmt.Errorf("tls: reading the CA bundle: %w", err))
		}
		ct.roots = x509.NewCertPool()
		if !ct.roots.AppendCertsFromPEM(data) {
			return nil, c.newError(KindConfig, fmt.Errorf("tls: the CA bundle %s holds no PEM certificate", t.CA))
		}
		ct.caPEM = data
	}
	if t.Cert == "" {
		return ct, nil
	}
	certPEM, err := os.ReadFile(t.Cert)
	if err != nil {
		return nil, c.newError(KindConfig, fmt.Errorf("tls: reading the client certificate: %w", err))
	}
	var keyPEM []byte
	keyFrom := fmt.Sprintf("keyring item %q", t.KeySecret)
	if t.KeySecret != "" {
		s, err := c.fetchSecret(ctx, t.KeySecret)
		if err != nil {
			return nil, err
		}
		keyPEM = []byte(s.Reveal())
	} else {
		keyFrom = "file " + t.KeyFile
		if keyPEM, err = os.ReadFile(t.KeyFile); err != nil {
			return nil, c.newError(KindConfig, fmt.Errorf("tls: reading the client certificate's key: %w", err))
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The error names PEM block types and mismatches, never key bytes.
		return nil, c.newError(KindConfig, fmt.Errorf("tls: the client certificate %s and the key in %s do not make a pair: %w", t.Cert, keyFrom, err))
	}
	if leaf := pair.Leaf; leaf != nil {
		now := time.Now()
		switch {
		case now.After(leaf.NotAfter):
			return nil, c.newError(KindAuth, fmt.Errorf("tls: the client certificate %s expired on %s; renew it", t.Cert, leaf.NotAfter.UTC().Format(time.RFC3339)))
		case now.Before(leaf.NotBefore):
			return nil, c.newError(KindAuth, fmt.Errorf("tls: the client certificate %s is not valid before %s", t.Cert, leaf.NotBefore.UTC().Format(time.RFC3339)))
		}
	}
	ct.cert = &pair
	return ct, nil
}

// oauthTLS is what the OAuth handler's fetches use: the connection's own
// TLS (CA bundle, minimum version, client certificate) for the MCP server's
// origin, and for every other origin (the authorization server) the
// system's roots plus the CA bundle, but never the client certificate. A
// private CA usually signs the intranet authorization server too; a public
// one still verifies against the system's roots.
func (ct *clientTLS) oauthTLS() (server *tls.Config, others *x509.CertPool) {
	if ct == nil {
		return nil, nil
	}
	server = &tls.Config{MinVersion: tls.VersionTLS12}
	_ = ct.ConfigureTLS(server) // never fails
	if ct.caPEM != nil {
		others, _ = x509.SystemCertPool()
		if others == nil {
			others = x509.NewCertPool()
		}
		others.AppendCertsFromPEM(ct.caPEM)
	}
	return server, others
}

// tlsHint explains a TLS failure in terms of the config, or returns "" when
// err is no TLS failure. rejected is true when the server refused mediator's
// client certificate (or its absence), which is an auth failure.
func (c *Connector) tlsHint(err error) (hint string, rejected bool) {
	// A server's alert arrives as a net.OpError "remote error" around an
	// unexported alert type; its text is the stable part.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		switch op.Err.Error() {
		case "tls: certificate required", "tls: bad certificate", "tls: unsupported certificate",
			"tls: revoked certificate", "tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority":
			if c.cfg.TLS.Cert == "" {
				return "the server requires a TLS client certificate; configure tls: {cert: FILE, key_secret: ITEM}", true
			}
			return fmt.Sprintf("the server refused the TLS client certificate %s", c.cfg.TLS.Cert), true
		}
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		if c.cfg.TLS.CA != "" {
			return fmt.Sprintf("the server's certificate does not chain to the CA bundle %s", c.cfg.TLS.CA), false
		}
		return "the server's certificate is signed by an unknown authority; if it uses a private CA, set tls.ca to that CA's PEM bundle", false
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return "the server's certificate is not valid for its host name", false
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		return fmt.Sprintf("the server's certificate is invalid: %v", invalid), false
	}
	return "", false
}
