package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
)

func mapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, name, content string, env map[string]string) (*Config, string, error) {
	t.Helper()
	p := writeFile(t, name, content)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = "/home/u"
	}
	cfg, err := Load(LoadOptions{Path: p, Explicit: true, Env: mapEnv(env)})
	if err == nil && len(cfg.Problems()) > 0 {
		// Every problem, the file's and its servers', as config validate
		// reports them.
		return nil, p, cfg.Problems()
	}
	return cfg, p, err
}

// problems returns the problem lines with the file name replaced by FILE.
func problems(t *testing.T, err error, path string) []string {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %T: %v", err, err)
	}
	lines := strings.Split(strings.ReplaceAll(ps.Error(), path, "FILE"), "\n")
	return lines
}

func assertProblems(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got:\n  %s\n want:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const issueExample = `credentials:
  backend: auto        # auto | file | keychain
  file_dir: ~/.local/share/mediator/keyring
servers:
  weather:
    url: https://weather.example.com/mcp
    transport: streamable-http
    auth: {type: api-key, header: X-API-Key, secret: api-key}
  calendar:
    url: https://calendar.example.com/mcp
    auth: {type: bearer, secret: token}
  everything:
    command: npx
    args: [-y, "@modelcontextprotocol/server-everything"]
    env: {LOG_LEVEL: info}
    secret_env: {API_TOKEN: token}
    tools: {allow: ["echo", "get-*"], deny: []}
    timeout: 30s
`

func TestLoadIssueExample(t *testing.T) {
	cfg, _, err := load(t, "config.yaml", issueExample, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.ServerNames(), ","); got != "calendar,everything,weather" {
		t.Fatalf("servers = %s", got)
	}
	ev, _ := cfg.Server("everything")
	if ev.Env["LOG_LEVEL"] != "info" || ev.SecretEnv["API_TOKEN"] != "token" {
		t.Errorf("env keys lost their case: env=%v secret_env=%v", ev.Env, ev.SecretEnv)
	}
	if ev.Timeout != 30*time.Second || strings.Join(ev.Args, " ") != "-y @modelcontextprotocol/server-everything" {
		t.Errorf("everything = %+v", ev)
	}
	if strings.Join(ev.Tools.Allow, ",") != "echo,get-*" {
		t.Errorf("tools = %+v", ev.Tools)
	}
	w, _ := cfg.Server("weather")
	if a := w.Auth; a.Type != "api-key" || a.Header != "X-API-Key" || a.Secret != "api-key" || !reflect.DeepEqual(a, Auth{connectors.AuthConfig{Type: "api-key", Header: "X-API-Key", Secret: "api-key"}}) {
		t.Errorf("weather auth = %+v", w.Auth)
	}
	if cfg.Credentials.FileDir != "/home/u/.local/share/mediator/keyring" {
		t.Errorf("file_dir = %s", cfg.Credentials.FileDir)
	}
	if cfg.StateDir != "/home/u/.local/state/mediator" || cfg.Audit.Path != "/home/u/.local/state/mediator/audit.jsonl" || cfg.PinDir() != "/home/u/.local/state/mediator/pins" {
		t.Errorf("state paths: %s %s %s", cfg.StateDir, cfg.Audit.Path, cfg.PinDir())
	}
	opts := cfg.OrchestratorOptions("weather")
	if len(opts.Servers) != 1 || opts.Servers[0].Auth.Secret != "api-key" || opts.Servers[0].URL != "https://weather.example.com/mcp" {
		t.Errorf("orchestrator servers = %+v", opts.Servers)
	}
}

func TestServerNamesKeepTheirCase(t *testing.T) {
	cfg, _, err := load(t, "config.yaml", "servers:\n  GitHub:\n    url: https://api.example.com/mcp\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Server("GitHub"); !ok {
		t.Fatalf("servers = %v", cfg.ServerNames())
	}
}

func TestEveryProblemAtOnceWithPositions(t *testing.T) {
	const y = `credentials:
  backend: filee
servers:
  weather:
    url: https://weather.example.com/mcp
    transport: streamable-htp
    auth: {type: baerer, secret: token}
    timout: 30s
  calendar:
    url: ftp://calendar.example.com
    timeout: soon
  tools-bad:
    command: srv
    tools: {allow: ["[oops"]}
    args: "not a list"
  both:
    url: https://x.example.com
    command: srv
  neither:
    tools: {allow: []}
  bad.name:
    url: https://y.example.com
stat_dir: /tmp
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:2:12: credentials.backend: unknown backend "filee" (did you mean "file"?); valid: auto, file, keychain, secret-service, kwallet, pass, wincred, keyctl`,
		`FILE:6:16: servers.weather.transport: unknown transport "streamable-htp" (did you mean "streamable-http"?); valid: streamable-http, sse`,
		`FILE:7:18: servers.weather.auth.type: unknown auth type "baerer" (did you mean "bearer"?); valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls`,
		`FILE:8:5: servers.weather.timout: unknown field (did you mean "timeout"?); valid: args, auth, command, elicitation, env, headers, max_resource_bytes, max_result_bytes, max_tools, prompts, resources, roots, sampling, sandbox, secret_env, timeout, tls, tools, transport, url`,
		`FILE:10:10: servers.calendar.url: URL must start with http:// or https://, got "ftp://calendar.example.com"`,
		`FILE:11:14: servers.calendar.timeout: "soon" is not a duration; write e.g. 30s, 2m or 1m30s`,
		`FILE:14:21: servers.tools-bad.tools.allow[0]: "[oops" is not a valid glob; use * and ? (path.Match syntax), e.g. "get-*"`,
		`FILE:15:11: servers.tools-bad.args: expected a list, e.g. [a, b], got "not a list"`,
		`FILE:18:5: servers.both.command: url and command are both set; an HTTP server has a url, a stdio server a command, never both`,
		`FILE:19:3: servers.neither: needs either url (an HTTP server) or command (a stdio server)`,
		`FILE:21:3: servers.bad.name: server name "bad.name" is not valid: use letters, digits and '-', with single '_' only between them (no '.', no '__', no leading or trailing '_'), so that "bad.name.TOOL" and "bad.name__TOOL" name its tools unambiguously`,
		`FILE:23:1: stat_dir: unknown field (did you mean "state_dir"?); valid: approvals, audit, credentials, daemon, domains, engine, llm, policy, serve, servers, state_dir, temporal`,
	})
}

