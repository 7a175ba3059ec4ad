package connectors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Plain headers reach every request to the server, over both transports,
// next to the credential, and the request the caller built is left alone.
func TestHTTPPlainHeaders(t *testing.T) {
	const key = "key-canary-77d0e1"
	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		t.Run(transport, func(t *testing.T) {
			ctx := testCtx(t)
			var log headerLog
			srv := httptest.NewServer(guarded(&log, func(r *http.Request) bool {
				return r.Header.Get("X-MCP-Toolsets") == "repos,issues" && r.Header.Get("X-API-Key") == key
			}, mcpHandler(transport, testMCPServer())))
			t.Cleanup(srv.Close)
			c := mustNew(t, Options{
				Config: Config{Name: "gh", URL: srv.URL, Transport: transport, Timeout: 10 * time.Second,
					Headers: map[string]string{"x-mcp-toolsets": "repos,issues", "X-MCP-Readonly": "true"},
					Auth:    AuthConfig{Type: AuthAPIKey, Secret: "k"}},
				Secrets: secretMap{"k": key},
			})
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "hi"}, nil); err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for i, h := range log.all() {
				if h.Get("X-Mcp-Readonly") != "true" || len(h.Values("X-Mcp-Toolsets")) != 1 {
					t.Errorf("request %d headers: %v", i, h)
				}
			}
		})
	}
}

// Headers that would fight the transport or the auth layer, carry a line
// break, or are not header names are config errors naming the header.
func TestHeaderProblems(t *testing.T) {
	for _, tc := range []struct {
		headers map[string]string
		auth    AuthConfig
		want    string
	}{
		{map[string]string{"Authorization": "x"}, AuthConfig{}, "header Authorization is set by mediator"},
		{map[string]string{"mcp-session-id": "x"}, AuthConfig{}, "header Mcp-Session-Id belongs to the MCP transport"},
		{map[string]string{"Content-Type": "text/plain"}, AuthConfig{}, "is set by mediator"},
		{map[string]string{"X-Tenant-Key": "x"}, AuthConfig{Type: AuthAPIKey, Header: "x-tenant-key", Secret: "k"}, "carries this server's api-key"},
		{map[string]string{"X-API-Key": "x"}, AuthConfig{Type: AuthAPIKey, Secret: "k"}, "carries this server's api-key"},
		{map[string]string{"X-Ok": "a\r\nHost: evil"}, AuthConfig{}, "line break"},
		{map[string]string{"Bad Name": "x"}, AuthConfig{}, `"Bad Name" is not an HTTP header name`},
	} {
		err := Config{Name: "s", URL: "https://s.example.com/mcp", Headers: tc.headers, Auth: tc.auth}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "headers.") {
			t.Errorf("%v: Validate = %v, want %q", tc.headers, err, tc.want)
		}
	}
	err := Config{Name: "s", Command: "srv", Headers: map[string]string{"X-Ok": "1"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "headers apply only to HTTP servers") {
		t.Errorf("stdio with headers: %v", err)
	}
	if err := (Config{Name: "s", URL: "https://s.example.com/mcp", Headers: map[string]string{"X-MCP-Toolsets": "repos"}}).Validate(); err != nil {
		t.Errorf("a plain header: %v", err)
	}
}
