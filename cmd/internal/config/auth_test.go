package config

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
)

// Every auth type goes from the file to the connector's config unchanged,
// with file paths made absolute relative to the config file.
func TestAuthTypesRoundTrip(t *testing.T) {
	const y = `servers:
  github:
    url: https://api.example.com/mcp
    auth:
      type: oauth
      client_id: Iv1.abc
      client_secret: gh-client-secret
      redirect_url: http://127.0.0.1:9876/callback
      scopes: [repo, "read:org"]
      issuer: https://github.example.com
      dpop: true
  cimd:
    url: https://cimd.example.com/mcp
    auth: {type: oauth, client_metadata_url: "https://mediator.example.com/client.json"}
  svc:
    url: https://svc.example.com/mcp
    auth: {type: client-credentials, client_id: svc, private_key: svc-key, signing_alg: ES256, auth_method: private_key_jwt, scopes: [tools]}
  svc2:
    url: https://svc2.example.com/mcp
    auth: {type: client-credentials, client_id: svc2, client_secret: svc2-secret, auth_method: post}
  workload:
    url: https://wl.example.com/mcp
    auth: {type: jwt-bearer, assertion_file: tokens/mcp, client_id: wl}
  corp:
    url: https://corp.example.com/mcp
    auth:
      type: enterprise
      client_id: corp-mcp
      client_secret: corp-secret
      idp_token_endpoint: https://idp.example.com/oauth2/token
      idp_client_id: mediator
      idp_client_secret: idp-secret
      id_token: sso-id-token
  bank:
    url: https://bank.example.com/mcp
    auth: {type: bearer, secret: token}
    tls: {cert: certs/client.pem, key_secret: client-key, ca: /etc/bank/ca.pem, min_version: 1.3}
  certonly:
    url: https://certonly.example.com/mcp
    auth: {type: mtls, cert: ~/certs/c.pem, key_file: certs/c.key, ca: ca.pem}
  local:
    url: http://localhost:3000/mcp
    auth: {type: oauth, allow_insecure_localhost: true}
`
	cfg, path, err := load(t, "config.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	want := map[string]struct {
		auth connectors.AuthConfig
		tls  connectors.TLSConfig
	}{
		"github":   {auth: connectors.AuthConfig{Type: "oauth", ClientID: "Iv1.abc", ClientSecret: "gh-client-secret", RedirectURL: "http://127.0.0.1:9876/callback", Scopes: []string{"repo", "read:org"}, Issuer: "https://github.example.com", DPoP: true}},
		"cimd":     {auth: connectors.AuthConfig{Type: "oauth", ClientMetadataURL: "https://mediator.example.com/client.json"}},
		"svc":      {auth: connectors.AuthConfig{Type: "client-credentials", ClientID: "svc", PrivateKey: "svc-key", SigningAlg: "ES256", AuthMethod: "private_key_jwt", Scopes: []string{"tools"}}},
		"svc2":     {auth: connectors.AuthConfig{Type: "client-credentials", ClientID: "svc2", ClientSecret: "svc2-secret", AuthMethod: "post"}},
		"workload": {auth: connectors.AuthConfig{Type: "jwt-bearer", AssertionFile: filepath.Join(dir, "tokens/mcp"), ClientID: "wl"}},
		"corp": {auth: connectors.AuthConfig{Type: "enterprise", ClientID: "corp-mcp", ClientSecret: "corp-secret", IdPTokenEndpoint: "https://idp.example.com/oauth2/token",
			IdPClientID: "mediator", IdPClientSecret: "idp-secret", IDToken: "sso-id-token"}},
		"bank": {auth: connectors.AuthConfig{Type: "bearer", Secret: "token"},
			tls: connectors.TLSConfig{Cert: filepath.Join(dir, "certs/client.pem"), KeySecret: "client-key", CA: "/etc/bank/ca.pem", MinVersion: "1.3"}},
		"certonly": {auth: connectors.AuthConfig{Type: "mtls"},
			tls: connectors.TLSConfig{Cert: "/home/u/certs/c.pem", KeyFile: filepath.Join(dir, "certs/c.key"), CA: filepath.Join(dir, "ca.pem")}},
		"local": {auth: connectors.AuthConfig{Type: "oauth", AllowInsecureLocalhost: true}},
	}
	for _, sc := range cfg.ServerConfigs() {
		w, ok := want[sc.Name]
		if !ok {
			t.Errorf("unexpected server %s", sc.Name)
			continue
		}
		if !reflect.DeepEqual(sc.Auth, w.auth) {
			t.Errorf("%s auth:\n got %+v\nwant %+v", sc.Name, sc.Auth, w.auth)
		}
		if sc.TLS != w.tls {
			t.Errorf("%s tls:\n got %+v\nwant %+v", sc.Name, sc.TLS, w.tls)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: the connector refuses what the config accepted: %v", sc.Name, err)
		}
		s, _ := cfg.Server(sc.Name)
		if sc.Name != "cimd" && sc.Name != "certonly" && !s.NeedsSecrets() {
			t.Errorf("%s: NeedsSecrets is false, but it reads or writes the keyring", sc.Name)
		}
	}
}

