package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bearerToken = "canary-bearer-Hy6Fd3Sa9Lk2"

// A Claude Code style .mcp.json: a bearer header on an HTTP server, an API
// key in a stdio server's env, a non-secret env var, a ${VAR} credential
// header, a plain header and one the MCP transport sets itself.
const mcpJSON = `{
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.example.com/mcp",
      "headers": {"Authorization": "Bearer ` + bearerToken + `"}
    },
    "search": {
      "command": "npx",
      "args": ["-y", "search-mcp"],
      "env": {"SEARCH_API_KEY": "` + canaryKey + `", "LOG_LEVEL": "debug"}
    },
    "tenant": {
      "url": "https://t.example.com/sse",
      "type": "sse",
      "headers": {"X-API-Key": "${TENANT_KEY}", "X-Tenant": "acme", "Mcp-Protocol-Version": "2025-06-18"}
    }
  }
}`

func TestImportMovesSecretsToTheKeyring(t *testing.T) {
	e := newTestEnv(t)
	e.canary = append(e.canary, bearerToken, "tenant-canary-Vb7Nm3Qw1")
	e.vars["TENANT_KEY"] = "tenant-canary-Vb7Nm3Qw1"
	e.writeConfig("# my servers\nservers:\n  existing:\n    url: https://e.example.com/mcp # keep me\n")
	src := filepath.Join(e.dir, ".mcp.json")
	if err := os.WriteFile(src, []byte(mcpJSON), 0o600); err != nil {
		t.Fatal(err)
	}

	r := e.mustRun("", "servers", "import", src, "--dry-run")
	if !strings.Contains(r.stdout, "github:") || !strings.Contains(r.stderr, "would move") {
		t.Errorf("dry run:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	before, _ := os.ReadFile(e.cfgPath)
	if strings.Contains(string(before), "github") {
		t.Fatal("dry run changed the config")
	}

	r = e.mustRun("", "servers", "import", src)
	for _, want := range []string{
		`github: moved header "Authorization" to keyring item github/token (auth bearer)`,
		`search: moved env SEARCH_API_KEY to keyring item search/search-api-key (secret_env SEARCH_API_KEY)`,
		`tenant: moved header "X-API-Key" to keyring item tenant/api-key (auth api-key in header X-API-Key)`,
		`note: tenant: header "Mcp-Protocol-Version" dropped: header Mcp-Protocol-Version belongs to the MCP transport, which sets it`,
		"Imported 3 server(s) into " + e.cfgPath + ": github, search, tenant",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	got := string(cfg)
	for _, secret := range []string{bearerToken, canaryKey, "tenant-canary"} {
		if strings.Contains(got, secret) {
			t.Fatalf("the config holds a secret value:\n%s", got)
		}
	}
	for _, want := range []string{"# my servers", "# keep me", "existing:", "auth: {type: bearer, secret: token}", "SEARCH_API_KEY: search-api-key", "LOG_LEVEL: debug", "transport: sse", "auth: {type: api-key, header: X-API-Key, secret: api-key}", "X-Tenant: acme"} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if st, _ := os.Stat(e.cfgPath); st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v", st.Mode())
	}

	e.mustRun("", "config", "validate")
	r = e.mustRun("", "secret", "list")
	if !strings.Contains(r.stdout, "github  token") || !strings.Contains(r.stdout, "search  search-api-key") || !strings.Contains(r.stdout, "tenant  api-key") {
		t.Errorf("keyring after import:\n%s", r.stdout)
	}

	// Importing again clashes; --force replaces; --name-prefix imports beside.
	r = e.run("", "servers", "import", src)
	expectCode(t, r, 2, "second import")
	if !strings.Contains(r.stderr, `already configures "github"`) {
		t.Errorf("clash: %s", r.stderr)
	}
	e.mustRun("", "servers", "import", src, "--force")
	e.mustRun("", "servers", "import", src, "--name-prefix", "work-")
	r = e.mustRun("", "config", "validate")
	if !strings.HasPrefix(r.stdout, "OK: 7 servers") {
		t.Errorf("after prefix import: %s", r.stdout)
	}
}

func TestImportIntoNewConfigAndBadInput(t *testing.T) {
	e := newTestEnv(t)
	e.vars["MEDIATOR_CONFIG"] = filepath.Join(e.dir, "new", "mediator.json")
	e.vars["XDG_DATA_HOME"] = filepath.Join(e.dir, "data")
	src := filepath.Join(e.dir, "claude.json")
	os.WriteFile(src, []byte(`{"mcpServers": {"local tools": {"command": "srv", "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}}}}`), 0o600)
	r := e.run("", "servers", "import", src)
	expectCode(t, r, 2, "import of a credential whose variable is unset")
	if !strings.Contains(r.stderr, `renamed from "local tools" to "local-tools"`) {
		t.Errorf("rename note: %s", r.stderr)
	}
	b, err := os.ReadFile(e.vars["MEDIATOR_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	// GITHUB_TOKEN is unset, so there is no value to move: the config
	// names the keyring item it belongs in, and the user is told to fill
	// it; the server cannot be used until then, so import exits 2.
	if !strings.Contains(string(b), `"GITHUB_TOKEN": "github-token"`) || strings.Contains(string(b), "${GITHUB_TOKEN}") {
		t.Errorf("JSON config:\n%s", b)
	}
	if !strings.Contains(r.stderr, "error: imported, but not usable as written until this is done") ||
		!strings.Contains(r.stderr, "local-tools: env GITHUB_TOKEN refers to ${GITHUB_TOKEN}, which is not set now") ||
		!strings.Contains(r.stderr, "mediator secret set local-tools github-token") {
		t.Errorf("no warning about the unset variable:\n%s", r.stderr)
	}
	e.mustRun("", "config", "validate")

	os.WriteFile(src, []byte(`{"mcpServers": {"a": {"url": "https://a.example.com", "command": "x"}, "b": {"args": []}, "c": {"url": "https://c.example.com", "headers": {"Authorization": "Bearer ${MISSING}"}}}}`), 0o600)
	r = e.run("", "servers", "import", src)
	expectCode(t, r, 2, "bad entries")
	for _, want := range []string{"mcpServers.a: has both url and command", "mcpServers.b: has neither command nor url", "environment variable MISSING is not set"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	os.WriteFile(src, []byte(`{"mcpServers": {`), 0o600)
	r = e.run("", "servers", "import", src)
	expectCode(t, r, 2, "broken JSON")
	if !strings.Contains(r.stderr, "claude.json:1:") {
		t.Errorf("broken JSON: %s", r.stderr)
	}
	r = e.run("", "servers", "import", filepath.Join(e.dir, "nope.json"))
	expectCode(t, r, 2, "missing file")
}

// An env value that refers to the importing shell's environment: a
// credential is resolved once and moved to the keyring, so the config
// neither holds it nor breaks when the variable is unset later; anything
// else keeps its reference, and one unset now makes import exit 2.
func TestImportResolvesCredentialReferences(t *testing.T) {
	const token = "canary-env-ref-Tz4Wq8Lp2"
	e := newTestEnv(t)
	e.canary = append(e.canary, token)
	e.vars["MY_TOKEN"] = token
	e.writeConfig("")
	src := filepath.Join(e.dir, "claude.json")
	os.WriteFile(src, []byte(`{"mcpServers": {"tools": {"command": "srv", "env": {"TOKEN": "${MY_TOKEN}", "LOG_DIR": "${LOG_DIR}", "MODE": "${MODE:-fast}"}}}}`), 0o600)
	r := e.run("", "servers", "import", src)
	expectCode(t, r, 2, "import with LOG_DIR unset")
	for _, want := range []string{
		"tools: moved env TOKEN (resolved from ${MY_TOKEN}) to keyring item tools/token (secret_env TOKEN)",
		"Imported 1 server(s) into " + e.cfgPath + ": tools",
		"tools: " + e.cfgPath + ":8:16: servers.tools.env.LOG_DIR: environment variable LOG_DIR is not set",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "MODE") {
		t.Errorf("a reference with a default needs no warning:\n%s", r.stderr)
	}
	b, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TOKEN: token", "LOG_DIR: ${LOG_DIR}", "MODE: ${MODE:-fast}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "MY_TOKEN") || strings.Contains(string(b), token) {
		t.Errorf("the config keeps the credential or its reference:\n%s", b)
	}
	// MY_TOKEN no longer matters; LOG_DIR, unset, is the one problem.
	delete(e.vars, "MY_TOKEN")
	r = e.run("", "config", "validate")
	expectCode(t, r, 2, "validate with LOG_DIR unset")
	if !strings.Contains(r.stderr, "environment variable LOG_DIR is not set") || strings.Contains(r.stderr, "MY_TOKEN") {
		t.Errorf("validate:\n%s", r.stderr)
	}
	e.vars["LOG_DIR"] = "/tmp"
	e.mustRun("", "config", "validate")
	r = e.mustRun("", "secret", "list", "tools")
	if !strings.Contains(r.stdout, "tools   token") {
		t.Errorf("keyring after import:\n%s", r.stdout)
	}
}

// The import: a short password, URLs with passwords, near misses
// that are not secrets, and a server whose ${VAR} is unset now. The
// secrets go to the keyring (a URL as a whole, as secret_env), the config
// is written and loads, the server that cannot be used as written is
// named and import exits 2, and the other servers are not held up by it.
func TestImportMovesShortSecretsAndURLPasswords(t *testing.T) {
	const dbURLPassword = "Pq8Wn"
	e := newTestEnv(t)
	e.canary = append(e.canary, shortPassword, urlPassword, dbURLPassword)
	e.writeConfig("")
	src := filepath.Join(e.dir, "claude.json")
	os.WriteFile(src, []byte(`{"mcpServers": {
  "db": {"command": "srv", "env": {
    "PASSWORD": "`+shortPassword+`",
    "DATABASE_URL": "postgres://app:`+dbURLPassword+`@db.example.com/app",
    "REDIS_URL": "redis://:`+urlPassword+`@cache:6379",
    "PASSWORD_FILE": "/run/secrets/db",
    "TOKEN_URL": "https://auth.example.com/token",
    "CACHE_URL": "redis://cache:6379"}},
  "files": {"command": "srv", "env": {"ROOT": "${MY_UNSET_VAR}"}},
  "proxy": {"url": "https://proxy.example.com/mcp", "headers": {"X-Upstream": "https://u:`+dbURLPassword+`@up.example.com", "X-Region": "eu"}}
}}`), 0o600)
	r := e.run("", "servers", "import", src, "--dry-run")
	expectCode(t, r, 2, "dry run with MY_UNSET_VAR unset")
	if !strings.Contains(r.stderr, "once imported, these would not be usable as written") || !strings.Contains(r.stderr, "MY_UNSET_VAR") {
		t.Errorf("dry run:\n%s", r.stderr)
	}
	if b, _ := os.ReadFile(e.cfgPath); strings.Contains(string(b), "files") {
		t.Fatal("the dry run changed the config")
	}
	r = e.run("", "servers", "import", src)
	expectCode(t, r, 2, "import with MY_UNSET_VAR unset")
	for _, want := range []string{
		"db: moved env PASSWORD to keyring item db/password (secret_env PASSWORD)",
		"db: moved env DATABASE_URL to keyring item db/database-url (secret_env DATABASE_URL)",
		"db: moved env REDIS_URL to keyring item db/redis-url (secret_env REDIS_URL)",
		`proxy: moved header "X-Upstream" to keyring item proxy/upstream (auth api-key in header X-Upstream)`,
		"Imported 3 server(s) into " + e.cfgPath + ": db, files, proxy",
		"error: imported, but not usable as written until this is done",
		"files: " + e.cfgPath + ":18:13: servers.files.env.ROOT: environment variable MY_UNSET_VAR is not set",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "PASSWORD_FILE") || strings.Contains(r.stderr, "TOKEN_URL") || strings.Contains(r.stderr, "CACHE_URL") {
		t.Errorf("a setting that is no secret was moved:\n%s", r.stderr)
	}
	b, _ := os.ReadFile(e.cfgPath)
	for _, want := range []string{"PASSWORD: password", "DATABASE_URL: database-url", "REDIS_URL: redis-url", "PASSWORD_FILE: /run/secrets/db", "TOKEN_URL: https://auth.example.com/token", "CACHE_URL: redis://cache:6379", "ROOT: ${MY_UNSET_VAR}", "X-Region: eu", "auth: {type: api-key, header: X-Upstream, secret: upstream}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	r = e.mustRun("", "secret", "list", "db")
	for _, item := range []string{"database-url", "password", "redis-url"} {
		if !strings.Contains(r.stdout, item) {
			t.Errorf("keyring lacks db/%s:\n%s", item, r.stdout)
		}
	}
	// The config loads; only files is refused, and only where it is needed.
	r = e.run("", "config", "validate")
	expectCode(t, r, 2, "validate with MY_UNSET_VAR unset")
	if !strings.Contains(r.stderr, "1 problem in") || !strings.Contains(r.stderr, "MY_UNSET_VAR") {
		t.Errorf("validate:\n%s", r.stderr)
	}
	// (db's command does not exist: getting as far as starting it is the point.)
	r = e.run("", "call", "db", "anything")
	if !strings.Contains(r.stderr, `exec: "srv": executable file not found`) || strings.Contains(r.stderr, "MY_UNSET_VAR") {
		t.Errorf("files' problem held up db (exit %d):\n%s", r.code, r.stderr)
	}
	e.vars["MY_UNSET_VAR"] = "/srv"
	e.mustRun("", "config", "validate")

	// A secret on the command line cannot be moved: nothing is imported,
	// and the message names the argument, never the value.
	os.WriteFile(src, []byte(`{"mcpServers": {"pg": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://app:`+dbURLPassword+`@localhost/app"]}}}`), 0o600)
	r = e.run("", "servers", "import", src)
	expectCode(t, r, 2, "import of a password in args")
	if !strings.Contains(r.stderr, `pg (entry "pg" of `+src+`): servers.pg.args[2]: holds a URL with a password (user:password@) on the command line`) {
		t.Errorf("args:\n%s", r.stderr)
	}
	if b2, _ := os.ReadFile(e.cfgPath); string(b2) != string(b) {
		t.Errorf("a refused import changed the config")
	}
}

// --skip-existing leaves the servers the config has alone (their entries
// and keyring items) and imports the rest; without it a clash imports
// nothing; with --force as well it is a usage error.
func TestImportSkipExisting(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n  Search:\n    command: mine\n    secret_env: {SEARCH_API_KEY: search-api-key}\n")
	e.mustRun("mine-"+canaryKey, "secret", "set", "Search", "search-api-key")
	src := filepath.Join(e.dir, ".mcp.json")
	os.WriteFile(src, []byte(mcpJSON), 0o600)
	e.vars["TENANT_KEY"] = "tenant-canary-Vb7Nm3Qw1"
	e.canary = append(e.canary, bearerToken, "tenant-canary-Vb7Nm3Qw1")

	r := e.run("", "servers", "import", src)
	expectCode(t, r, 2, "clash without a flag")
	if !strings.Contains(r.stderr, `already configures "Search" (line 5); nothing was imported (use --skip-existing to leave those as they are and import the rest, --force to replace them`) {
		t.Errorf("clash:\n%s", r.stderr)
	}
	r = e.run("", "servers", "import", src, "--force", "--skip-existing")
	expectCode(t, r, 2, "--force with --skip-existing")

	r = e.mustRun("", "servers", "import", src, "--skip-existing")
	for _, want := range []string{
		`skipped: search: the config has it already ("Search", line 5); left as it was`,
		"Imported 2 server(s) into " + e.cfgPath + ": github, tenant",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "search: moved") || strings.Contains(r.stderr, "replaced the earlier value") {
		t.Errorf("a skipped server's secret was stored:\n%s", r.stderr)
	}
	b, _ := os.ReadFile(e.cfgPath)
	if !strings.Contains(string(b), "command: mine") || strings.Count(string(b), "earch:") != 1 {
		t.Errorf("the existing entry was touched:\n%s", b)
	}
	r = e.mustRun("", "servers", "import", src, "--skip-existing")
	if !strings.Contains(r.stderr, "has every server of "+src+" already; nothing to import") {
		t.Errorf("second --skip-existing:\n%s", r.stderr)
	}
}
