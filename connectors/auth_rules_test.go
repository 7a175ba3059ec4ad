package connectors

import (
	"strings"
	"testing"
)

func TestAuthRulesAcceptEveryType(t *testing.T) {
	const u = "https://mcp.example.com/mcp"
	for name, c := range map[string]Config{
		"oauth, nothing pre-registered": {Auth: AuthConfig{Type: AuthOAuth}},
		"oauth, pre-registered":         {Auth: AuthConfig{Type: AuthOAuth, ClientID: "c", ClientSecret: "cs", AuthMethod: AuthMethodPost, Scopes: []string{"repo", "read:org"}, RedirectURL: "http://127.0.0.1:9999/cb", Issuer: "https://as.example.com", DPoP: true}},
		"oauth, metadata document":      {Auth: AuthConfig{Type: AuthOAuth, ClientMetadataURL: "https://mediator.example.com/client.json"}},
		"client-credentials secret":     {Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "cs"}},
		"client-credentials key":        {Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", PrivateKey: "k", SigningAlg: SigningRS256, AuthMethod: AuthMethodPrivateKeyJWT}},
		"jwt-bearer":                    {Auth: AuthConfig{Type: AuthJWTBearer, AssertionFile: "/var/run/secrets/token", Scopes: []string{"tools"}}},
		"enterprise":                    {Auth: AuthConfig{Type: AuthEnterprise, ClientID: "c", IdPTokenEndpoint: "https://idp.example.com/token", IdPClientID: "i", IDToken: "idt"}},
		"mtls":                          {Auth: AuthConfig{Type: AuthMTLS}, TLS: TLSConfig{Cert: "c.pem", KeySecret: "k"}},
		"bearer with mtls":              {Auth: AuthConfig{Type: AuthBearer, Secret: "t"}, TLS: TLSConfig{Cert: "c.pem", KeyFile: "k.pem", CA: "ca.pem", MinVersion: TLSVersion13}},
		"oauth with a private CA":       {Auth: AuthConfig{Type: AuthOAuth}, TLS: TLSConfig{CA: "ca.pem"}},
		"insecure localhost":            {URL: "http://localhost:3000/mcp", Auth: AuthConfig{Type: AuthEnterprise, ClientID: "c", IdPTokenEndpoint: "http://127.0.0.1:4000/token", IdPClientID: "i", IDToken: "idt", AllowInsecureLocalhost: true}},
	} {
		c.Name = "s"
		if c.URL == "" {
			c.URL = u
		}
		if ps := c.AuthProblems(); len(ps) > 0 {
			t.Errorf("%s: %v", name, ps)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuthRulesNameFieldAndChoices(t *testing.T) {
	const u = "https://mcp.example.com/mcp"
	for name, tc := range map[string]struct {
		cfg   Config
		field string
		want  string
	}{
		"secret on oauth":             {Config{Auth: AuthConfig{Type: AuthOAuth, Secret: "t"}}, "auth.secret", "by a login"},
		"header on oauth":             {Config{Auth: AuthConfig{Type: AuthOAuth, Header: "X"}}, "auth.header", "does not apply to auth type oauth"},
		"cc without client":           {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientSecret: "cs"}}, "auth.client_id", "needs client_id"},
		"cc without credential":       {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c"}}, "auth.client_secret", "client_secret or private_key"},
		"secret and key":              {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", PrivateKey: "b"}}, "auth.private_key", "not both"},
		"bad method":                  {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", AuthMethod: "client_secret_jwt"}}, "auth.auth_method", "valid: basic, post, private_key_jwt"},
		"none on cc":                  {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", AuthMethod: AuthMethodNone}}, "auth.auth_method", "valid: basic, post"},
		"jwt method without key":      {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", AuthMethod: AuthMethodPrivateKeyJWT}}, "auth.auth_method", "set private_key"},
		"bad alg":                     {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", PrivateKey: "k", SigningAlg: "HS256"}}, "auth.signing_alg", "valid: ES256, RS256"},
		"alg without key":             {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", SigningAlg: "ES256"}}, "auth.signing_alg", "only with private_key"},
		"http metadata url":           {Config{Auth: AuthConfig{Type: AuthOAuth, ClientMetadataURL: "http://x.example/c.json"}}, "auth.client_metadata_url", "https URL with a path"},
		"redirect not loopback":       {Config{Auth: AuthConfig{Type: AuthOAuth, RedirectURL: "https://app.example/cb"}}, "auth.redirect_url", "http://127.0.0.1:PORT/PATH"},
		"redirect without port":       {Config{Auth: AuthConfig{Type: AuthOAuth, RedirectURL: "http://127.0.0.1/cb"}}, "auth.redirect_url", "with a port"},
		"scope with space":            {Config{Auth: AuthConfig{Type: AuthOAuth, Scopes: []string{"ok", "a b"}}}, "auth.scopes[1]", "not a scope"},
		"http issuer":                 {Config{Auth: AuthConfig{Type: AuthOAuth, Issuer: "http://as.example"}}, "auth.issuer", "https"},
		"http localhost issuer":       {Config{Auth: AuthConfig{Type: AuthOAuth, Issuer: "http://localhost:9000"}}, "auth.issuer", "allow_insecure_localhost"},
		"jwt-bearer without any":      {Config{Auth: AuthConfig{Type: AuthJWTBearer}}, "auth.assertion", "assertion_file"},
		"jwt-bearer with both":        {Config{Auth: AuthConfig{Type: AuthJWTBearer, Assertion: "a", AssertionFile: "f"}}, "auth.assertion_file", "not both"},
		"enterprise without idp":      {Config{Auth: AuthConfig{Type: AuthEnterprise, ClientID: "c", IdPClientID: "i", IDToken: "t"}}, "auth.idp_token_endpoint", "needs idp_token_endpoint"},
		"enterprise without token":    {Config{Auth: AuthConfig{Type: AuthEnterprise, ClientID: "c", IdPClientID: "i", IdPTokenEndpoint: "https://idp.example/t"}}, "auth.id_token", "mediator secret set s"},
		"assertion on cc":             {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "a", Assertion: "x"}}, "auth.assertion", "(it takes: client_id"},
		"reserved item":               {Config{Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "oauth-token-1"}}, "auth.client_secret", "mediator's own"},
		"oauth on sse":                {Config{Transport: TransportSSE, Auth: AuthConfig{Type: AuthOAuth}}, "transport", "streamable-http"},
		"mtls without cert":           {Config{Auth: AuthConfig{Type: AuthMTLS}}, "auth.cert", "needs cert"},
		"cert without key":            {Config{Auth: AuthConfig{Type: AuthBearer, Secret: "t"}, TLS: TLSConfig{Cert: "c.pem"}}, "tls.cert", "key_secret"},
		"key without cert":            {Config{TLS: TLSConfig{KeyFile: "k.pem"}}, "tls.cert", "no cert"},
		"both keys":                   {Config{TLS: TLSConfig{Cert: "c", KeyFile: "k", KeySecret: "s"}}, "tls.key_file", "not both"},
		"tls 1.1":                     {Config{TLS: TLSConfig{MinVersion: "1.1"}}, "tls.min_version", "valid: 1.2, 1.3"},
		"mtls form names auth fields": {Config{Auth: AuthConfig{Type: AuthMTLS}, TLS: TLSConfig{Cert: "c"}}, "auth.cert", "needs its private key"},
		"tls over http":               {Config{URL: "http://mcp.example.com/mcp", TLS: TLSConfig{CA: "ca.pem"}}, "tls", "plain text"},
		"tls on stdio":                {Config{URL: "-", Command: "srv", TLS: TLSConfig{CA: "ca.pem"}}, "tls", "only to HTTP servers"},
		"oauth at http loopback":      {Config{URL: "http://127.0.0.1:8080/mcp", Auth: AuthConfig{Type: AuthOAuth}}, "auth.allow_insecure_localhost", "set allow_insecure_localhost: true"},
		"oauth at http public":        {Config{URL: "http://mcp.example.com/mcp", Auth: AuthConfig{Type: AuthOAuth, AllowInsecureLocalhost: true}}, "url", "must be an https URL"},
		"machine grant at http":       {Config{URL: "http://localhost/mcp", Auth: AuthConfig{Type: AuthClientCredentials, ClientID: "c", ClientSecret: "s"}}, "auth.allow_insecure_localhost", "plain http"},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.cfg
			c.Name = "s"
			switch c.URL {
			case "":
				c.URL = u
			case "-":
				c.URL = ""
			}
			ps := c.AuthProblems()
			found := false
			for _, p := range ps {
				if p.Field == tc.field && strings.Contains(p.Msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %v lack %s: …%s…", ps, tc.field, tc.want)
			}
			if c.Validate() == nil {
				t.Error("Validate accepted it")
			}
		})
	}
}

// The config loader shows every problem at once.
func TestAuthRulesReportEverything(t *testing.T) {
	c := Config{Name: "s", URL: "https://mcp.example.com/mcp",
		Auth: AuthConfig{Type: AuthClientCredentials, Header: "X", SigningAlg: "none", Scopes: []string{""}},
		TLS:  TLSConfig{Cert: "c", MinVersion: "1.0"}}
	got := map[string]bool{}
	for _, p := range c.AuthProblems() {
		got[p.Field] = true
	}
	for _, f := range []string{"auth.header", "auth.client_id", "auth.client_secret", "auth.signing_alg", "auth.scopes[0]", "tls.cert", "tls.min_version"} {
		if !got[f] {
			t.Errorf("no problem for %s among %v", f, c.AuthProblems())
		}
	}
}
