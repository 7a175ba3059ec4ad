package connectors

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// FieldError is one problem of one field of a Config, named by its path in
// the config file's terms (auth.client_id, tls.cert).
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// authField is one optional field of AuthConfig, by its config name.
type authField struct {
	name string
	set  bool
}

func (a AuthConfig) fields() []authField {
	return []authField{
		{"header", a.Header != ""},
		{"secret", a.Secret != ""},
		{"client_id", a.ClientID != ""},
		{"client_secret", a.ClientSecret != ""},
		{"private_key", a.PrivateKey != ""},
		{"signing_alg", a.SigningAlg != ""},
		{"auth_method", a.AuthMethod != ""},
		{"client_metadata_url", a.ClientMetadataURL != ""},
		{"redirect_url", a.RedirectURL != ""},
		{"scopes", len(a.Scopes) > 0},
		{"issuer", a.Issuer != ""},
		{"assertion", a.Assertion != ""},
		{"assertion_file", a.AssertionFile != ""},
		{"idp_token_endpoint", a.IdPTokenEndpoint != ""},
		{"idp_client_id", a.IdPClientID != ""},
		{"idp_client_secret", a.IdPClientSecret != ""},
		{"id_token", a.IDToken != ""},
		{"dpop", a.DPoP},
		{"allow_insecure_localhost", a.AllowInsecureLocalhost},
	}
}

// oauthCommon are the fields every OAuth type takes.
var oauthCommon = []string{"client_id", "client_secret", "private_key", "signing_alg", "auth_method", "scopes", "issuer", "dpop", "allow_insecure_localhost"}

// authTypeFields says which optional fields each type takes.
var authTypeFields = map[string][]string{
	AuthNone:              {},
	AuthAPIKey:            {"secret", "header"},
	AuthBearer:            {"secret"},
	AuthOAuth:             append(slices.Clone(oauthCommon), "client_metadata_url", "redirect_url"),
	AuthClientCredentials: oauthCommon,
	AuthJWTBearer:         append(slices.Clone(oauthCommon), "assertion", "assertion_file"),
	AuthEnterprise:        append(slices.Clone(oauthCommon), "idp_token_endpoint", "idp_client_id", "idp_client_secret", "id_token"),
	AuthMTLS:              {},
}

// effectiveTransport is Transport with its default filled in.
func (c Config) effectiveTransport() string {
	switch {
	case c.Transport != "":
		return c.Transport
	case c.URL != "":
		return TransportStreamableHTTP
	case c.Command != "":
		return TransportStdio
	}
	return ""
}