func TestAuthTypeProblems(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com/mcp
    auth: {type: client-credentials, client_secret: s, auth_method: jwt}
  b:
    url: https://b.example.com/mcp
    auth:
      type: oauth
      secret: token
      redirect_url: https://app.example.com/cb
      scopes: [ok, "two words"]
  c:
    url: https://c.example.com/mcp
    auth: {type: bearer, secret: t, cert: c.pem, key_secret: k}
  d:
    url: https://d.example.com/mcp
    auth: {type: mtls, cert: c.pem, key_secret: k}
    tls: {cert: c.pem, key_secret: k}
  e:
    url: http://e.example.com/mcp
    auth: {type: mtls, cert: c.pem, key_file: k.pem, min_version: "1.1"}
  f:
    url: https://f.example.com/mcp
    tls: {cert: c.pem, key: "-----BEGIN PRIVATE KEY-----"}
  g:
    url: https://g.example.com/mcp
    auth: {type: jwt-bearer, assertion: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3bCJ9.c2lnbmF0dXJlc2lnbmF0dXJl"}
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:5: servers.a.auth.client_id: auth type client-credentials needs client_id: the client registered for mediator at the authorization server`,
		`FILE:4:69: servers.a.auth.auth_method: unknown method "jwt"; valid: basic, post, private_key_jwt`,
		"FILE:9:15: servers.b.auth.secret: auth type oauth gets its tokens by a login (`mediator auth login`), not from a keyring item; for a pre-registered client's secret use client_secret",
		`FILE:10:21: servers.b.auth.redirect_url: "https://app.example.com/cb" must be http://127.0.0.1:PORT/PATH (a loopback address with a port, where the login listens for one redirect), e.g. http://127.0.0.1:8976/callback`,
		`FILE:11:20: servers.b.auth.scopes[1]: "two words" is not a scope: scopes are non-empty and hold no spaces, quotes or backslashes`,
		`FILE:14:37: servers.c.auth.cert: the auth form holds a certificate only for type mtls; for auth type bearer put it in tls: {cert: FILE, key_secret: ITEM, ca: FILE}`,
		`FILE:17:24: servers.d.auth.cert: the certificate is given both in auth and in tls; keep one (auth: {type: mtls, ...} when it is the only credential, tls: with another auth type)`,
		`FILE:21:5: servers.e.auth: a client certificate and CA bundle need an https url; "http://e.example.com/mcp" would send everything in plain text`,
		`FILE:21:67: servers.e.auth.min_version: unknown TLS version "1.1"; valid: 1.2, 1.3 (nothing below 1.2 is allowed)`,
		`FILE:24:17: servers.f.tls.cert: the client certificate needs its private key: key_secret (a keyring item of this server) or key_file (a PEM file)`,
		`FILE:24:24: servers.f.tls.key: the private key is never written in the config: store it with "mediator secret set f NAME" and write key_secret: NAME (or key_file: FILE)`,
		`FILE:27:41: servers.g.auth.assertion: this names a keyring item and must not be the secret itself; store the value with "mediator secret set g NAME" and write NAME here`,
	})
}
