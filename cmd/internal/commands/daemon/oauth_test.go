package daemon

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/serve"
)

// A daemon keeps an OAuth server's login alive (its 3 s token renewed
// ahead of expiry, counted in /metrics) and, once the refresh token is
// revoked, shows that server auth-required in /readyz while the other
// stays ready.
func TestDaemonOAuthLoginExpires(t *testing.T) {
	as := oauthtest.New(t)
	as.Mu.Lock()
	as.TokenTTL = 3 * time.Second
	as.Mu.Unlock()
	redirect := oauthtest.RedirectURL(t)
	h := newHome(t)
	h.writeServers(fmt.Sprintf("  bank:\n    url: %s\n    auth: {type: oauth, redirect_url: %q, allow_insecure_localhost: true}\n", as.MCPURL(), redirect),
		fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(apiToken)))
	h.storeKey()
	f := h.factory(io.Discard)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Secrets(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	login, err := connectors.New(connectors.Options{Secrets: store.ForServer("bank"), Login: &connectors.Login{Fetcher: &oauth.HeadlessFetcher{}},
		Config: connectors.Config{Name: "bank", URL: as.MCPURL(), Timeout: 10 * time.Second,
			Auth: connectors.AuthConfig{Type: connectors.AuthOAuth, RedirectURL: redirect, AllowInsecureLocalhost: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()

	r := h.start()
	base := r.baseURL(t)
	states := func() map[string]string {
		var body struct {
			Servers []struct{ Name, State, Error string }
		}
		api(t, "GET", base+"/readyz", "", "", &body)
		out := map[string]string{}
		for _, s := range body.Servers {
			out[s.Name] = s.State + " " + s.Error
		}
		return out
	}
	// until polls cond, which has no event to wait on, within the test.
	until := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-t.Context().Done():
				t.Fatalf("never: %s; /readyz %v\n%s", what, states(), r.stderr.String())
			}
		}
	}
	until("a renewal in /metrics", func() bool {
		var text string
		api(t, "GET", base+"/metrics", apiToken, "", &text)
		return strings.Contains(text, `mediator_auth_refreshes_total{outcome="ok",server="bank"} `) &&
			!strings.Contains(text, `mediator_auth_refreshes_total{outcome="ok",server="bank"} 0`)
	})
	as.RevokeRefreshTokens()
	until("bank auth-required", func() bool { return strings.HasPrefix(states()["bank"], "auth-required ") })
	st := states()
	if !strings.HasPrefix(st["echo"], "ready") || !strings.Contains(st["bank"], "mediator auth login bank") {
		t.Errorf("/readyz: %v", st)
	}
	r.stop(t)
	as.Mu.Lock()
	defer as.Mu.Unlock()
	if as.PresentedExpired != 0 {
		t.Errorf("the resource server saw %d expired tokens", as.PresentedExpired)
	}
}
