package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/bytesize"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

var (
	httpTransports = []string{connectors.TransportStreamableHTTP, connectors.TransportSSE}
	allTransports  = []string{connectors.TransportStreamableHTTP, connectors.TransportSSE, connectors.TransportStdio}
)

// at reports a problem at a field: its value's position, else its key's,
// else the nearest enclosing field's.
func (w *walker) at(field, format string, args ...any) {
	if w.bad[field] {
		return
	}
	w.problemAt(w.node(field), field, format, args...)
}

func (w *walker) node(field string) *yaml.Node {
	for f := field; f != ""; {
		if l, ok := w.locs[f]; ok {
			if l.val != nil && l.val.Line > 0 && l.val.Kind == yaml.ScalarNode {
				return l.val
			}
			if l.key != nil {
				return l.key
			}
			if l.val != nil {
				return l.val
			}
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return nil
}

// keyAt reports a problem at a field's key (used for "this field should
// not be here" rather than "this value is wrong").
func (w *walker) keyAt(field, format string, args ...any) {
	n := w.node(field)
	if l, ok := w.locs[field]; ok && l.key != nil {
		n = l.key
	}
	w.problemAt(n, field, format, args...)
}

// reported tells whether a problem under field is already known, so a
// consequence of it is not reported a second time.
func (w *walker) reported(field string) bool {
	for _, p := range w.problems {
		if p.Field == field || strings.HasPrefix(p.Field, field+".") {
			return true
		}
	}
	return false
}

func (w *walker) raw(field string) string { return w.locs[field].raw }

func (w *walker) duration(field, v string) time.Duration {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		w.at(field, "%q is not a duration; write e.g. 30s, 2m or 1m30s", v)
	case d <= 0:
		w.at(field, "must be positive, got %s", v)
	}
	return d
}

// maxTools is a server's max_tools, or the default when it is not set.
func (w *walker) maxTools(field string, v *int) int {
	if v == nil {
		return orchestrator.DefaultMaxTools
	}
	if *v < 1 {
		w.at(field, "must be at least 1, got %d; it caps how many tools mediator takes from the server (default %d)", *v, orchestrator.DefaultMaxTools)
	}
	return *v
}

// size reads a byte count; the message of a bad one shows the valid forms.
func (w *walker) size(field, v string) int64 {
	n, err := bytesize.Parse(v)
	switch {
	case err != nil:
		w.at(field, "%v", err)
	case n <= 0:
		w.at(field, "must be more than 0 bytes, got %s", v)
	}
	return n
}

func (w *walker) validate(cfg *Config) {
	if b := cfg.Credentials.Backend; !slices.Contains(credentials.ValidBackends(), b) {
		w.at("credentials.backend", "unknown backend %q%s; valid: %s", b, suggest.Hint(b, credentials.ValidBackends()), strings.Join(credentials.ValidBackends(), ", "))
	}
	for i := range cfg.Servers {
		w.validateServer(&cfg.Servers[i])
	}
	w.validatePolicy(cfg)
}

func (w *walker) validateServer(s *Server) {
	p := "servers." + s.Name
	w.server = s.Name
	if w.broken[s.Name] {
		return
	}
	if s.Name == LLMSecretServer {
		w.keyAt(p, "the server name %q is reserved: the keyring holds the chat model's key under it (mediator secret set %s NAME); give this server another name", LLMSecretServer, LLMSecretServer)
		return
	}
	if s.Name == ServeSecretServer {
		w.keyAt(p, "the server name %q is reserved: the keyring holds the private key of mediator serve's TLS certificate under it (serve.http.tls.key_secret); give this server another name", ServeSecretServer)
		return
	}
	if s.Name == TemporalSecretServer {
		w.keyAt(p, "the server name %q is reserved: the keyring holds the Temporal payload codec's key and client key under it (temporal.codec_key_secret, temporal.tls.key_secret); give this server another name", TemporalSecretServer)
		return
	}
	if s.Name == DaemonSecretServer {
		w.keyAt(p, "the server name %q is reserved: the keyring holds the private key of mediator daemon's TLS certificate under it (daemon.tls.key_secret); give this server another name", DaemonSecretServer)
		return
	}

	hasURL, hasCommand := s.URL != "" || w.bad[p+".url"], s.Command != "" || w.bad[p+".command"]
	switch {
	case !hasURL && !hasCommand:
		w.keyAt(p, "needs either url (an HTTP server) or command (a stdio server)")
	case hasURL && hasCommand:
		w.keyAt(p+".command", "url and command are both set; an HTTP server has a url, a stdio server a command, never both")
	case hasURL:
		w.validateHTTP(s, p)
	default:
		w.validateStdio(s, p)
	}

	for _, list := range []struct {
		name     string
		patterns []string
	}{{"tools.allow", s.Tools.Allow}, {"tools.deny", s.Tools.Deny}} {
		for i, pat := range list.patterns {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				w.at(fmt.Sprintf("%s.%s[%d]", p, list.name, i), "%q is not a valid glob; use * and ? (path.Match syntax), e.g. \"get-*\"", pat)
			}
		}
	}
	w.validateFilters(s, p)

	// Rules the connector enforces that the checks above do not cover (yet)
	// still surface here, located at the server, rather than at connect time.
	if !w.reported(p) {
		if err := serverConfig(s).Validate(); err != nil {
			var ce *connectors.Error
			if errors.As(err, &ce) {
				err = ce.Err
			}
			w.keyAt(p, "%v", err)
		}
	}
}

