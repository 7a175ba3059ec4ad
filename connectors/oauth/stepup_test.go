package oauth

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStepUpRequestsTheUnionOfScopes: a tool that answers 403
// insufficient_scope gets a new authorization for what was granted plus
// what was challenged (SEP-2350), and the call then goes through.
func TestStepUpRequestsTheUnionOfScopes(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, nil)
	ctx := testContext(t)
	cs, err := connect(t, ctx, a, h)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.LastAuthRequest().Get("scope"); got != "tools" {
		t.Fatalf("first authorization asked for %q, want tools", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("admin after step-up: %v %+v", err, res)
	}
	if got := a.LastAuthRequest().Get("scope"); !containsAll(strings.Fields(got), "tools", "admin") {
		t.Errorf("step-up asked for %q, want the union of tools and admin", got)
	}
	if st := h.Status(); !containsAll(st.Scopes, "tools", "admin") {
		t.Errorf("granted scopes after step-up %v", st.Scopes)
	}
	// The earlier grant still works for the other tool.
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
}

// TestStepUpWithoutTheUserIsRememberedForTheNextLogin: a handler that
// cannot ask the user fails a 403 with "login required", and records the
// scopes, so that the login it asks for requests them and the call then
// succeeds instead of failing the same way again.
func TestStepUpWithoutTheUserIsRememberedForTheNextLogin(t *testing.T) {
	a := newTestAS(t)
	store := NewMemoryStore()
	login := func() *Handler {
		return newTestHandler(t, a, func(c *Config) { c.Store = store; c.SkipStoredToken = true })
	}
	call := func() *Handler {
		return newTestHandler(t, a, func(c *Config) { c.Store = store; c.Fetcher = nil })
	}
	ctx := testContext(t)
	if _, err := connect(t, ctx, a, login()); err != nil {
		t.Fatal(err)
	}
	cs, err := connect(t, ctx, a, call())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin", Arguments: map[string]any{}})
	if err == nil || !strings.Contains(err.Error(), ErrLoginRequired.Error()) || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("admin without the scope = %v, want login required naming the scope", err)
	}
	inv, err := store.Inventory(ctx, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Logins) != 1 || strings.Join(inv.Logins[0].PendingScopes, " ") != "admin" {
		t.Errorf("inventory after the refused step-up: %+v", inv.Logins)
	}

	if _, err := connect(t, ctx, a, login()); err != nil {
		t.Fatal(err)
	}
	if got := a.LastAuthRequest().Get("scope"); !containsAll(strings.Fields(got), "tools", "admin") {
		t.Fatalf("the next login asked for %q, want tools and admin", got)
	}
	cs, err = connect(t, ctx, a, call())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin", Arguments: map[string]any{}}); err != nil || res.IsError {
		t.Fatalf("admin after the login: %v %+v", err, res)
	}
	inv, _ = store.Inventory(ctx, "fixture")
	if len(inv.Logins) != 1 || len(inv.Logins[0].PendingScopes) != 0 {
		t.Errorf("pending scopes after the login that granted them: %+v", inv.Logins)
	}
}
