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
// environment of PATH, HOME, the locale variables (LANG, LANGUAGE and the
// LC_ categories by name), TMPDIR, its own env and its own secret_env,
// nothing else of mediator's.
//
// No message from a server may take more than Config.MaxResultBytes on the
// wire (16 MiB by default): a tool result, a tools/list page, a
// notification, an error. The count runs as the bytes arrive; a message
// over it is never read whole, fails the operation waiting on it with
// KindTooLarge, and ends the session, which reconnects. While a resource
// read is in flight the bound is what a resource of Config.MaxResourceBytes
// takes on the wire, if that is more (see Connector.ReadResource).
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
	"path/filepath"
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

// Auth types as they appear in config. Each is a case of newAuthenticator;
// the orchestrator knows none of them (see [Authenticator]). A client
// certificate ([TLSConfig]) combines with every type.
const (
	AuthNone   = "none"
	AuthAPIKey = "api-key"
	AuthBearer = "bearer"
	// AuthOAuth is the OAuth 2.1 authorization code flow: a user logs in
	// once (`mediator auth login`), mediator keeps and refreshes the token.
	AuthOAuth = "oauth"
	// AuthClientCredentials authenticates mediator itself as an OAuth
	// client (a service, a daemon), with a client secret or a private key.
	AuthClientCredentials = "client-credentials"
	// AuthJWTBearer presents a workload identity JWT (RFC 7523), e.g. a
	// Kubernetes projected service account token.
	AuthJWTBearer = "jwt-bearer"
	// AuthEnterprise exchanges the user's enterprise SSO ID token for an
	// identity assertion grant (ID-JAG) and that for an access token.
	AuthEnterprise = "enterprise"
	// AuthMTLS is a client certificate alone, with no HTTP credential.
	AuthMTLS = "mtls"
)

// AuthTypes lists every auth type, for messages and completion.
var AuthTypes = []string{AuthNone, AuthAPIKey, AuthBearer, AuthOAuth, AuthClientCredentials, AuthJWTBearer, AuthEnterprise, AuthMTLS}

// Token endpoint authentication methods as config names them.
const (
	AuthMethodNone          = "none"
	AuthMethodBasic         = "basic"
	AuthMethodPost          = "post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// Signing algorithms of private_key_jwt client assertions.
const (
	SigningES256 = "ES256"
	SigningRS256 = "RS256"
)

// DefaultRedirectURL is where the browser login of an oauth server sends
// the authorization code: a one-shot listener on 127.0.0.1 (RFC 8252).
const DefaultRedirectURL = "http://127.0.0.1:8976/callback"

// TLS versions a TLSConfig may ask for at least.
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

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

	// Headers are plain HTTP headers sent with every request to an HTTP
	// server's origin: settings such as a toolset selector
	// (X-MCP-Toolsets) or an API version. Credentials never go here; see
	// HeaderProblem.
	Headers map[string]string

	Auth AuthConfig
	// TLS configures the HTTPS connection: a client certificate (mTLS) and
	// the CAs the server's certificate must chain to. It combines with
	// every auth type.
	TLS TLSConfig

	// Timeout bounds connecting and, unless the caller's context is shorter,
	// each call. Zero means DefaultTimeout.
	Timeout time.Duration

	// MaxResultBytes bounds every message the server sends (a tool result,
	// a tools/list page, a notification, an error) as it arrives: one
	// larger fails the operation waiting on it with KindTooLarge and ends
	// the session, without being read whole. Zero means
	// DefaultMaxResultBytes. It does not apply to Options.NewTransport.
	// While a resource read is in flight, MaxResourceBytes may raise it.
	MaxResultBytes int64

	// MaxResourceBytes bounds the contents of one resource read (texts'
	// bytes plus blobs' decoded bytes); a larger resource is refused with
	// KindTooLarge, never read whole (see Connector.ReadResource). Zero
	// means DefaultMaxResourceBytes.
	MaxResourceBytes int64

	// Sandbox confines a stdio server; the zero value confines it with the
	// paths found in its command, args and env.
	Sandbox SandboxConfig

	// Sampling says whether the server's sampling requests may reach a
	// model (see SamplingConfig); the zero value denies them.
	Sampling SamplingConfig
	// Elicitation is ElicitationDeny or ElicitationAsk (the default when
	// empty): whether the server may ask the user for input.
	Elicitation string
	// Roots are the directories the server is offered as roots (absolute
	// paths of existing directories, shown as file:// URIs); none means
	// no roots capability.
	Roots []string
}