func TestSecretsAreNeverInline(t *testing.T) {
	const y = `servers:
  weather:
    url: https://weather.example.com/mcp
    auth: {type: api-key, value: abc123}
  calendar:
    url: https://calendar.example.com/mcp
    headers: {Authorization: Bearer xyz}
    auth:
      type: bearer
      token: xyz
  mail:
    url: https://bob:hunter22@mail.example.com/mcp?api_key=k3y-v4lue-9876
  local:
    command: srv
    args: [--api-key, supersecretvalue1, --token=abcdefgh12345678]
    env: {API_KEY: sk-live-0123456789abcdef, LOG_LEVEL: debug, GITHUB_TOKEN: "${GITHUB_TOKEN:-}", CREDENTIALS_FILE: /etc/creds.json}
  pasted:
    url: https://p.example.com/mcp
    auth: {type: bearer, secret: "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"}
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:27: servers.weather.auth.value: secrets are never written in the config: store the value with "mediator secret set weather NAME" and refer to it as auth.secret: NAME`,
		`FILE:7:15: servers.calendar.headers.Authorization: header Authorization carries a credential by its name; store the token (without "Bearer ") with "mediator secret set calendar token" and write auth: {type: bearer, secret: token}`,
		`FILE:10:7: servers.calendar.auth.token: secrets are never written in the config: store the value with "mediator secret set calendar NAME" and refer to it as auth.secret: NAME`,
		`FILE:12:10: servers.mail.url: URL carries credentials (user:password@); store the secret with "mediator secret set mail NAME" and refer to it from auth`,
		`FILE:12:10: servers.mail.url: URL query parameter "api_key" carries a credential; store the secret with "mediator secret set mail NAME" and refer to it from auth`,
		`FILE:15:23: servers.local.args[1]: looks like a secret on the command line; store it with "mediator secret set local NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
		`FILE:15:42: servers.local.args[2]: looks like a secret on the command line; store it with "mediator secret set local NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
		`FILE:16:20: servers.local.env.API_KEY: looks like a secret written inline; store it with "mediator secret set local api-key" and write secret_env: {API_KEY: api-key} instead`,
		`FILE:19:34: servers.pasted.auth.secret: this names a keyring item and must not be the secret itself; store the value with "mediator secret set pasted NAME" and write NAME here`,
	})
}

