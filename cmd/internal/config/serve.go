package config

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/serve"
)

// What `mediator serve` offers (serve.tools).
const (
	ServeGateway   = "gateway"
	ServeWorkflows = "workflows"
	ServeBoth      = "both"
)

// DefaultServeListen is where `mediator serve --http` listens unless
// serve.http.listen or the flag says otherwise: loopback only.
const DefaultServeListen = "127.0.0.1:7421"

// ServeSecretServer is the keyring's server name under which
// serve.http.tls.key_secret names the HTTP face's private key.
const ServeSecretServer = "serve"

// Serve is the serve block: what `mediator serve` offers a host, and its
// HTTP face. The zero block (no serve: in the file) is the gateway over
// every server, prefixed, on DefaultServeListen with no token.
type Serve struct {
	// Tools is ServeGateway, ServeWorkflows or ServeBoth.
	Tools string
	// Servers are the servers the gateway offers; nil means all.
	Servers []string
	// WorkflowsDir holds the flow files offered as tools (absolute).
	WorkflowsDir string
	// Prefix names tools server__tool; false only with one server.
	Prefix bool
	HTTP   ServeHTTP
}

// ServeHTTP is serve.http. The tokens are known by their SHA-256 only.
type ServeHTTP struct {
	Listen string
	// AuthNone is `auth: none`: no token, on loopback only.
	AuthNone bool
	// TLS holds the certificate (Cert) and its key (KeySecret, an item
	// under ServeSecretServer, or KeyFile).
	TLS            connectors.TLSConfig
	Tokens         []serve.Token
	AllowedOrigins []string
}

// Gateway reports whether the gateway's tools are offered.
func (s *Serve) Gateway() bool { return s.Tools != ServeWorkflows }

// Workflows reports whether workflow files are offered as tools.
func (s *Serve) Workflows() bool { return s.Tools != ServeGateway }

// ServeOptions is the serve block as serve.New takes it, without the
// workflows (loaded from WorkflowsDir) and Authorize (which depends on
// the transport). It is the one place the block becomes the Server's
// options.
func (c *Config) ServeOptions() serve.Options {
	s := c.Serve
	return serve.Options{Gateway: s.Gateway(), Servers: s.Servers, NoPrefix: !s.Prefix}
}

// ServeHTTPOptions is serve.http as serve.HTTPHandler takes it, for a
// server reached at url (scheme://host:port).
func (c *Config) ServeHTTPOptions(url string) serve.HTTPOptions {
	h := c.Serve.HTTP
	return serve.HTTPOptions{URL: url, Tokens: h.Tokens, NoAuth: h.AuthNone, AllowedOrigins: h.AllowedOrigins}
}

type rawServe struct {
	Tools        string   `mapstructure:"tools"`
	Servers      []string `mapstructure:"servers"`
	WorkflowsDir string   `mapstructure:"workflows_dir"`
	Prefix       *bool    `mapstructure:"prefix"`
	HTTP         struct {
		Listen         string     `mapstructure:"listen"`
		Auth           string     `mapstructure:"auth"`
		TLS            RawTLS     `mapstructure:"tls"`
		Tokens         []rawToken `mapstructure:"tokens"`
		AllowedOrigins []string   `mapstructure:"allowed_origins"`
	} `mapstructure:"http"`
}

type rawToken struct {
	Name        string   `mapstructure:"name"`
	TokenSHA256 string   `mapstructure:"token_sha256"`
	Tools       []string `mapstructure:"tools"`
	Workflows   []string `mapstructure:"workflows"`
}

const serveTokenMsg = `a token is never written in the config: "mediator serve token create NAME" prints one and the token_sha256 line to write`

