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
// contributes to one server's HTTP connection.
//
// Why a seam: the orchestrator must not know how a server authenticates.
// It hands each connector a Config and a SecretSource scoped to that server;
// the connector turns Config.Auth into an Authenticator at every connect
// (so a rotated keyring value is picked up on reconnect; the OAuth types
// keep one handler, and so their tokens, for the connector's life) and
// wires it into the HTTP stack it owns. An auth type is a case of
// newAuthenticator plus a type implementing this interface; neither the
// orchestrator nor the cmd layer knows them.
//
// How the pieces plug in:
//   - Authenticate adds a credential to one outgoing request. The connector
//     calls it only for requests bound for the server's own origin (scheme,
//     host and port of Config.URL), on a clone of the request, so an
//     implementation cannot send its credential elsewhere by mistake.
//   - An Authenticator that also implements [OAuthAuthenticator] hands its
//     auth.OAuthHandler to the streamable HTTP transport, which asks it for
//     tokens and runs its Authorize on 401/403. The legacy SSE transport has
//     no such hook, so Authenticate must still add the current token.
//   - An Authenticator that also implements [TLSAuthenticator] configures
//     the TLS of the connector's own *http.Transport (client certificate,
//     CA bundle); it combines with any of the above. It needs the
//     connector's own transport, so it is refused with Options.BaseTransport.
//     Config.TLS does the same for every auth type from the config.
//   - An Authenticator that also implements [TransportAuthenticator] wraps
//     the round tripper under the credential layer, to rewrite what the
//     transport sends (DPoP turns the Bearer scheme into a proof-bound one).
//
// An auth type that has to persist state (OAuth tokens, a dynamic client
// registration) gets it from the same SecretSource: the credentials package
// decides what a scoped source may write, never the connector.
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