// Plain headers are settings for HTTP servers; a credential in one, a
// header mediator sets itself, or headers on a stdio server are errors.
func TestHeaders(t *testing.T) {
	const y = `servers:
  github:
    url: https://api.githubcopilot.com/mcp/
    headers: {X-MCP-Toolsets: "repos,issues", X-MCP-Readonly: "${READONLY:-true}"}
    auth: {type: bearer, secret: token}
  bad:
    url: https://bad.example.com/mcp
    auth: {type: api-key, secret: key}
    headers:
      X-API-Key: "${KEY:-}"
      X-Tenant: ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z
      Mcp-Session-Id: abc
      Bad Name: x
  local:
    command: srv
    headers: {X-Ok: "1"}
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:10:7: servers.bad.headers.X-API-Key: header X-API-Key carries a credential by its name; store the value with "mediator secret set bad x-api-key" and write auth: {type: api-key, header: X-API-Key, secret: x-api-key}`,
		`FILE:11:17: servers.bad.headers.X-Tenant: looks like a secret written inline; store the value with "mediator secret set bad x-tenant" and write auth: {type: api-key, header: X-Tenant, secret: x-tenant}`,
		`FILE:12:7: servers.bad.headers.Mcp-Session-Id: header Mcp-Session-Id belongs to the MCP transport, which sets it`,
		`FILE:13:7: servers.bad.headers.Bad Name: "Bad Name" is not an HTTP header name; use letters, digits and !#$%&'*+-.^_` + "`" + `|~`,
		`FILE:16:5: servers.local.headers: headers apply only to HTTP servers (with a url); a stdio server gets env`,
	})

	cfg, _, err := load(t, "config.yaml", `servers:
  github:
    url: https://api.githubcopilot.com/mcp/
    headers: {X-MCP-Toolsets: "repos,issues", X-MCP-Readonly: "${READONLY:-true}"}
    auth: {type: bearer, secret: token}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.ServerConfigs("github")[0].Headers
	if len(got) != 2 || got["X-MCP-Toolsets"] != "repos,issues" || got["X-MCP-Readonly"] != "true" {
		t.Errorf("headers loaded as %v", got)
	}
}

// A secret after its flag is one problem, not one for the flag and one
// for the value on its own.
func TestSecretArgumentIsReportedOnce(t *testing.T) {
	const y = `servers:
  local:
    command: srv
    args: ["--api-key", "sk-live-0123456789abcdef", "--verbose"]
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:25: servers.local.args[1]: looks like a secret on the command line; store it with "mediator secret set local NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
	})
}

