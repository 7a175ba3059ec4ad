package config

import (
	"strings"
	"testing"
)

// The table is the rule: what counts as a credential written inline, and
// the near misses that must not (each one would be a keyring item nobody
// needs, or a config refused for nothing).
func TestLooksLikeSecret(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		// A name that holds a credential: any literal value, however short.
		{"PASSWORD", "p4ss", true},
		{"DB_PASSWORD", "hunter2", true},
		{"CLIENT_SECRET", "abc", true},
		{"PGPASSWORD", "1234", true},
		{"API_KEY", "abc123def456", true},
		{"X-API-Key", "abcdefgh", true},
		{"apiKey", "k", true},
		{"SESSION_COOKIE", "s=1", true},
		// A URL's password, whatever the name, wherever in the value.
		{"DATABASE_URL", "postgres://u:pw@host/db", true},
		{"REDIS_URL", "redis://:pw@host:6379", true},
		{"MONGO_URI", "mongodb+srv://app:p%40ss@cluster0.example.net/db?retryWrites=true", true},
		{"BROKER", "amqp://guest:guest@localhost:5672/", true},
		{"DSN", "--url=mysql://root:root@127.0.0.1/app", true},
		// Well-known token shapes, whatever the name.
		{"REGION", "sk-proj-0123456789abcdefghij", true},
		{"ANYTHING", "Zx9Qw3Er7Ty1Ui5Op2As6Df0Gh4Jk8L", true},

		// References are resolved from the environment, not written here.
		{"GITHUB_TOKEN", "${GITHUB_TOKEN}", false},
		{"DATABASE_URL", "postgres://u:${DB_PASSWORD}@host/db", false},
		// URLs without a password.
		{"DATABASE_URL", "postgres://u@host/db", false},
		{"REDIS_URL", "redis://cache:6379/0", false},
		{"TOKEN_URL", "https://auth.example.com/oauth/token", false},
		{"HOMEPAGE", "https://mastodon.social/@ada", false},
		{"UPSTREAM", "http://host:8080/@ada", false},
		// Names about a credential, not holding one.
		{"PASSWORD_FILE", "/run/secrets/db", false},
		{"PASSWORD_FILE", "secrets/db.txt", false},
		{"SECRET_NAME", "prod/db/password", false},
		{"TOKEN_TYPE", "bearer", false},
		{"API_KEY_HEADER", "X-Api-Key", false},
		{"AWS_ACCESS_KEY_ID_ENV", "AWS_KEY", false},
		{"TOKEN_LIMIT", "4096", false},
		{"MAX_TOKENS", "4096", false},
		{"PASSWORD_MIN_LENGTH", "12", false},
		{"PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", false},
		{"NEXT_PUBLIC_API_KEY", "pk_test_123", false},
		{"NEXT_PUBLIC_API_KEY", "sk-proj-0123456789abcdefghij", true},
		// Values a credential name often holds that are not one.
		{"GOOGLE_APPLICATION_CREDENTIALS", "/etc/key.json", false},
		{"USE_PASSWORD", "true", false},
		{"SSH_KEY", "~/.ssh/id_ed25519", false},
		{"PASSWORD", "", false},
		// Neither.
		{"LOG_LEVEL", "debug", false},
		{"KEYBOARD", "us-international", false},
		{"COMMIT", "0123456789abcdef0123456789abcdef01234567", false},
		{"REQUEST_ID", "123e4567-e89b-12d3-a456-426614174000", false},
	} {
		if got := LooksLikeSecret(tc.name, tc.value); got != tc.want {
			t.Errorf("LooksLikeSecret(%q, %q) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestSecretArg(t *testing.T) {
	for _, tc := range []struct {
		arg, next      string
		secret, inNext bool
	}{
		{"--password=p4ss", "", true, false},
		{"--password", "p4ss", true, true},
		{"--api-key", "--verbose", false, false},
		{"--token-file", "token.txt", false, false},
		{"--db", "postgres://u:pw@host/db", false, false},
		{"postgres://u:pw@host/db", "", true, false},
		{"postgresql://localhost/db", "", false, false},
		{"DB_PASSWORD=hunter2", "", true, false},
		{"LOG_LEVEL=debug", "", false, false},
		{"-y", "@modelcontextprotocol/server-postgres", false, false},
		{"--port", "8080", false, false},
	} {
		secret, inNext := SecretArg(tc.arg, tc.next)
		if secret != tc.secret || inNext != tc.inNext {
			t.Errorf("SecretArg(%q, %q) = %v, %v; want %v, %v", tc.arg, tc.next, secret, inNext, tc.secret, tc.inNext)
		}
	}
}

// Validation refuses short credentials and URLs with passwords in env,
// args and headers, each at its line, never quoting the value.
func TestShortSecretsAndURLPasswordsAreRefused(t *testing.T) {
	const y = `servers:
  db:
    command: srv
    args: [--password, p4ss, "redis://:pw@cache:6379", DB_PASSWORD=hunter2, --token-file, /run/t]
    env:
      PASSWORD: p4ss
      CLIENT_SECRET: abc
      DATABASE_URL: postgres://u:pw@host/db
      PASSWORD_FILE: /run/secrets/db
      TOKEN_URL: https://auth.example.com/token
      CACHE_URL: redis://cache:6379
  web:
    url: https://web.example.com/mcp
    headers: {X-Upstream: "https://u:pw@up.example.com", X-Token-Type: bearer}
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:24: servers.db.args[1]: looks like a secret on the command line; store it with "mediator secret set db NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
		`FILE:4:30: servers.db.args[2]: holds a URL with a password (user:password@) on the command line; store it with "mediator secret set db NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
		`FILE:4:56: servers.db.args[3]: looks like a secret on the command line; store it with "mediator secret set db NAME" and pass it with secret_env: {VAR: NAME} if the server reads it from the environment`,
		`FILE:6:17: servers.db.env.PASSWORD: looks like a secret written inline; store it with "mediator secret set db password" and write secret_env: {PASSWORD: password} instead`,
		`FILE:7:22: servers.db.env.CLIENT_SECRET: looks like a secret written inline; store it with "mediator secret set db client-secret" and write secret_env: {CLIENT_SECRET: client-secret} instead`,
		`FILE:8:21: servers.db.env.DATABASE_URL: holds a URL with a password (user:password@) written inline; store it with "mediator secret set db database-url" and write secret_env: {DATABASE_URL: database-url} instead`,
		`FILE:14:27: servers.web.headers.X-Upstream: holds a URL with a password (user:password@) written inline; store the value with "mediator secret set web x-upstream" and write auth: {type: api-key, header: X-Upstream, secret: x-upstream}`,
	})
	for _, secret := range []string{"p4ss", "hunter2", ":pw@", "abc"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("a problem quotes the secret %q:\n%v", secret, err)
		}
	}
}
