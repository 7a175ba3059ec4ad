package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
)

func registeredGrants(t *testing.T, a *testAS, i int) []string {
	t.Helper()
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if i >= len(a.RegistrationBodies) {
		t.Fatalf("registration %d never happened (%d in all)", i+1, len(a.RegistrationBodies))
	}
	var out []string
	for _, g := range a.RegistrationBodies[i]["grant_types"].([]any) {
		out = append(out, g.(string))
	}
	return out
}

// TestOneRegistrationServesBrowserAndDeviceLogins: where the authorization
// server offers the device grant, the browser login registers for both,
// and a later device login uses that registration.
func TestOneRegistrationServesBrowserAndDeviceLogins(t *testing.T) {
	a := newTestAS(t)
	a.Device = true
	store := NewMemoryStore()
	browser := newTestHandler(t, a, func(c *Config) { c.Store = store })
	if _, err := connect(t, testContext(t), a, browser); err != nil {
		t.Fatal(err)
	}
	if g := registeredGrants(t, a, 0); !containsAll(g, grantAuthorizationCode, grantDeviceCode, grantRefreshToken) {
		t.Errorf("registered grant types %v, want authorization_code, device_code and refresh_token", g)
	}
	u := &deviceUser{t: t, approve: true}
	device := newDeviceHandler(t, a, u, &sleeps{})
	device.store = store
	if _, err := connect(t, testContext(t), a, device); err != nil {
		t.Fatal(err)
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Registrations != 1 {
		t.Errorf("%d registrations, want the browser login's one", a.Registrations)
	}
}

// TestRegistrationForAnotherGrantIsRenewed: a client registered when the
// server did not offer the device grant may not use it; the device login
// registers anew (for both grants) instead of failing at the token
// endpoint with unauthorized_client.
func TestRegistrationForAnotherGrantIsRenewed(t *testing.T) {
	a := newTestAS(t)
	a.ClientID = "browser-client"
	store := NewMemoryStore()
	if _, err := connect(t, testContext(t), a, newTestHandler(t, a, func(c *Config) { c.Store = store })); err != nil {
		t.Fatal(err)
	}
	if g := registeredGrants(t, a, 0); slices.Contains(g, grantDeviceCode) {
		t.Fatalf("registered %v although the server offers no device grant", g)
	}
	a.Mu.Lock()
	a.Device = true
	a.ClientID = "device-client"
	a.Mu.Unlock()
	device := newDeviceHandler(t, a, &deviceUser{t: t, approve: true}, &sleeps{})
	device.store = store
	if _, err := connect(t, testContext(t), a, device); err != nil {
		t.Fatal(err)
	}
	if g := registeredGrants(t, a, 1); !containsAll(g, grantDeviceCode, grantAuthorizationCode) {
		t.Errorf("second registration for %v, want the device grant too", g)
	}
	if st := device.Status(); st.ClientID != "device-client" {
		t.Errorf("the device login used client %q, want the new registration", st.ClientID)
	}
	// A handler without the user finds the login, whatever its grant.
	quiet := newTestHandler(t, a, func(c *Config) { c.Store = store; c.Fetcher = nil })
	if _, err := connect(t, testContext(t), a, quiet); err != nil {
		t.Fatalf("a call after the device login: %v", err)
	}
}

// TestDeviceLoginChecksTheServerBeforeRegistering: no client is registered
// at a server that cannot do the device grant.
func TestDeviceLoginChecksTheServerBeforeRegistering(t *testing.T) {
	a := newTestAS(t)
	h := newDeviceHandler(t, a, &deviceUser{t: t, approve: true}, &sleeps{})
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !strings.Contains(err.Error(), "device_authorization_endpoint") {
		t.Fatalf("connect = %v, want the missing device grant named", err)
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Registrations != 0 {
		t.Errorf("%d registrations at a server without the device grant", a.Registrations)
	}
}

// TestConfiguredClientIsPinnedToItsFirstIssuer: a configured client that
// names no issuer is bound to the authorization server it was first used
// with. When the server later names another, the client's secret is not
// sent there, and the error says how to confirm the move.
func TestConfiguredClientIsPinnedToItsFirstIssuer(t *testing.T) {
	const secret = "CANARY-pinned-secret"
	a1, a2 := newTestAS(t), newTestAS(t)
	a1.Clients["pre"] = secret
	a2.Clients["pre"] = secret
	store := NewMemoryStore()
	client := func() *ClientConfig {
		return &ClientConfig{ClientID: "pre", ClientSecret: credentials.NewSecret(secret)}
	}
	h := newTestHandler(t, a1, func(c *Config) { c.Store = store; c.Client = client() })
	if _, err := connect(t, testContext(t), a1, h); err != nil {
		t.Fatal(err)
	}
	if iss, err := store.LoadClientIssuer(testContext(t), "fixture", "pre"); err != nil || iss != a1.Issuer() {
		t.Fatalf("pin = %q, %v; want %s", iss, err, a1.Issuer())
	}

	a1.Mu.Lock()
	a1.PRMIssuer = a2.Issuer()
	a1.Trusted = []*testAS{a2}
	a1.Mu.Unlock()
	moved := newTestHandler(t, a1, func(c *Config) { c.Store = store; c.Client = client() })
	_, err := connect(t, testContext(t), a1, moved)
	if err == nil || !strings.Contains(err.Error(), "first used with authorization server "+a1.Issuer()) || !strings.Contains(err.Error(), "auth.issuer: "+a2.Issuer()) {
		t.Fatalf("connect after the move = %v, want a refusal naming both issuers and auth.issuer", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error carries the secret")
	}
	a2.Mu.Lock()
	sent := len(a2.TokenRequests) + len(a2.AuthRequests)
	a2.Mu.Unlock()
	if sent != 0 {
		t.Errorf("the new authorization server received %d request(s) with the pinned client", sent)
	}

	// The user confirms the move with auth.issuer.
	confirmed := newTestHandler(t, a1, func(c *Config) {
		c.Store = store
		c.Client = client()
		c.Client.Issuer = a2.Issuer()
	})
	if _, err := connect(t, testContext(t), a1, confirmed); err != nil {
		t.Fatalf("connect with auth.issuer set to the new server: %v", err)
	}
	// Logout forgets the pin.
	if err := store.Forget(testContext(t), "fixture"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.LoadClientIssuer(testContext(t), "fixture", "pre"); !errors.Is(err, ErrNotStored) {
		t.Errorf("the pin survived logout: %v", err)
	}
}

// TestReRegistersWhenTheAuthorizationServerChanges (SEP-2352): the
// protected resource moves to another authorization server; mediator
// registers there anew and sends it nothing from the old one (client ID,
// refresh token).
func TestReRegistersWhenTheAuthorizationServerChanges(t *testing.T) {
	a1, a2 := newTestAS(t), newTestAS(t)
	a1.ClientID, a2.ClientID = "as1-client", "as2-client"
	store := NewMemoryStore()
	h := newTestHandler(t, a1, func(c *Config) { c.Store = store })
	ctx := testContext(t)
	cs, err := connect(t, ctx, a1, h)
	if err != nil {
		t.Fatal(err)
	}
	a1.Mu.Lock()
	a1.PRMIssuer = a2.Issuer()
	a1.Trusted = []*testAS{a2}
	a1.Mu.Unlock()
	a1.ExpireAll()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatalf("call after the move: %v", err)
	}
	if st := h.Status(); st.Issuer != a2.Issuer() || st.ClientID != "as2-client" {
		t.Errorf("status after the move %+v", st)
	}
	a2.Mu.Lock()
	defer a2.Mu.Unlock()
	if a2.Registrations != 1 {
		t.Errorf("%d registrations at the new server, want 1", a2.Registrations)
	}
	for _, q := range a2.AuthRequests {
		if q.Get("client_id") == "as1-client" {
			t.Error("the old server's client ID was sent to the new one")
		}
	}
	for _, f := range a2.TokenRequests {
		if f.Get("client_id") == "as1-client" || f.Get("grant_type") == grantRefreshToken {
			t.Errorf("the new server got %s with client %q: nothing of the old server's may go there", f.Get("grant_type"), f.Get("client_id"))
		}
	}
	if _, err := store.LoadRegistration(ctx, "fixture", a2.Issuer()); err != nil {
		t.Errorf("the new registration is not stored: %v", err)
	}
}