func TestEnvExpansion(t *testing.T) {
	const y = `servers:
  weather:
    url: ${WEATHER_URL}
    timeout: ${TIMEOUT:-45s}
  local:
    command: ${HOME}/bin/srv
    args: ["--region=${REGION:-eu}", "--port=${PORT}"]
    env: {LOG_LEVEL: "${LEVEL}"}
state_dir: ${STATE:-~/state}
`
	env := map[string]string{"WEATHER_URL": "https://w.example.com/mcp", "PORT": "8080", "LEVEL": "", "HOME": "/home/u"}
	cfg, _, err := load(t, "config.yaml", y, env)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := cfg.Server("weather")
	l, _ := cfg.Server("local")
	if w.URL != "https://w.example.com/mcp" || w.Timeout != 45*time.Second {
		t.Errorf("weather = %+v", w)
	}
	if l.Command != "/home/u/bin/srv" || strings.Join(l.Args, " ") != "--region=eu --port=8080" || l.Env["LOG_LEVEL"] != "" {
		t.Errorf("local = %+v", l)
	}
	if cfg.StateDir != "/home/u/state" {
		t.Errorf("state_dir = %s", cfg.StateDir)
	}

	cfg, _, err = load(t, "config.yaml", "servers:\n  w:\n    url: https://${env:HOST}/mcp\n", map[string]string{"HOST": "h.example.com"})
	if err != nil || cfg.Servers[0].URL != "https://h.example.com/mcp" {
		t.Errorf("${env:VAR}: %v %v", cfg, err)
	}

	_, path, err := load(t, "config.yaml", y, map[string]string{"PORT": "1"})
	assertProblems(t, problems(t, err, path), []string{
		`FILE:3:10: servers.weather.url: environment variable WEATHER_URL is not set and ${WEATHER_URL} has no default (write ${WEATHER_URL:-value} to give one)`,
		`FILE:8:22: servers.local.env.LOG_LEVEL: environment variable LEVEL is not set and ${LEVEL} has no default (write ${LEVEL:-value} to give one)`,
	})

	_, path, err = load(t, "config.yaml", "servers:\n  w:\n    url: https://${HOST\n  v:\n    url: https://${1X}/\n", nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:3:10: servers.w.url: unclosed ${ in "https://${HOST"; write ${VAR} or ${VAR:-default}`,
		`FILE:5:10: servers.v.url: ${1X} is not a variable reference; write ${VAR} or ${VAR:-default} with VAR made of letters, digits and _`,
	})
}

func TestJSONConfig(t *testing.T) {
	const j = `{
	"credentials": {"backend": "file", "file_dir": "keys"},
	"servers": {
		"weather": {"url": "https://weather.example.com/mcp", "auth": {"type": "bearer", "secret": "token"}},
		"local": {"command": "srv", "env": {"LOG_LEVEL": "info"}}
	},
	"audit": {"include_values": true}
}`
	cfg, path, err := load(t, "config.json", j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != 2 || !cfg.Audit.IncludeValues || cfg.Credentials.Backend != "file" {
		t.Errorf("cfg = %+v", cfg)
	}
	if want := filepath.Join(filepath.Dir(path), "keys"); cfg.Credentials.FileDir != want {
		t.Errorf("relative file_dir = %s, want %s", cfg.Credentials.FileDir, want)
	}

	_, path, err = load(t, "config.json", "{\n  \"servers\": {\n    \"a\": {\"url\": \"x\",}\n  }\n}\n", nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:3:23: invalid JSON: invalid character '}' looking for beginning of object key string`,
	})
	_, path, err = load(t, "config.json", "{\"servers\": {\"a\": {\"url\": \"https://a.example.com\", \"urll\": 1}}}", nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:1:52: servers.a.urll: unknown field (did you mean "url"?); valid: args, auth, command, elicitation, env, headers, max_resource_bytes, max_result_bytes, max_tools, prompts, resources, roots, sampling, sandbox, secret_env, timeout, tls, tools, transport, url`,
	})
}

func TestYAMLShapeProblems(t *testing.T) {
	_, path, err := load(t, "config.yaml", "servers:\n  a:\n    url: [x\n", nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:3: invalid YAML: did not find expected ',' or ']'; close the [ opened on this line, or separate its items with commas`,
	})
	_, path, err = load(t, "config.yaml", "- a\n- b\n", nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:1:1: expected a mapping with credentials, servers, audit, state_dir, policy, llm, approvals, serve or daemon at the top, got a list`,
	})
	const y = `servers:
  Web:
    url: https://a.example.com
  web:
    url: https://b.example.com
  local:
    command: srv
    env: {A: 1, A: 2, "BAD-NAME": x}
    timeout: 30
audit:
  include_values: "yes"
servers2: {}
`
	_, path, err = load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:3: servers.web: "Web" and "web" differ only in case, which the config loader cannot tell apart`,
		`FILE:8:17: servers.local.env.A: defined twice (first at line 8)`,
		`FILE:8:23: servers.local.env.BAD-NAME: "BAD-NAME" is not an environment variable name; use letters, digits and _, not starting with a digit`,
		`FILE:9:14: servers.local.timeout: "30" is not a duration; write e.g. 30s, 2m or 1m30s`,
		`FILE:11:19: audit.include_values: expected true or false, got "yes"`,
		`FILE:12:1: servers2: unknown field (did you mean "servers"?); valid: approvals, audit, credentials, daemon, domains, engine, llm, policy, serve, servers, state_dir, temporal`,
	})
}