var serveSpec = &spec{kind: kObject, fields: map[string]*spec{
	"tools":         {kind: kString},
	"servers":       {kind: kStrings},
	"workflows_dir": {kind: kString},
	"prefix":        {kind: kBool},
	"http": {kind: kObject, fields: map[string]*spec{
		"listen": {kind: kString},
		"auth":   {kind: kString},
		"tls": {kind: kObject, fields: map[string]*spec{
			"cert":       {kind: kString},
			"key_secret": {kind: kString},
			"key_file":   {kind: kString},
		}, wrong: map[string]string{
			"key": `the private key is never written in the config: store it with "mediator secret set serve NAME" and write key_secret: NAME (or key_file: FILE)`,
		}},
		"tokens": {kind: kObjects, elem: &spec{kind: kObject, fields: map[string]*spec{
			"name":         {kind: kString},
			"token_sha256": {kind: kString},
			"tools":        {kind: kStrings},
			"workflows":    {kind: kStrings},
		}, wrong: map[string]string{"token": serveTokenMsg, "secret": serveTokenMsg, "value": serveTokenMsg}}},
		"allowed_origins": {kind: kStrings},
	}},
}}

var serveTools = []string{ServeGateway, ServeWorkflows, ServeBoth}

// buildServe checks the serve block and copies it into cfg (cfg.Servers
// is built), reporting each problem at its field.
func (w *walker) buildServe(raw rawServe, cfg *Config) {
	s := Serve{Tools: raw.Tools, Servers: raw.Servers, Prefix: raw.Prefix == nil || *raw.Prefix,
		HTTP: ServeHTTP{Listen: raw.HTTP.Listen, AllowedOrigins: raw.HTTP.AllowedOrigins, TLS: raw.HTTP.TLS.config()}}
	if s.Tools == "" {
		s.Tools = ServeGateway
	}
	if s.HTTP.Listen == "" {
		s.HTTP.Listen = DefaultServeListen
	}
	if !slices.Contains(serveTools, s.Tools) && !w.bad["serve.tools"] {
		w.at("serve.tools", "unknown value %q%s; valid: %s", s.Tools, suggest.Hint(s.Tools, serveTools), strings.Join(serveTools, ", "))
	}
	for i, name := range s.Servers {
		w.checkPolicyServer(cfg, fmt.Sprintf("serve.servers[%d]", i), name)
	}
	if raw.WorkflowsDir != "" {
		s.WorkflowsDir = w.absPath("serve.workflows_dir", raw.WorkflowsDir)
	} else if s.Workflows() && slices.Contains(serveTools, s.Tools) {
		w.keyAt("serve.tools", "serve.tools: %s offers workflow files as tools, but serve.workflows_dir is not set; name the directory holding them, e.g. workflows_dir: ~/flows", s.Tools)
	}
	if !s.Prefix {
		switch {
		case !s.Gateway():
			w.at("serve.prefix", "prefix: false names the gateway's tools as their server does, but serve.tools is workflows; remove it")
		case len(s.Servers) != 1:
			w.at("serve.prefix", "prefix: false needs exactly one server in serve.servers (got %d): with more, two servers' tools could share a name", len(s.Servers))
		}
	}
	if _, _, err := net.SplitHostPort(s.HTTP.Listen); err != nil && !w.bad["serve.http.listen"] {
		w.at("serve.http.listen", "%q is not HOST:PORT, e.g. %s", s.HTTP.Listen, DefaultServeListen)
	}
	switch raw.HTTP.Auth {
	case "":
	case "none":
		s.HTTP.AuthNone = true
		if len(raw.HTTP.Tokens) > 0 {
			w.at("serve.http.auth", "auth: none serves without a token, but serve.http.tokens lists some; keep one")
		}
	default:
		if !w.bad["serve.http.auth"] {
			w.at("serve.http.auth", "unknown value %q; the only value is none (no token, loopback only); leave it out to require the tokens of serve.http.tokens", raw.HTTP.Auth)
		}
	}
	w.buildServeTLS(&s.HTTP.TLS)
	names := map[string]int{}
	for i, rt := range raw.HTTP.Tokens {
		field := fmt.Sprintf("serve.http.tokens[%d]", i)
		t := serve.Token{Name: rt.Name, SHA256: strings.ToLower(rt.TokenSHA256), Tools: rt.Tools, Workflows: rt.Workflows}
		switch {
		case rt.Name == "":
			w.keyAt(field, "name is not set: say whose token it is, e.g. name: ci")
		case names[rt.Name] > 0:
			w.at(field+".name", "token name %q is used twice (tokens[%d] and tokens[%d]); give each token its own", rt.Name, names[rt.Name]-1, i)
		default:
			names[rt.Name] = i + 1
		}
		if rt.TokenSHA256 == "" {
			w.keyAt(field, "token_sha256 is not set; `mediator serve token create NAME` prints a token and its token_sha256")
		} else if err := serve.ValidateToken(serve.Token{Name: "x", SHA256: t.SHA256}); err != nil {
			w.at(field+".token_sha256", "%q is not a SHA-256 in hex (64 characters 0-9a-f); `mediator serve token create %s` prints one", rt.TokenSHA256, orName(rt.Name))
		}
		for _, l := range []struct {
			name  string
			globs []string
		}{{"tools", t.Tools}, {"workflows", t.Workflows}} {
			for j, g := range l.globs {
				if err := serve.ValidateToken(serve.Token{Name: "x", SHA256: serve.HashToken(""), Tools: []string{g}}); err != nil {
					w.at(fmt.Sprintf("%s.%s[%d]", field, l.name, j), "%q is not a valid glob: %v; write e.g. weather__*", g, err)
				}
			}
		}
		if len(t.Tools) == 0 && len(t.Workflows) == 0 {
			w.keyAt(field, "token %q may call nothing: give tools: [GLOB...] (e.g. [\"weather__*\"], or [\"*\"] for every tool) and/or workflows: [GLOB...]", orName(rt.Name))
		}
		s.HTTP.Tokens = append(s.HTTP.Tokens, t)
	}
	for i, o := range s.HTTP.AllowedOrigins {
		if !validOrigin(o) {
			w.at(fmt.Sprintf("serve.http.allowed_origins[%d]", i), "%q is not a web origin; write scheme://host[:port] with no path, e.g. https://app.example.com", o)
		}
	}
	cfg.Serve = s
}

