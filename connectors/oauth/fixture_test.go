package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
)

// testAS is the authorization server and protected MCP server of package
// oauthtest, shared with the connectors and command tests.
type testAS = oauthtest.Server

func newTestAS(t *testing.T) *testAS { return oauthtest.New(t) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newTestHandler is a headless authorization-code handler for the fixture.
func newTestHandler(t *testing.T, a *testAS, mod func(*Config)) *Handler {
	t.Helper()
	policy, err := PolicyFor(a.MCPURL(), true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ServerName:             "fixture",
		ServerURL:              a.MCPURL(),
		AllowInsecureLocalhost: true,
		Fetcher:                NewHeadlessFetcher(policy),
		RedirectURL:            "http://127.0.0.1:7777/callback",
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// connect opens a go-sdk client session through the handler.
func connect(t *testing.T, ctx context.Context, a *testAS, h *Handler) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.MCPURL(), OAuthHandler: h, HTTPClient: &http.Client{Transport: h.Transport(nil)}}, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func containsAll(s []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(s, w) {
			return false
		}
	}
	return true
}