// Each syntax error names the line to fix: yaml's own line numbers point
// at the enclosing block or count from 0, depending on the error.
func TestYAMLSyntaxErrorLines(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unclosed [", "servers:\n  a:\n    url: [x\n", "FILE:3: invalid YAML: did not find expected ',' or ']'"},
		{"unclosed { with lines after it", "servers:\n  a:\n    url: https://a.example.com\n    env: {A: b\n    timeout: 5s\n", "FILE:4: invalid YAML: did not find expected ',' or '}'"},
		{"key indented less", "servers:\n  a:\n    url: https://a.example.com\n   command: y\n", "FILE:4: invalid YAML: did not find expected key; check this line's indentation against the lines above"},
		{"key indented more", "servers:\n  a:\n    url: https://a.example.com\n      command: y\n", "FILE:4: invalid YAML: mapping values are not allowed in this context"},
		{"list item then key", "servers:\n  - a\n  b: c\n", "FILE:3: invalid YAML: did not find expected '-' indicator; check this line's indentation against the lines above"},
		{"tab", "state_dir: /x\n\tservers: {}\n", "FILE:2: invalid YAML: found a tab character that violates indentation; indent with spaces"},
		{"unclosed quote", "state_dir: /x\naudit:\n  path: \"/var/log\n", "FILE:3: invalid YAML: found unexpected end of stream"},
		{"first line", "servers: @x\n", "FILE:1: invalid YAML: found character that cannot start any token"},
		{"multi-line flow list, then an error", "servers:\n  a:\n    args: [x,\n      y]\n    url: [z\n", "FILE:5: invalid YAML: did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := load(t, "config.yaml", tc.yaml, nil)
			got := problems(t, err, path)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("got %q, want one problem starting with %q", got, tc.want)
			}
		})
	}
}

