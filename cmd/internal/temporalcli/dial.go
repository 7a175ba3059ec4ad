package temporalcli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// Dial connects to the cluster of cfg's temporal block: its TLS files,
// the client key and the payload codec's key from the keyring (opened
// only when the block names one of them). identity names the client or
// worker in Temporal's records ("" for the SDK's default).
func Dial(ctx context.Context, f *cmdutil.Factory, cfg *config.Config, identity string) (client.Client, error) {
	o, err := ClientOptions(ctx, f, cfg)
	if err != nil {
		return nil, err
	}
	o.Identity = identity
	return dialWith(ctx, cfg, o)
}

// dialWith dials with o, read from cfg by ClientOptions: a failure names
// the config field to look at.
func dialWith(ctx context.Context, cfg *config.Config, o temporal.ClientOptions) (client.Client, error) {
	c, err := temporal.Dial(ctx, o)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%v (temporal.host_port in %s)", err, configName(cfg))
	}
	return c, nil
}

// ClientOptions reads cfg's temporal block into temporal.ClientOptions.
func ClientOptions(ctx context.Context, f *cmdutil.Factory, cfg *config.Config) (temporal.ClientOptions, error) {
	t := cfg.Temporal
	if t.HostPort == "" {
		return temporal.ClientOptions{}, cmdutil.Errorf(cmdutil.ExitUsage, "%s: temporal.host_port is not set: give the cluster's frontend as HOST:PORT (docs/scale.md)", configName(cfg))
	}
	o := temporal.ClientOptions{HostPort: t.HostPort, Namespace: t.Namespace, Logger: f.Logger()}
	var store *credentials.Store
	secret := func(field, item string) (string, error) {
		if store == nil {
			s, err := f.Secrets(ctx, cfg)
			if err != nil {
				return "", cmdutil.Errorf(cmdutil.ExitConnect, "%s: %v", field, err)
			}
			store = s
		}
		v, err := store.Get(config.TemporalSecretServer, item)
		if errors.Is(err, credentials.ErrNotFound) {
			return "", cmdutil.Errorf(cmdutil.ExitUsage, "%s: no keyring item %s/%s; store it with: mediator secret set %s %s", field, config.TemporalSecretServer, item, config.TemporalSecretServer, item)
		}
		if err != nil {
			return "", cmdutil.Errorf(cmdutil.ExitConnect, "%s: %v", field, err)
		}
		return v.Reveal(), nil
	}
	if t.TLS != nil {
		tc, err := tlsConfig(t.TLS, secret)
		if err != nil {
			return o, err
		}
		o.TLS = tc
	}
	if t.CodecKeySecret != "" {
		v, err := secret("temporal.codec_key_secret", t.CodecKeySecret)
		if err != nil {
			return o, err
		}
		key, err := decodeKey(v)
		if err != nil {
			return o, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.codec_key_secret: keyring item %s/%s %v", config.TemporalSecretServer, t.CodecKeySecret, err)
		}
		codec, err := temporal.NewCodec(t.CodecKeySecret, key)
		if err != nil {
			return o, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.codec_key_secret: %v", err)
		}
		o.Codec = codec
	}
	return o, nil
}

// decodeKey reads a codec key written as 64 hex digits or as base64 of
// 32 bytes; the error never quotes the value.
func decodeKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("is not a 32-byte key in hex (64 digits) or base64; make one with: head -c 32 /dev/urandom | base64")
}

func tlsConfig(t *config.TemporalTLS, secret func(field, item string) (string, error)) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.tls.ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.tls.ca: %s holds no PEM certificate", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert == "" {
		return tc, nil
	}
	certPEM, err := os.ReadFile(t.Cert)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.tls.cert: %v", err)
	}
	var keyPEM []byte
	if t.KeyFile != "" {
		if keyPEM, err = os.ReadFile(t.KeyFile); err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.tls.key_file: %v", err)
		}
	} else {
		v, err := secret("temporal.tls.key_secret", t.KeySecret)
		if err != nil {
			return nil, err
		}
		keyPEM = []byte(v)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's errors describe the PEM blocks, never their bytes.
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "temporal.tls: the certificate %s and its key do not make a pair: %v", t.Cert, err)
	}
	tc.Certificates = []tls.Certificate{pair}
	return tc, nil
}

func configName(cfg *config.Config) string {
	if cfg.Path == "" {
		return "the config"
	}
	return cfg.Path
}