// buildServeTLS checks serve.http.tls: a certificate and exactly one
// source of its key.
func (w *walker) buildServeTLS(t *connectors.TLSConfig) {
	if *t == (connectors.TLSConfig{}) {
		return
	}
	w.certAndKey("serve.http.tls", ServeSecretServer, &t.Cert, &t.KeyFile, t.KeySecret)
}

// certAndKey checks the TLS block at p of mediator's own listener: a
// certificate and exactly one source of its private key, a file or a
// keyring item of secretServer. Paths are made absolute in place.
func (w *walker) certAndKey(p, secretServer string, cert, keyFile *string, keySecret string) {
	if *cert == "" {
		w.keyAt(p, "cert is not set: name the certificate file (PEM), e.g. cert: /etc/mediator/%s.crt", secretServer)
	} else {
		*cert = w.absPath(p+".cert", *cert)
	}
	switch {
	case keySecret != "" && *keyFile != "":
		w.keyAt(p+".key_file", "key_secret and key_file both name the private key; keep one")
	case keySecret == "" && *keyFile == "":
		w.keyAt(p, "the private key is not named: write key_secret: NAME (stored with mediator secret set %s NAME) or key_file: FILE", secretServer)
	case *keyFile != "":
		*keyFile = w.absPath(p+".key_file", *keyFile)
	default:
		if err := credentials.ValidateName("key_secret", keySecret); err != nil {
			w.at(p+".key_secret", "%v", err)
		}
	}
}

func orName(n string) string {
	if n == "" {
		return "NAME"
	}
	return n
}

func validOrigin(o string) bool {
	scheme, rest, ok := strings.Cut(o, "://")
	return ok && (scheme == "http" || scheme == "https") && rest != "" && !strings.ContainsAny(rest, "/?#@ ")
}
