// Package connectors opens one authenticated MCP client per server. A
// connector holds only its own server's credentials and sends them only to
// that server: over HTTP only to the server's origin, over stdio only into
// that one child process's environment.
//
// Over HTTP a connector owns its *http.Client and *http.Transport, and that
// client talks to one origin only (scheme, host and port of Config.URL): a
// redirect to another origin is refused with an error naming the target,
// and so is any other request elsewhere (a legacy SSE server naming a
// foreign message URL). Dropping just the credential would still carry the
// JSON-RPC body, tool arguments included, to a host the user never
// configured. How credentials get onto requests is the [Authenticator]
// seam.
//
// A stdio server starts with no shell, the exact command and args, and an
// environment of PATH, HOME, LANG, LC_*, TMPDIR, its own env and its own
// secret_env, nothing else of mediator's.
//
// A session that drops is reopened with backoff ([Backoff]); calls made
// meanwhile wait within their deadline; a call cut off by the drop fails and
// is never repeated. Every failure is an [*Error] whose [Kind] tells config,
// auth, timeout, transport and protocol problems apart, and whose text holds
// no secret value.
package connectors

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// Transport names as they appear in config.
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
)

// transportInProcess is what Transport reports for a connector built with
// Options.NewTransport and no URL or command.
const transportInProcess = "in-process"

const validTransports = TransportStdio + ", " + TransportStreamableHTTP + ", " + TransportSSE

// Auth types as they appear in config. OAuth, client credentials and mTLS
// slot in here as further types without the orchestrator knowing (see
// [Authenticator]).
const (
	AuthNone   = "none"
	AuthAPIKey = "api-key"
	AuthBearer = "bearer"
)

const validAuthTypes = AuthNone + ", " + AuthAPIKey + ", " + AuthBearer

// DefaultAPIKeyHeader carries an api-key when AuthConfig.Header is empty.
const DefaultAPIKeyHeader = "X-API-Key"

// Config describes one MCP server. It is plain data: the cmd layer fills it
// from the config file, tests fill it by hand.
type Config struct {
	// Name is the server's name in mediator (the "weather" in weather.get_forecast).
	Name string

	// URL is the endpoint of an HTTP server; empty for stdio.
	URL string
	// Transport is one of the Transport* constants; empty means
	// streamable-http when URL is set and stdio when Command is set.
	Transport string

	// Command, Args, Dir and Env start a stdio server. No shell is involved.
	Command string
	Args    []string
	Dir     string
	Env     map[string]string
	// SecretEnv maps an environment variable of the child to the name of one
	// of this server's keyring items.
	SecretEnv map[string]string

	Auth AuthConfig

	// Timeout bounds connecting and, unless the caller's context is shorter,
	// each call. Zero means DefaultTimeout.
	Timeout time.Duration
}

// AuthConfig says how the connector authenticates to its server.
type AuthConfig struct {
	Type string // AuthNone, AuthAPIKey, AuthBearer; empty means none
	// Header carries the api-key (default "X-API-Key").
	Header string
	// Secret is the name of this server's keyring item holding the value.
	Secret string
}

// DefaultTimeout applies when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SecretSource yields the secrets of one server only. The orchestrator gives
// each connector a source scoped to that connector's server, so a connector
// cannot ask for another server's credential.
type SecretSource interface {
	Secret(ctx context.Context, name string) (credentials.Secret, error)
}

// Validate checks the config on its own, without connecting, and returns a
// *Error of KindConfig naming the field and the valid choices. New calls it;
// `mediator config validate` can call it to report every server's problems.
func (c Config) Validate() error {
	_, err := c.normalize(false)
	return err
}

