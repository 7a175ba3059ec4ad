package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/serve"
)

const serveServers = `servers:
  weather: {url: "https://weather.example/mcp"}
  calendar: {url: "https://calendar.example/mcp"}
`

// The serve block loads with its defaults, and maps onto serve.Options
// and serve.HTTPOptions in one place.
func TestServeLoads(t *testing.T) {
	cfg, err := Parse("/etc/m/config.yaml", []byte(serveServers), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Serve
	if s.Tools != ServeGateway || !s.Prefix || s.HTTP.Listen != DefaultServeListen || s.HTTP.AuthNone || len(s.HTTP.Tokens) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	if o := cfg.ServeOptions(); !o.Gateway || o.NoPrefix || o.Servers != nil {
		t.Errorf("default ServeOptions = %+v", o)
	}

	hash := serve.HashToken("mdt_x")
	src := serveServers + `serve:
  tools: both
  servers: [weather]
  workflows_dir: flows
  prefix: false
  http:
    listen: 0.0.0.0:8443
    tls: {cert: serve.crt, key_file: serve.key}
    tokens:
      - name: ci
        token_sha256: ` + strings.ToUpper(hash) + `
        tools: ["weather__*"]
        workflows: ["rain-*"]
    allowed_origins: [https://app.example]
`
	cfg, err = Parse("/etc/m/config.yaml", []byte(src), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s = cfg.Serve
	if !s.Gateway() || !s.Workflows() || s.WorkflowsDir != "/etc/m/flows" || s.HTTP.TLS.Cert != "/etc/m/serve.crt" || s.HTTP.TLS.KeyFile != "/etc/m/serve.key" {
		t.Errorf("serve = %+v", s)
	}
	o := cfg.ServeOptions()
	if !o.Gateway || !o.NoPrefix || len(o.Servers) != 1 || o.Servers[0] != "weather" {
		t.Errorf("ServeOptions = %+v", o)
	}
	h := cfg.ServeHTTPOptions("https://m.example:8443")
	if h.URL != "https://m.example:8443" || h.NoAuth || len(h.Tokens) != 1 || h.AllowedOrigins[0] != "https://app.example" {
		t.Fatalf("ServeHTTPOptions = %+v", h)
	}
	if tk := h.Tokens[0]; tk.Name != "ci" || tk.SHA256 != hash || tk.Tools[0] != "weather__*" || tk.Workflows[0] != "rain-*" {
		t.Errorf("token = %+v", tk)
	}

	cfg, err = Parse("c.yaml", []byte("serve: {http: {auth: none}}\n"), homeEnv)
	if err != nil || !cfg.ServeHTTPOptions("http://127.0.0.1:7421").NoAuth {
		t.Fatalf("auth: none: %+v, %v", cfg, err)
	}
}

// Every mistake in the block is reported at its FILE:LINE:COL with the
// field and what would be valid.
func TestServeProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"tools", "serve:\n  tools: gatway\n", `c.yaml:2:10: serve.tools: unknown value "gatway" (did you mean "gateway"?); valid: gateway, workflows, both`},
		{"unknown server", "serve:\n  servers: [weather, mail]\n", `c.yaml:2:22: serve.servers[1]: unknown server "mail"`},
		{"workflows without dir", "serve:\n  tools: workflows\n", `c.yaml:2:3: serve.tools: serve.tools: workflows offers workflow files as tools, but serve.workflows_dir is not set`},
		{"prefix with two", "serve:\n  prefix: false\n", `c.yaml:2:11: serve.prefix: prefix: false needs exactly one server in serve.servers (got 0)`},
		{"listen", "serve:\n  http: {listen: 7421}\n", `c.yaml:2:18: serve.http.listen: "7421" is not HOST:PORT`},
		{"auth", "serve:\n  http: {auth: oauth}\n", `c.yaml:2:16: serve.http.auth: unknown value "oauth"; the only value is none`},
		{"auth none with tokens", "serve:\n  http:\n    auth: none\n    tokens: [{name: ci, token_sha256: " + serve.HashToken("x") + ", tools: ['*']}]\n", `c.yaml:3:11: serve.http.auth: auth: none serves without a token, but serve.http.tokens lists some`},
		{"token inline", "serve:\n  http:\n    tokens:\n      - {name: ci, token: mdt_abc}\n", `c.yaml:4:20: serve.http.tokens[0].token: a token is never written in the config`},
		{"bad hash", "serve:\n  http:\n    tokens:\n      - {name: ci, token_sha256: abc, tools: ['*']}\n", `c.yaml:4:34: serve.http.tokens[0].token_sha256: "abc" is not a SHA-256 in hex`},
		{"no scope", "serve:\n  http:\n    tokens:\n      - {name: ci, token_sha256: " + serve.HashToken("x") + "}\n", `serve.http.tokens[0]: token "ci" may call nothing`},
		{"bad glob", "serve:\n  http:\n    tokens:\n      - {name: ci, token_sha256: " + serve.HashToken("x") + ", tools: ['[w']}\n", `serve.http.tokens[0].tools[0]: "[w" is not a valid glob`},
		{"duplicate name", "serve:\n  http:\n    tokens:\n      - {name: ci, token_sha256: " + serve.HashToken("x") + ", tools: ['*']}\n      - {name: ci, token_sha256: " + serve.HashToken("y") + ", tools: ['*']}\n", `serve.http.tokens[1].name: token name "ci" is used twice`},
		{"tokens not a list", "serve:\n  http: {tokens: ci}\n", `c.yaml:2:18: serve.http.tokens: expected a list of mappings, got "ci"`},
		{"tls without key", "serve:\n  http: {tls: {cert: a.crt}}\n", `serve.http.tls: the private key is not named`},
		{"tls key inline", "serve:\n  http: {tls: {cert: a.crt, key: abc}}\n", `serve.http.tls.key: the private key is never written in the config`},
		{"origin", "serve:\n  http: {allowed_origins: [app.example]}\n", `c.yaml:2:28: serve.http.allowed_origins[0]: "app.example" is not a web origin`},
		{"unknown field", "serve:\n  tool: gateway\n", `c.yaml:2:3: serve.tool: unknown field (did you mean "tools"?)`},
	} {
		_, err := Parse("c.yaml", []byte(serveServers+tc.src), homeEnv)
		// Line numbers above count from the serve block.
		want := shiftLines(tc.want, strings.Count(serveServers, "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.name, err, want)
		}
	}
}

// The keyring item serve.http.tls.key_secret names is under the server
// name serve, which no server may take.
func TestServeNameReserved(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(serveServers+"  serve: {url: \"https://x.example/mcp\"}\n"), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Server("serve")
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), `the server name "serve" is reserved`) {
		t.Errorf("a server named serve: %v", err)
	}
}

// shiftLines adds n to the line of a "c.yaml:L:C" prefix.
func shiftLines(s string, n int) string {
	rest, ok := strings.CutPrefix(s, "c.yaml:")
	if !ok {
		return s
	}
	line, tail, _ := strings.Cut(rest, ":")
	l, _ := strconv.Atoi(line)
	return "c.yaml:" + strconv.Itoa(l+n) + ":" + tail
}