// AuthProblems returns every problem of the auth and tls settings at once,
// each naming its field and what would be valid. New and Validate report
// the first; the config loader reports them all, located in the file.
func (c Config) AuthProblems() []FieldError {
	var ps []FieldError
	add := func(field, format string, args ...any) {
		ps = append(ps, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	a := c.Auth
	transport := c.effectiveTransport()
	typ := a.Type

	if transport == TransportStdio {
		if typ != "" && typ != AuthNone || slices.ContainsFunc(a.fields(), func(f authField) bool { return f.set }) {
			add("auth", "auth applies only to HTTP servers (with a url); pass a stdio server its secrets with secret_env: {VAR: ITEM}")
		}
		if !c.TLS.IsZero() {
			add("tls", "tls applies only to HTTP servers (with an https url)")
		}
		return ps
	}

	if typ == "" {
		if slices.ContainsFunc(a.fields(), func(f authField) bool { return f.set }) {
			add("auth", "auth.type is missing; valid: %s", strings.Join(AuthTypes, ", "))
			return ps
		}
		typ = AuthNone
	}
	allowed, known := authTypeFields[typ]
	if !known {
		add("auth.type", "unknown auth type %q; valid: %s", typ, strings.Join(AuthTypes, ", "))
		return append(ps, c.tlsProblems(typ)...)
	}
	for _, f := range a.fields() {
		if !f.set || slices.Contains(allowed, f.name) {
			continue
		}
		if msg, ok := misplaced[[2]string{typ, f.name}]; ok {
			add("auth."+f.name, "%s", msg)
			continue
		}
		add("auth."+f.name, "%s does not apply to auth type %s%s", f.name, typ, takesHint(typ, allowed))
	}

	needItem := func(name, value, what string) {
		if value == "" {
			add("auth."+name, "auth type %s needs %s: the name of the keyring item holding %s (store it with `mediator secret set %s NAME`)", typ, name, what, c.Name)
		}
	}
	switch typ {
	case AuthAPIKey, AuthBearer:
		needItem("secret", a.Secret, "the value")
		if typ == AuthAPIKey && a.Header != "" && !validHeaderName(a.Header) {
			add("auth.header", "%q is not a valid HTTP header name", a.Header)
		}
	case AuthClientCredentials:
		if a.ClientID == "" {
			add("auth.client_id", "auth type client-credentials needs client_id: the client registered for mediator at the authorization server")
		}
		if a.ClientSecret == "" && a.PrivateKey == "" {
			add("auth.client_secret", "auth type client-credentials needs client_secret or private_key: the name of the keyring item holding the client's secret or PEM private key (store it with `mediator secret set %s NAME`)", c.Name)
		}
	case AuthJWTBearer:
		switch {
		case a.Assertion == "" && a.AssertionFile == "":
			add("auth.assertion", "auth type jwt-bearer needs assertion (the keyring item holding the workload identity JWT) or assertion_file (a file holding it, such as a projected service account token)")
		case a.Assertion != "" && a.AssertionFile != "":
			add("auth.assertion_file", "give assertion or assertion_file, not both")
		}
	case AuthEnterprise:
		if a.ClientID == "" {
			add("auth.client_id", "auth type enterprise needs client_id: mediator's client at the MCP server's authorization server")
		}
		if a.IdPTokenEndpoint == "" {
			add("auth.idp_token_endpoint", "auth type enterprise needs idp_token_endpoint: the token endpoint of the enterprise identity provider")
		}
		if a.IdPClientID == "" {
			add("auth.idp_client_id", "auth type enterprise needs idp_client_id: mediator's client at the identity provider")
		}
		needItem("id_token", a.IDToken, "the user's SSO ID token")
	case AuthMTLS:
		if c.TLS.Cert == "" {
			add("auth.cert", "auth type mtls needs cert: the PEM file of the client certificate, with key_secret or key_file for its private key")
		}
	}

	if a.IsOAuth() {
		ps = append(ps, c.oauthProblems(typ)...)
	}
	return append(ps, c.tlsProblems(typ)...)
}

// misplaced has the messages for fields people often put on the wrong type.
var misplaced = map[[2]string]string{
	{AuthBearer, "header"}: "auth type bearer always uses the Authorization header; for another header use type api-key",
	{AuthNone, "secret"}:   "auth type none takes no secret; did you mean type api-key or bearer?",
	{AuthNone, "header"}:   "auth type none takes no header; did you mean type api-key?",
	{AuthOAuth, "secret"}:  "auth type oauth gets its tokens by a login (`mediator auth login`), not from a keyring item; for a pre-registered client's secret use client_secret",
}

func takesHint(typ string, allowed []string) string {
	if len(allowed) == 0 {
		return " (it takes no other field)"
	}
	return " (it takes: " + strings.Join(allowed, ", ") + ")"
}

func (c Config) oauthProblems(typ string) []FieldError {
	var ps []FieldError
	add := func(field, format string, args ...any) {
		ps = append(ps, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	a := c.Auth
	if transport := c.effectiveTransport(); transport == TransportSSE {
		add("transport", "auth type %s needs transport %s: the legacy sse transport has no way to run an authorization", typ, TransportStreamableHTTP)
	}
	// The same rule the OAuth handler applies when it starts, so that
	// `config validate` passes only what `call` accepts.
	if u, err := url.Parse(c.URL); err == nil && c.URL != "" && u.Scheme == "http" {
		switch {
		case !isLoopback(u.Hostname()):
			add("url", "auth type %s sends tokens, so %q must be an https URL (plain http only to a loopback address, with allow_insecure_localhost: true)", typ, u.Redacted())
		case !a.AllowInsecureLocalhost:
			add("auth.allow_insecure_localhost", "%q uses plain http: set allow_insecure_localhost: true (for a loopback server in development only), or use https", u.Redacted())
		}
	}
	if a.ClientSecret != "" && a.PrivateKey != "" {
		add("auth.private_key", "give client_secret or private_key, not both")
	}
	// client-credentials and enterprise require client_id anyway.
	if (a.ClientSecret != "" || a.PrivateKey != "") && a.ClientID == "" && typ == AuthJWTBearer {
		add("auth.client_id", "client_secret and private_key belong to a client: set client_id as well")
	}
	if typ == AuthOAuth && (a.ClientSecret != "" || a.PrivateKey != "") && a.ClientID == "" && a.ClientMetadataURL == "" {
		add("auth.client_id", "client_secret and private_key belong to a pre-registered client: set client_id as well")
	}
	if a.SigningAlg != "" {
		if a.PrivateKey == "" {
			add("auth.signing_alg", "signing_alg applies only with private_key")
		} else if a.SigningAlg != SigningES256 && a.SigningAlg != SigningRS256 {
			add("auth.signing_alg", "unknown algorithm %q; valid: %s, %s", a.SigningAlg, SigningES256, SigningRS256)
		}
	}
	methods := []string{AuthMethodBasic, AuthMethodPost, AuthMethodPrivateKeyJWT}
	if typ == AuthOAuth || typ == AuthJWTBearer {
		methods = append([]string{AuthMethodNone}, methods...)
	}
	switch m := a.AuthMethod; {
	case m == "":
	case !slices.Contains(methods, m):
		add("auth.auth_method", "unknown method %q; valid: %s", m, strings.Join(methods, ", "))
	case (m == AuthMethodBasic || m == AuthMethodPost) && a.ClientSecret == "":
		add("auth.auth_method", "auth_method %s sends the client secret: set client_secret (a keyring item name)", m)
	case m == AuthMethodPrivateKeyJWT && a.PrivateKey == "":
		add("auth.auth_method", "auth_method private_key_jwt signs with a key: set private_key (a keyring item name)")
	case m == AuthMethodNone && (a.ClientSecret != "" || a.PrivateKey != ""):
		add("auth.auth_method", "auth_method none sends no client credential, but client_secret or private_key is set")
	}
	if a.ClientMetadataURL != "" {
		u, err := url.Parse(a.ClientMetadataURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(u.Path) < 2 {
			add("auth.client_metadata_url", "%q must be an https URL with a path, where mediator's client ID metadata document is published", a.ClientMetadataURL)
		}
	}
	if a.RedirectURL != "" {
		if err := checkRedirectURL(a.RedirectURL); err != nil {
			add("auth.redirect_url", "%v", err)
		}
	}
	for i, s := range a.Scopes {
		if s == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' || r == '\\' }) >= 0 {
			add(fmt.Sprintf("auth.scopes[%d]", i), "%q is not a scope: scopes are non-empty and hold no spaces, quotes or backslashes", s)
		}
	}
	for _, f := range []struct{ name, v string }{{"issuer", a.Issuer}, {"idp_token_endpoint", a.IdPTokenEndpoint}} {
		if f.v != "" {
			if err := checkEndpointURL(f.v, a.AllowInsecureLocalhost); err != nil {
				add("auth."+f.name, "%v", err)
			}
		}
	}
	for _, f := range []struct{ name, v string }{{"client_secret", a.ClientSecret}, {"private_key", a.PrivateKey}, {"assertion", a.Assertion}, {"idp_client_secret", a.IdPClientSecret}, {"id_token", a.IDToken}} {
		if strings.HasPrefix(f.v, reservedItemPrefix) {
			add("auth."+f.name, "keyring item names starting with %q are mediator's own (OAuth tokens and registrations); choose another name", reservedItemPrefix)
		}
	}
	return ps
}

// reservedItemPrefix starts the names of the keyring items the OAuth token
// store writes; a configured credential must not collide with them.
const reservedItemPrefix = "oauth-"

// checkRedirectURL accepts what the browser login can listen on: plain http
// to a loopback address with an explicit port (RFC 8252 §7.3).
func checkRedirectURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) || u.Port() == "" || u.Port() == "0" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be http://127.0.0.1:PORT/PATH (a loopback address with a port, where the login listens for one redirect), e.g. %s", raw, DefaultRedirectURL)
	}
	return nil
}

// checkEndpointURL accepts https URLs, and http to loopback when insecure
// localhost is allowed.
func checkEndpointURL(raw string, insecureLocalhost bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		if insecureLocalhost {
			return nil
		}
		return fmt.Errorf("%q uses http; only https is allowed (http to localhost only with allow_insecure_localhost: true)", raw)
	}
	return fmt.Errorf("%q must be an https URL", raw)
}

