package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A handler without Fetcher or Device stands for a `mediator call`: it may
// use what a login stored, never ask anyone, and never register a client.
func TestNonInteractiveHandlerUsesOnlyStoredLogins(t *testing.T) {
	a := newTestAS(t)
	store := NewMemoryStore()
	ctx := testContext(t)

	// Before any login: login required, and nothing was registered.
	cold := newTestHandler(t, a, func(c *Config) { c.Fetcher, c.Store = nil, store })
	_, err := connect(t, ctx, a, cold)
	if !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("err = %v, want ErrLoginRequired", err)
	}
	var ae *AuthorizationError
	if !errors.As(err, &ae) || !ae.LoginRequired() || ae.Server != "fixture" {
		t.Errorf("the go-sdk error does not carry a login-required *AuthorizationError: %#v", ae)
	}
	a.Mu.Lock()
	regs := a.Registrations
	a.Mu.Unlock()
	if regs != 0 || a.LastAuthRequest() != nil {
		t.Fatalf("a handler that cannot log in registered (%d) or sent an authorization request", regs)
	}

	// The login (an interactive handler on the same store) ...
	login := newTestHandler(t, a, func(c *Config) { c.Store, c.SkipStoredToken = store, true })
	if _, err := connect(t, ctx, a, login); err != nil {
		t.Fatal(err)
	}
	// ... serves every later non-interactive handler without another one.
	warm := newTestHandler(t, a, func(c *Config) { c.Fetcher, c.Store = nil, store })
	cs, err := connect(t, ctx, a, warm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	a.Mu.Lock()
	auths := len(a.AuthRequests)
	a.Mu.Unlock()
	if auths != 1 {
		t.Errorf("%d authorization requests, want the login's one", auths)
	}

	// An expired login that cannot be refreshed needs a new login.
	a.ExpireAll()
	a.Mu.Lock()
	a.NoRefresh = true
	a.Mu.Unlock()
	expired := newTestHandler(t, a, func(c *Config) { c.Fetcher, c.Store = nil, store })
	if _, err := connect(t, ctx, a, expired); !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("expired login: err = %v, want ErrLoginRequired", err)
	}
}

func TestSkipStoredTokenLogsInAgain(t *testing.T) {
	a := newTestAS(t)
	store := NewMemoryStore()
	ctx := testContext(t)
	for i := range 2 {
		h := newTestHandler(t, a, func(c *Config) { c.Store, c.SkipStoredToken = store, true })
		if _, err := connect(t, ctx, a, h); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if len(a.AuthRequests) != 2 || a.Registrations != 1 {
		t.Errorf("%d authorization requests and %d registrations; want 2 logins reusing one registration", len(a.AuthRequests), a.Registrations)
	}
}

func TestConfiguredScopesReplaceScopesSupported(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, func(c *Config) { c.Scopes = []string{"tools", "profile"} })
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	if got := a.LastAuthRequest().Get("scope"); got != "tools profile" {
		t.Errorf("scope = %q, want the configured %q", got, "tools profile")
	}
}

func TestInventoryHoldsNoSecret(t *testing.T) {
	a := newTestAS(t)
	a.ClientSecret = "client-secret-canary-3kf8"
	store := NewMemoryStore()
	h := newTestHandler(t, a, func(c *Config) { c.Store = store })
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	inv, err := store.Inventory(testContext(t), "fixture")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Logins) != 1 || len(inv.Clients) != 1 {
		t.Fatalf("inventory %+v", inv)
	}
	l := inv.Logins[0]
	if l.Issuer != a.Issuer() || l.ClientID != "dcr-client" || l.Resource != a.MCPURL() || !l.Refreshable || l.Expiry.IsZero() || strings.Join(l.Scopes, " ") != "tools" {
		t.Errorf("login %+v", l)
	}
	b, _ := json.Marshal(inv)
	text := string(b) + fmt.Sprintf("%+v %#v", inv, inv)
	for _, secret := range []string{"at-", "rt-", a.ClientSecret} {
		if strings.Contains(text, secret) {
			t.Errorf("the inventory shows %q: %s", secret, text)
		}
	}
	if other, _ := store.Inventory(testContext(t), "other"); len(other.Logins)+len(other.Clients) != 0 {
		t.Errorf("another server's inventory shows %+v", other)
	}
}
