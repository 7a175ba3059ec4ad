package connectors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mediatorhq/mediator/credentials"
)

// Authenticator is the auth seam of a connector: everything one auth type
// contributes to one server's HTTP connection. The connector builds one at
// every connect and calls Authenticate only for requests bound for the
// server's own origin, on a clone of the request. An implementation may also
// be an [OAuthAuthenticator], [TLSAuthenticator] or [TransportAuthenticator].
// How to add an auth type: docs/auth.md, "Adding an auth type".
type Authenticator interface {
	Authenticate(req *http.Request) error
}

// OAuthAuthenticator is an Authenticator that drives an OAuth flow on the
// streamable HTTP transport.
type OAuthAuthenticator interface {
	Authenticator
	OAuthHandler() auth.OAuthHandler
}

// TLSAuthenticator is an Authenticator that shapes the TLS client config of
// the connector's own transport, e.g. to present a client certificate.
// cfg arrives with MinVersion TLS 1.2; an implementation must not lower it.
type TLSAuthenticator interface {
	Authenticator
	ConfigureTLS(cfg *tls.Config) error
}

// TransportAuthenticator is an Authenticator that must see each request
// after the MCP transport has put its token on it: it wraps the round
// tripper below the connector's credential layer. Requests reach it only
// for the server's own origin.
type TransportAuthenticator interface {
	Authenticator
	WrapTransport(base http.RoundTripper) http.RoundTripper
}

// secretFetcher fetches one of this server's secrets and remembers the value
// so the connector can scrub it from any error text.
type secretFetcher func(ctx context.Context, name string) (credentials.Secret, error)

// fetchSecret reads one of this server's secrets for the wire and registers
// its value with the connector's redactor before anything can print it.
func (c *Connector) fetchSecret(ctx context.Context, name string) (credentials.Secret, error) {
	if c.opts.Secrets == nil {
		return credentials.Secret{}, c.newError(KindConfig, fmt.Errorf("the config refers to secret %q, but the connector has no secret source", name))
	}
	s, err := c.opts.Secrets.Secret(ctx, name)
	if err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			if !strings.Contains(err.Error(), "mediator secret set") {
				// The way out, unless the source gave it already (the
				// keyring store names its backend and the command).
				err = fmt.Errorf("secret %q is not in the keyring (store it with `mediator secret set %s %s`): %w", name, c.cfg.Name, name, err)
			}
			return credentials.Secret{}, c.newError(KindAuth, err)
		}
		return credentials.Secret{}, c.newError(KindAuth, fmt.Errorf("reading secret %q: %w", name, err))
	}
	if s.IsZero() {
		return credentials.Secret{}, c.newError(KindAuth, fmt.Errorf("secret %q is empty (store it with `mediator secret set %s %s`)", name, c.cfg.Name, name))
	}
	c.redactor.Add(s)
	return s, nil
}

// newAuthenticator builds the Authenticator for the normalized config at
// each connect. The OAuth types share one handler for the connector's life,
// so tokens, registrations and the single-flight refresh survive reconnects.
func (c *Connector) newAuthenticator(ctx context.Context) (Authenticator, error) {
	a, fetch := c.cfg.Auth, secretFetcher(c.fetchSecret)
	switch a.Type {
	case AuthNone, AuthMTLS:
		return noAuth{}, nil
	case AuthOAuth, AuthClientCredentials, AuthJWTBearer, AuthEnterprise:
		return c.oauthAuthenticator(ctx)
	case AuthAPIKey:
		s, err := fetch(ctx, a.Secret)
		if err != nil {
			return nil, err
		}
		return headerAuth{header: http.CanonicalHeaderKey(a.Header), secret: s}, nil
	case AuthBearer:
		s, err := fetch(ctx, a.Secret)
		if err != nil {
			return nil, err
		}
		return headerAuth{header: "Authorization", prefix: "Bearer ", secret: s}, nil
	}
	// normalize rejects every other type before a connect can get here.
	return nil, fmt.Errorf("auth type %q has no implementation", a.Type)
}

type noAuth struct{}

func (noAuth) Authenticate(*http.Request) error { return nil }

// headerAuth covers api-key (any header) and bearer (Authorization).
type headerAuth struct {
	header string
	prefix string
	secret credentials.Secret
}

func (h headerAuth) Authenticate(req *http.Request) error {
	req.Header.Set(h.header, h.prefix+h.secret.Reveal())
	return nil
}