// SandboxConfig shapes the sandbox of a stdio server (Linux: Landlock and
// seccomp). Whatever it says, mediator's own directories are never granted.
// What a confined server reaches is in docs/design.md.
type SandboxConfig struct {
	// Off runs the server unconfined (`sandbox: off`).
	Off bool
	// Read and Write are paths the server may also read (and execute), or
	// read and write, beyond those it is handed in its command, args and env.
	Read  []string
	Write []string
	// NoNetwork refuses the server Internet sockets (`network: false`).
	NoNetwork bool
	// UnixSockets lets the server open local sockets (D-Bus, ssh-agent,
	// Docker), which the sandbox otherwise refuses.
	UnixSockets bool
}

// IsZero reports whether nothing about the sandbox is configured.
func (s SandboxConfig) IsZero() bool {
	return !s.Off && len(s.Read) == 0 && len(s.Write) == 0 && !s.NoNetwork && !s.UnixSockets
}

// AuthConfig says how the connector authenticates to its server. Every
// credential is named by the keyring item of this server that holds it,
// never given as a value. Which fields a type takes is in AuthProblems.
type AuthConfig struct {
	Type string // one of AuthTypes; empty means none
	// Header carries the api-key (default "X-API-Key").
	Header string
	// Secret is the name of this server's keyring item holding the value
	// (api-key, bearer).
	Secret string

	// ClientID is the OAuth client: pre-registered for oauth (optional:
	// without it mediator uses ClientMetadataURL or registers dynamically),
	// required for client-credentials and enterprise.
	ClientID string
	// ClientSecret names the keyring item with the client secret.
	ClientSecret string
	// PrivateKey names the keyring item with a PEM private key that signs
	// private_key_jwt client assertions, with SigningAlg (ES256 or RS256;
	// empty means by key type).
	PrivateKey string
	SigningAlg string
	// AuthMethod is how the client authenticates at the token endpoint:
	// basic, post, private_key_jwt or none; empty means by credential.
	AuthMethod string
	// ClientMetadataURL is an https URL of mediator's client ID metadata
	// document, used where the authorization server supports them.
	ClientMetadataURL string
	// RedirectURL is the browser login's loopback redirect URI;
	// empty means DefaultRedirectURL.
	RedirectURL string
	// Scopes are requested instead of the server's advertised ones.
	Scopes []string
	// Issuer binds the configured client to one authorization server: its
	// credentials are never sent to another.
	Issuer string
	// Assertion names the keyring item with the workload identity JWT;
	// AssertionFile is a file holding it instead, read anew for every
	// token request (platforms rotate these files).
	Assertion     string
	AssertionFile string
	// IdPTokenEndpoint, IdPClientID, IdPClientSecret (an item name) and
	// IDToken (the item with the user's SSO ID token) configure enterprise.
	IdPTokenEndpoint string
	IdPClientID      string
	IdPClientSecret  string
	IDToken          string
	// DPoP binds tokens to a key (RFC 9449) where the authorization server
	// supports it.
	DPoP bool
	// AllowInsecureLocalhost lets OAuth metadata and endpoints use plain
	// http on loopback addresses (development only).
	AllowInsecureLocalhost bool
}

// IsOAuth reports whether the type obtains tokens from an authorization
// server, and so keeps them (and client registrations) in the keyring.
func (a AuthConfig) IsOAuth() bool {
	switch a.Type {
	case AuthOAuth, AuthClientCredentials, AuthJWTBearer, AuthEnterprise:
		return true
	}
	return false
}