// normalize fills defaults (transport, auth type, api-key header, timeout)
// and rejects combinations that cannot work. custom is true when
// Options.NewTransport supplies the transport, so neither URL nor Command is
// required.
func (c Config) normalize(custom bool) (Config, error) {
	bad := func(field, format string, args ...any) (Config, error) {
		return Config{}, &Error{Server: c.Name, Kind: KindConfig, Err: fmt.Errorf("%s: "+format, append([]any{field}, args...)...)}
	}
	if c.Name == "" {
		return bad("name", "server name is empty")
	}
	if c.URL != "" && c.Command != "" {
		return bad("url", "both url and command are set; an HTTP server has a url, a stdio server a command, never both")
	}
	switch c.Transport {
	case "":
		switch {
		case c.URL != "":
			c.Transport = TransportStreamableHTTP
		case c.Command != "":
			c.Transport = TransportStdio
		}
	case TransportStdio, TransportStreamableHTTP, TransportSSE:
	default:
		return bad("transport", "unknown transport %q (valid: %s)", c.Transport, validTransports)
	}
	if c.Transport == "" && !custom {
		return bad("url", "neither url nor command is set; give a url for an HTTP server or a command for a stdio server")
	}
	if c.Timeout < 0 {
		return bad("timeout", "negative timeout %s", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}

	switch c.Transport {
	case TransportStdio:
		if c.URL != "" {
			return bad("transport", "transport stdio needs a command, not a url (for a url use %s or %s)", TransportStreamableHTTP, TransportSSE)
		}
		if c.Command == "" && !custom {
			return bad("command", "transport stdio needs a command")
		}
	case TransportStreamableHTTP, TransportSSE:
		if c.Command != "" {
			return bad("transport", "transport %s needs a url, not a command (for a command use %s)", c.Transport, TransportStdio)
		}
		if c.URL == "" && !custom {
			return bad("url", "transport %s needs a url", c.Transport)
		}
		if c.URL != "" {
			if _, err := serverOrigin(c.URL); err != nil {
				return bad("url", "%v", err)
			}
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"args", len(c.Args) > 0}, {"dir", c.Dir != ""}, {"env", len(c.Env) > 0}, {"secret_env", len(c.SecretEnv) > 0}} {
			if f.set {
				return bad(f.name, "%s applies only to stdio servers; an HTTP server authenticates with auth", f.name)
			}
		}
	}

	if err := checkEnvNames(c.Env, c.SecretEnv); err != nil {
		return bad("env", "%v", err)
	}
	for name, item := range c.SecretEnv {
		if item == "" {
			return bad("secret_env."+name, "names no keyring item")
		}
	}

	a := &c.Auth
	switch a.Type {
	case "", AuthNone:
		a.Type = AuthNone
		if a.Secret != "" || a.Header != "" {
			return bad("auth", "auth type none takes no secret or header (did you mean type %s or %s?)", AuthAPIKey, AuthBearer)
		}
	case AuthAPIKey, AuthBearer:
		if c.Transport == TransportStdio {
			return bad("auth.type", "auth type %s does not apply to a stdio server; pass its secrets to the process with secret_env", a.Type)
		}
		if a.Secret == "" {
			return bad("auth.secret", "auth type %s needs secret: the name of this server's keyring item (store it with `mediator secret set %s NAME`)", a.Type, c.Name)
		}
		if a.Type == AuthBearer && a.Header != "" {
			return bad("auth.header", "auth type bearer always uses the Authorization header; header applies only to api-key")
		}
		if a.Type == AuthAPIKey {
			if a.Header == "" {
				a.Header = DefaultAPIKeyHeader
			}
			if !validHeaderName(a.Header) {
				return bad("auth.header", "%q is not a valid HTTP header name", a.Header)
			}
		}
	default:
		return bad("auth.type", "unknown auth type %q (valid: %s)", a.Type, validAuthTypes)
	}
	return c, nil
}

func checkEnvNames(env, secretEnv map[string]string) error {
	names := make([]string, 0, len(env)+len(secretEnv))
	for k := range env {
		names = append(names, k)
	}
	for k := range secretEnv {
		if _, dup := env[k]; dup {
			return fmt.Errorf("%s is set in both env and secret_env", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("%q is not a valid environment variable name", k)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// serverOrigin parses an HTTP server's URL into its origin, the only place
// the server's credential may go.
func serverOrigin(raw string) (origin, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return origin{}, fmt.Errorf("invalid url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return origin{}, fmt.Errorf("url %q must start with http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return origin{}, fmt.Errorf("url %q has no host", u.Redacted())
	}
	return originOf(u), nil
}