func TestTransportAndAuthCombinations(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com
    transport: stdio
    env: {X: y}
  b:
    command: srv
    transport: sse
    auth: {type: bearer, secret: t}
  c:
    url: https://c.example.com
    auth: {type: bearer, header: X-Key, secret: t}
  d:
    url: https://d.example.com
    auth: {secret: t}
  e:
    url: https://e.example.com
    auth: {type: api-key, header: "Bad Header", secret: t}
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:16: servers.a.transport: transport stdio needs a command, not a url; valid with a url: streamable-http, sse`,
		`FILE:5:5: servers.a.env: env applies only to stdio servers (with a command); an HTTP server authenticates with auth`,
		`FILE:8:16: servers.b.transport: transport sse needs a url, not a command; valid with a command: stdio`,
		`FILE:9:5: servers.b.auth: auth applies only to HTTP servers (with a url); pass a stdio server its secrets with secret_env: {VAR: ITEM}`,
		`FILE:12:34: servers.c.auth.header: auth type bearer always uses the Authorization header; for another header use type api-key`,
		`FILE:15:5: servers.d.auth: auth.type is missing; valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls`,
		`FILE:18:35: servers.e.auth.header: "Bad Header" is not a valid HTTP header name`,
	})
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"XDG_CONFIG_HOME": dir, "HOME": "/home/u"})
	path, explicit, err := Locate("", env)
	if err != nil || explicit || path != filepath.Join(dir, "mediator", "config.yaml") {
		t.Fatalf("Locate = %s %v %v", path, explicit, err)
	}
	cfg, err := Load(LoadOptions{Path: path, Env: env})
	if err != nil || cfg.Found || len(cfg.Servers) != 0 {
		t.Fatalf("missing default config: %+v %v", cfg, err)
	}
	if cfg.Credentials.Backend != "auto" || cfg.Audit.Path != "/home/u/.local/state/mediator/audit.jsonl" {
		t.Errorf("defaults: %+v", cfg)
	}

	path, explicit, _ = Locate("", mapEnv(map[string]string{"MEDIATOR_CONFIG": "~/m.yaml", "HOME": "/home/u"}))
	if path != "/home/u/m.yaml" || !explicit {
		t.Errorf("MEDIATOR_CONFIG: %s %v", path, explicit)
	}
	path, explicit, _ = Locate("/etc/m.yaml", mapEnv(map[string]string{"MEDIATOR_CONFIG": "~/m.yaml"}))
	if path != "/etc/m.yaml" || !explicit {
		t.Errorf("--config: %s %v", path, explicit)
	}
	_, err = Load(LoadOptions{Path: filepath.Join(dir, "nope.yaml"), Explicit: true, Env: env})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml does not exist") {
		t.Errorf("explicit missing file: %v", err)
	}
}

func TestPolicyBlock(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/u", true
		}
		return "", false
	}
	servers := "servers:\n  weather: {url: https://w.example.com/mcp}\n  calendar: {url: https://c.example.com/mcp}\n"
	cfg, err := Parse("/etc/m/config.yaml", []byte(servers+"policy:\n  flows: [\"weather -> calendar\"]\n  trust_annotations: []\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	flows := cfg.PolicyFlows()
	if len(flows) != 1 || flows[0].From != "weather" || flows[0].To != "calendar" || flows[0].Pos.Line != 5 {
		t.Fatalf("flows %+v", flows)
	}
	if trusted, set := cfg.AnnotationTrust(); !set || len(trusted) != 0 {
		t.Fatalf("trust_annotations: [] read as %v, %v", trusted, set)
	}
	cfg, err = Parse("/etc/m/config.yaml", []byte(servers), env)
	if err != nil {
		t.Fatal(err)
	}
	if _, set := cfg.AnnotationTrust(); set || cfg.PolicyFlows() != nil {
		t.Fatal("no policy block should read as no policy")
	}
	_, err = Parse("/etc/m/config.yaml", []byte(servers+"policy:\n  flows: [\"wether -> calendar\", \"weather calendar\"]\n  trust_annotations: [calender]\n"), env)
	for _, want := range []string{
		`config.yaml:5:11: policy.flows[0]: unknown server "wether" (did you mean "weather"?)`,
		`config.yaml:5:33: policy.flows[1]: invalid flow "weather calendar": write "from -> to"`,
		`config.yaml:6:23: policy.trust_annotations[0]: unknown server "calender" (did you mean "calendar"?)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	// An entry that does not parse does not shift the index or position
	// of the next one's problem.
	_, err = Parse("/etc/m/config.yaml", []byte(servers+"policy:\n  flows:\n    - \"weather -> weather\"\n    - \"weather -> calender\"\n"), env)
	for _, want := range []string{
		`config.yaml:6:7: policy.flows[0]: flow "weather -> weather" is not needed`,
		`config.yaml:7:7: policy.flows[1]: unknown server "calender" (did you mean "calendar"?)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}