// TLSConfig is the client side of an HTTPS connection. Files are PEM.
type TLSConfig struct {
	// Cert is the client certificate (with any intermediates) presented to
	// the server; its private key is in this server's keyring item
	// KeySecret or in the file KeyFile, never both.
	Cert      string
	KeySecret string
	KeyFile   string
	// CA is a bundle of the CAs the server's certificate must chain to,
	// instead of the system's.
	CA string
	// MinVersion is "1.2" (the default and the floor) or "1.3".
	MinVersion string
}

// IsZero reports whether no TLS option is set.
func (t TLSConfig) IsZero() bool { return t == TLSConfig{} }

// NeedsSecrets reports whether connecting reads or writes the keyring: a
// credential named in auth or tls, a secret_env item, or OAuth tokens.
func (c Config) NeedsSecrets() bool {
	a := c.Auth
	return a.Secret != "" || a.IsOAuth() || c.TLS.KeySecret != "" || len(c.SecretEnv) > 0
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
	if c.MaxResultBytes < 0 {
		return bad("max_result_bytes", "must be more than 0 bytes, got %d", c.MaxResultBytes)
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	if c.MaxResourceBytes < 0 {
		return bad("max_resource_bytes", "must be more than 0 bytes, got %d", c.MaxResourceBytes)
	}
	if c.MaxResourceBytes == 0 {
		c.MaxResourceBytes = DefaultMaxResourceBytes
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
		if !c.Sandbox.IsZero() {
			return bad("sandbox", "sandbox applies only to stdio servers, which mediator starts; an HTTP server runs elsewhere")
		}
	}

	for _, f := range []struct {
		field string
		paths []string
	}{{"sandbox.read", c.Sandbox.Read}, {"sandbox.write", c.Sandbox.Write}} {
		for _, p := range f.paths {
			if !filepath.IsAbs(p) {
				return bad(f.field, "path %q is not absolute (write it in full, e.g. /home/you/data)", p)
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

	switch c.Sampling.Mode {
	case "":
		c.Sampling.Mode = SamplingDeny
	case SamplingDeny, SamplingAsk, SamplingAllow:
	default:
		return bad("sampling.mode", "unknown mode %q (valid: %s, %s, %s)", c.Sampling.Mode, SamplingDeny, SamplingAsk, SamplingAllow)
	}
	if c.Sampling.MaxTokens < 0 {
		return bad("sampling.max_tokens", "must be more than 0, got %d", c.Sampling.MaxTokens)
	}
	for i, m := range c.Sampling.Models {
		if strings.TrimSpace(m) == "" {
			return bad(fmt.Sprintf("sampling.models[%d]", i), "is empty; name a model, or leave models out to allow any")
		}
	}
	switch c.Elicitation {
	case "":
		c.Elicitation = ElicitationAsk
	case ElicitationDeny, ElicitationAsk:
	default:
		return bad("elicitation", "unknown setting %q (valid: %s, %s)", c.Elicitation, ElicitationDeny, ElicitationAsk)
	}
	if len(c.Roots) > 0 {
		roots, err := checkRoots("roots", c.Roots)
		if err != nil {
			return Config{}, &Error{Server: c.Name, Kind: KindConfig, Err: err}
		}
		c.Roots = roots
	}

	if ps := c.AuthProblems(); len(ps) > 0 {
		return bad(ps[0].Field, "%s", ps[0].Msg)
	}
	if c.Auth.Type == "" {
		c.Auth.Type = AuthNone
	}
	if c.Auth.Type == AuthAPIKey && c.Auth.Header == "" {
		c.Auth.Header = DefaultAPIKeyHeader
	}
	if len(c.Headers) > 0 {
		if c.Transport == TransportStdio {
			return bad("headers", "headers apply only to HTTP servers (with a url); a stdio server gets env")
		}
		authHeader := ""
		if c.Auth.Type == AuthAPIKey {
			authHeader = c.Auth.Header
		}
		for name, value := range c.Headers {
			if p := HeaderProblem(name, value, authHeader); p != "" {
				return bad("headers."+name, "%s", p)
			}
		}
	}
	if c.Auth.Type == AuthOAuth && c.Auth.RedirectURL == "" {
		c.Auth.RedirectURL = DefaultRedirectURL
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