func isLoopback(host string) bool {
	// *.localhost is loopback too (RFC 6761 §6.3), as the OAuth guard has it.
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c Config) tlsProblems(typ string) []FieldError {
	var ps []FieldError
	t := c.TLS
	if t.IsZero() {
		return nil
	}
	add := func(field, format string, args ...any) {
		ps = append(ps, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	// The fields belong to auth in the `auth: {type: mtls, cert: ...}` form.
	at := "tls."
	if typ == AuthMTLS {
		at = "auth."
	}
	if u, err := url.Parse(c.URL); err == nil && c.URL != "" && u.Scheme != "https" {
		add(strings.TrimSuffix(at, "."), "a client certificate and CA bundle need an https url; %q would send everything in plain text", u.Redacted())
	}
	switch {
	case t.Cert != "" && t.KeySecret == "" && t.KeyFile == "":
		add(at+"cert", "the client certificate needs its private key: key_secret (a keyring item of this server) or key_file (a PEM file)")
	case t.Cert == "" && (t.KeySecret != "" || t.KeyFile != ""):
		add(at+"cert", "a private key is set but no cert: give the PEM file of the client certificate")
	}
	if t.KeySecret != "" && t.KeyFile != "" {
		add(at+"key_file", "give key_secret or key_file, not both")
	}
	if strings.HasPrefix(t.KeySecret, reservedItemPrefix) {
		add(at+"key_secret", "keyring item names starting with %q are mediator's own; choose another name", reservedItemPrefix)
	}
	if v := t.MinVersion; v != "" && v != TLSVersion12 && v != TLSVersion13 {
		add(at+"min_version", "unknown TLS version %q; valid: %s, %s (nothing below 1.2 is allowed)", v, TLSVersion12, TLSVersion13)
	}
	return ps
}