func (w *walker) validateHTTP(s *Server, p string) {
	if s.Transport != "" && !slices.Contains(httpTransports, s.Transport) {
		if s.Transport == connectors.TransportStdio {
			w.at(p+".transport", "transport stdio needs a command, not a url; valid with a url: %s", strings.Join(httpTransports, ", "))
		} else {
			w.at(p+".transport", "unknown transport %q%s; valid: %s", s.Transport, suggest.Hint(s.Transport, httpTransports), strings.Join(httpTransports, ", "))
		}
	}
	w.validateURL(s.URL, p+".url")
	for _, f := range []struct {
		name string
		set  bool
	}{{"args", len(s.Args) > 0}, {"env", len(s.Env) > 0}, {"secret_env", len(s.SecretEnv) > 0}} {
		if f.set {
			w.keyAt(p+"."+f.name, "%s applies only to stdio servers (with a command); an HTTP server authenticates with auth", f.name)
		}
	}
	w.validateAuth(s, p, false)
	w.validateHeaders(s, p)
}

// validateHeaders lets plain settings through and stops credentials: a
// header whose name or value says credential belongs in auth, with its
// value in the keyring.
func (w *walker) validateHeaders(s *Server, p string) {
	authHeader := ""
	if s.Auth.Type == connectors.AuthAPIKey {
		authHeader = s.Auth.Header
		if authHeader == "" {
			authHeader = connectors.DefaultAPIKeyHeader
		}
	}
	for name, value := range s.Headers {
		f := p + ".headers." + name
		use := fmt.Sprintf("store the value with \"mediator secret set %s %s\" and write auth: {type: api-key, header: %s, secret: %s}", s.Name, SecretItemName(name), name, SecretItemName(name))
		if strings.EqualFold(name, "Authorization") {
			use = fmt.Sprintf("store the token (without \"Bearer \") with \"mediator secret set %s token\" and write auth: {type: bearer, secret: token}", s.Name)
		}
		switch {
		case SecretLikeName(name):
			// Even as ${VAR}: a value from the environment is unknown to
			// the redactor, so it could show up in output.
			w.keyAt(f, "header %s carries a credential by its name; %s", name, use)
		case LooksLikeSecret(name, w.raw(f)):
			w.at(f, "%s written inline; %s", secretKind(w.raw(f)), use)
		default:
			if msg := connectors.HeaderProblem(name, value, authHeader); msg != "" {
				w.keyAt(f, "%s", msg)
			}
		}
	}
}

func (w *walker) validateURL(raw, field string) {
	if w.bad[field] {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		w.at(field, "not a valid URL: %v", err)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		w.at(field, "URL must start with http:// or https://, got %q", u.Redacted())
		return
	}
	if u.Host == "" {
		w.at(field, "URL %q has no host", u.Redacted())
	}
	if _, hasPassword := u.User.Password(); hasPassword || (u.User != nil && u.User.Username() != "" && !IsReference(w.raw(field))) {
		w.at(field, "URL carries credentials (user:password@); %s", storeHint(w.server, "auth"))
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			if LooksLikeSecret(k, v) {
				w.at(field, "URL query parameter %q carries a credential; %s", k, storeHint(w.server, "auth"))
			}
		}
	}
}

func (w *walker) validateStdio(s *Server, p string) {
	if s.Transport != "" && s.Transport != connectors.TransportStdio {
		if slices.Contains(httpTransports, s.Transport) {
			w.at(p+".transport", "transport %s needs a url, not a command; valid with a command: stdio", s.Transport)
		} else {
			w.at(p+".transport", "unknown transport %q%s; valid: %s", s.Transport, suggest.Hint(s.Transport, allTransports), strings.Join(allTransports, ", "))
		}
	}
	w.validateAuth(s, p, true)
	w.validateArgs(s, p)
	if len(s.Headers) > 0 {
		w.keyAt(p+".headers", "headers apply only to HTTP servers (with a url); a stdio server gets env")
	}
	for k := range s.Env {
		f := p + ".env." + k
		if _, dup := s.SecretEnv[k]; dup {
			w.keyAt(f, "%s is set in both env and secret_env; keep it in one", k)
		}
		if LooksLikeSecret(k, w.raw(f)) {
			w.at(f, "%s written inline; store it with \"mediator secret set %s %s\" and write secret_env: {%s: %s} instead", secretKind(w.raw(f)), s.Name, SecretItemName(k), k, SecretItemName(k))
		}
	}
	for k, item := range s.SecretEnv {
		w.validateItemName(p+".secret_env."+k, item)
	}
}

