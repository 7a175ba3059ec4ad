package connectors

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c, err := New(Options{Config: Config{Name: "w", URL: "https://weather.example.com/mcp", Auth: AuthConfig{Type: AuthAPIKey, Secret: "api-key"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport() != TransportStreamableHTTP || c.cfg.Auth.Header != "X-API-Key" || c.cfg.Timeout != DefaultTimeout {
		t.Errorf("defaults: transport %q header %q timeout %s", c.Transport(), c.cfg.Auth.Header, c.cfg.Timeout)
	}
	if c.Status().State != StateIdle {
		t.Errorf("state %s", c.Status().State)
	}

	s, err := New(Options{Config: Config{Name: "e", Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-everything"}, Env: map[string]string{"TOKEN": "not shown"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Transport() != TransportStdio || s.cfg.Auth.Type != AuthNone {
		t.Errorf("stdio defaults: transport %q auth %q", s.Transport(), s.cfg.Auth.Type)
	}
	if got := s.Endpoint(); got != "npx -y @modelcontextprotocol/server-everything" {
		t.Errorf("Endpoint() = %q", got)
	}

	withPassword, _ := New(Options{Config: Config{Name: "p", URL: "https://user:hunter2-canary@h.example/mcp"}})
	if got := withPassword.Endpoint(); strings.Contains(got, "hunter2-canary") {
		t.Errorf("Endpoint() shows the URL's password: %q", got)
	}

	inproc, err := New(Options{Config: Config{Name: "i"}, NewTransport: nil})
	if err == nil {
		t.Errorf("a config with neither url nor command passed: %v", inproc)
	}
}

func TestCommandLineQuoting(t *testing.T) {
	got := commandLine("/usr/bin/node", []string{"server.js", "--name", "my server", ""})
	if want := `/usr/bin/node server.js --name "my server" ""`; got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}

// Every unusable combination is a config error naming the field and, where
// there is a choice, the valid values.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no name", Config{URL: "https://x.example"}, []string{"name:"}},
		{"neither", Config{Name: "s"}, []string{"url:", "neither url nor command"}},
		{"both", Config{Name: "s", URL: "https://x.example", Command: "srv"}, []string{"url:", "both url and command"}},
		{"unknown transport", Config{Name: "s", URL: "https://x.example", Transport: "websocket"}, []string{"transport:", `"websocket"`, "stdio, streamable-http, sse"}},
		{"url with stdio", Config{Name: "s", URL: "https://x.example", Transport: TransportStdio}, []string{"transport:", "needs a command"}},
		{"command with sse", Config{Name: "s", Command: "srv", Transport: TransportSSE}, []string{"transport:", "needs a url"}},
		{"bad scheme", Config{Name: "s", URL: "ftp://x.example"}, []string{"url:", "http://"}},
		{"no host", Config{Name: "s", URL: "https:///mcp"}, []string{"url:", "no host"}},
		{"env on http", Config{Name: "s", URL: "https://x.example", Env: map[string]string{"A": "b"}}, []string{"env:", "only to stdio"}},
		{"secret_env on http", Config{Name: "s", URL: "https://x.example", SecretEnv: map[string]string{"A": "b"}}, []string{"secret_env:", "only to stdio"}},
		{"auth on stdio", Config{Name: "s", Command: "srv", Auth: AuthConfig{Type: AuthBearer, Secret: "t"}}, []string{"auth:", "secret_env"}},
		{"unknown auth", Config{Name: "s", URL: "https://x.example", Auth: AuthConfig{Type: "basic"}}, []string{"auth.type:", `"basic"`, "none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls"}},
		{"api-key without secret", Config{Name: "s", URL: "https://x.example", Auth: AuthConfig{Type: AuthAPIKey}}, []string{"auth.secret:", "mediator secret set s"}},
		{"bearer with header", Config{Name: "s", URL: "https://x.example", Auth: AuthConfig{Type: AuthBearer, Secret: "t", Header: "X-Token"}}, []string{"auth.header:"}},
		{"bad header", Config{Name: "s", URL: "https://x.example", Auth: AuthConfig{Type: AuthAPIKey, Secret: "t", Header: "X Key"}}, []string{"auth.header:", `"X Key"`}},
		{"none with secret", Config{Name: "s", URL: "https://x.example", Auth: AuthConfig{Secret: "t"}}, []string{"auth:", "api-key"}},
		{"env twice", Config{Name: "s", Command: "srv", Env: map[string]string{"T": "x"}, SecretEnv: map[string]string{"T": "t"}}, []string{"env:", "both env and secret_env"}},
		{"bad env name", Config{Name: "s", Command: "srv", Env: map[string]string{"A=B": "x"}}, []string{"env:", `"A=B"`}},
		{"empty secret item", Config{Name: "s", Command: "srv", SecretEnv: map[string]string{"T": ""}}, []string{"secret_env.T:"}},
		{"negative timeout", Config{Name: "s", Command: "srv", Timeout: -time.Second}, []string{"timeout:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Config: tc.cfg})
			if err == nil {
				t.Fatal("accepted")
			}
			if k := kindOf(t, err); k != KindConfig {
				t.Errorf("kind %s", k)
			}
			if tc.cfg.Validate() == nil {
				t.Error("Validate accepted what New refused")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
