package orchestrator_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// TestAuditHoldsNoOAuthToken: calls to an OAuth server, including a refresh
// and a refused step-up, are audited with their values, and no token,
// code or verifier of the authorization flows reaches the audit file.
func TestAuditHoldsNoOAuthToken(t *testing.T) {
	const canary = "CANARY-oauth-"
	as := oauthtest.New(t)
	as.TokenPrefix = canary
	ctx := testContext(t)
	store, err := credentials.Open(ctx, credentials.Options{
		Backend: credentials.BackendFile, FileDir: t.TempDir(),
		Passphrase: func(string) (string, error) { return "test passphrase", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connectors.Config{Name: "gh", URL: as.MCPURL(), Auth: connectors.AuthConfig{
		Type: connectors.AuthOAuth, RedirectURL: oauthtest.RedirectURL(t), AllowInsecureLocalhost: true,
	}}
	login, err := connectors.New(connectors.Options{Config: cfg, Secrets: store.ForServer("gh"), Login: &connectors.Login{Fetcher: &oauth.HeadlessFetcher{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()

	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: path, AuditIncludeValues: true, Secrets: store, Redactor: store.Redactor(),
		Servers: []orchestrator.ServerConfig{{Config: cfg}},
	})
	if _, err := o.Call(ctx, "gh", "whoami", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	as.ExpireAll() // the next call refreshes
	if _, err := o.Call(ctx, "gh", "whoami", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Call(ctx, "gh", "admin", map[string]any{}); err == nil {
		t.Fatal("admin without its scope succeeded")
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(canary)) {
		t.Fatalf("the audit file holds a token:\n%s", data)
	}
	as.Mu.Lock()
	for _, f := range as.TokenRequests {
		for _, k := range []string{"code", "code_verifier", "refresh_token"} {
			if v := f.Get(k); v != "" && bytes.Contains(data, []byte(v)) {
				t.Errorf("the audit file holds the %s", k)
			}
		}
	}
	refreshes := as.Refreshes
	as.Mu.Unlock()
	if refreshes != 1 {
		t.Errorf("%d refreshes, want 1: the test meant to cover one", refreshes)
	}
	syncAudit(t, o)
	recs, _ := readAudit(t, path)
	if len(recs) != 3 || recs[0].Outcome != "ok" || recs[2].Outcome == "ok" || recs[2].Error == "" {
		t.Errorf("audit records %+v", recs)
	}
}