// validateArgs catches a credential passed on the command line, where
// every process on the machine can read it.
func (w *walker) validateArgs(s *Server, p string) {
	for i := 0; i < len(s.Args); i++ {
		f := fmt.Sprintf("%s.args[%d]", p, i)
		next := ""
		if i+1 < len(s.Args) {
			next = w.raw(fmt.Sprintf("%s.args[%d]", p, i+1))
		}
		secret, inNext := SecretArg(w.raw(f), next)
		if !secret {
			continue
		}
		if inNext {
			// The value after the flag is the secret; it is reported
			// here, once, and not judged again on its own.
			i++
			f = fmt.Sprintf("%s.args[%d]", p, i)
		}
		w.at(f, "%s on the command line; store it with \"mediator secret set %s NAME\" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment", secretKind(w.raw(f)), s.Name)
	}
}

// validateAuth reports every problem of the auth and tls settings, by the
// connector's own rules, at the place in the file it concerns; and catches
// a secret pasted where a keyring item name belongs.
func (w *walker) validateAuth(s *Server, p string, stdio bool) {
	sc := serverConfig(s)
	if stdio {
		// Judged as what it is, whatever its transport says.
		sc.Transport = connectors.TransportStdio
	}
	// A field that is missing because the user wrote it wrong (a secret
	// inline, an unknown key) was reported as such already.
	known := w.reported(p + ".auth")
	for _, pr := range sc.AuthProblems() {
		field := w.authField(p, pr.Field)
		if _, present := w.locs[field]; known && !present && strings.HasPrefix(field, p+".auth.") {
			continue
		}
		msg := pr.Msg
		if pr.Field == "auth.type" && !slices.Contains(connectors.AuthTypes, s.Auth.Type) {
			msg = fmt.Sprintf("unknown auth type %q%s; valid: %s", s.Auth.Type, suggest.Hint(s.Auth.Type, connectors.AuthTypes), strings.Join(connectors.AuthTypes, ", "))
		}
		w.at(field, "%s", msg)
	}
	a := s.Auth
	for _, f := range []struct{ field, item string }{
		{"auth.secret", a.Secret}, {"auth.client_secret", a.ClientSecret}, {"auth.private_key", a.PrivateKey},
		{"auth.assertion", a.Assertion}, {"auth.idp_client_secret", a.IdPClientSecret}, {"auth.id_token", a.IDToken},
		{"tls.key_secret", s.TLS.KeySecret},
	} {
		if f.item != "" {
			w.validateItemName(w.authField(p, f.field), f.item)
		}
	}
}

// authField turns a connector's field path into the config's. The
// certificate fields may sit in tls or in auth (type mtls); the problem is
// placed where the user wrote them.
func (w *walker) authField(p, field string) string {
	full := p + "." + field
	if _, ok := w.locs[full]; ok {
		return full
	}
	for _, pair := range [][2]string{{"auth.", "tls."}, {"tls.", "auth."}} {
		if rest, ok := strings.CutPrefix(field, pair[0]); ok && tlsFields[rest] != nil {
			if _, ok := w.locs[p+"."+pair[1]+rest]; ok {
				return p + "." + pair[1] + rest
			}
		}
	}
	return full
}

// validateItemName checks a keyring item name, and that it is a name
// rather than the secret itself pasted in the wrong place.
func (w *walker) validateItemName(field, item string) {
	if err := credentials.ValidateName("keyring item name", item); err != nil {
		w.at(field, "%v", err)
		return
	}
	if SecretLikeValue(w.raw(field)) {
		w.at(field, "this names a keyring item and must not be the secret itself; store the value with \"mediator secret set %s NAME\" and write NAME here", w.server)
	}
}

// secretKind says what kind of secret a value is, never the value.
func secretKind(v string) string {
	if URLPassword(v) {
		return "holds a URL with a password (user:password@)"
	}
	return "looks like a secret"
}

func storeHint(server, where string) string {
	if server == "" {
		server = "SERVER"
	}
	return fmt.Sprintf("store the secret with \"mediator secret set %s NAME\" and refer to it from %s", server, where)
}

// SecretItemName turns a variable or header name into the keyring item name
// import uses for it: API_KEY → api-key.
func SecretItemName(name string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, name), "-")
}
