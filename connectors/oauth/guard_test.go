package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuardRefusesDangerousURLs(t *testing.T) {
	public := GuardPolicy{}
	local, err := PolicyFor("http://127.0.0.1:8080/mcp", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		policy GuardPolicy
		url    string
		want   string
	}{
		{"cloud metadata", public, "https://169.254.169.254/latest/meta-data/", "metadata"},
		{"metadata even for a local server", local, "http://169.254.169.254/", "http"},
		{"metadata over https for a local server", local, "https://169.254.169.254/", "metadata"},
		{"link-local v6", public, "https://[fe80::1]/", "link-local"},
		{"private v4", public, "https://10.0.0.1/.well-known/oauth-protected-resource", "private"},
		{"private v4 for a loopback server", local, "https://10.0.0.1/", "private"},
		{"ULA v6", public, "https://[fd12:3456::1]/", "private"},
		{"loopback for a public server", public, "https://127.0.0.1/", "loopback"},
		{"localhost name for a public server", public, "https://localhost/", "loopback"},
		{"file scheme", local, "file:///etc/passwd", "scheme"},
		{"javascript scheme", local, "javascript:alert(1)", "scheme"},
		{"plain http to a public host", local, "http://example.com/", "http"},
		{"user info", public, "https://user:pw@example.com/", "user info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.policy.checkURL(c.url)
			if err == nil || !errors.Is(err, ErrBlockedURL) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("checkURL(%q) = %v, want a refusal mentioning %q", c.url, err, c.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error repeats user info: %v", err)
			}
		})
	}
	if _, err := local.checkURL("http://localhost:9999/x"); err != nil {
		t.Errorf("loopback http refused for a local server with allow_insecure_localhost: %v", err)
	}
	if _, err := public.checkURL("https://example.com/x"); err != nil {
		t.Errorf("public https refused: %v", err)
	}
}

func TestGuardedClientRechecksRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-private":
			http.Redirect(w, r, "https://10.0.0.1/.well-known/oauth-authorization-server", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/to-private", http.StatusFound)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2<<20)))
		}
	}))
	defer srv.Close()
	p, err := PolicyFor(srv.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Client()
	for _, path := range []string{"/to-private", "/to-metadata", "/to-file", "/hop"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		_, err := c.Do(req)
		if err == nil || !errors.Is(err, ErrBlockedURL) {
			t.Errorf("GET %s: %v, want a guard refusal", path, err)
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/big", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var readErr error
	for readErr == nil {
		_, readErr = resp.Body.Read(buf)
	}
	if !strings.Contains(readErr.Error(), "exceeds") {
		t.Errorf("oversized body: %v, want a size error", readErr)
	}
}

// TestDiscoveryRefusesSSRFMetadata: a server whose metadata points at
// private or metadata addresses never gets them fetched.
func TestDiscoveryRefusesSSRFMetadata(t *testing.T) {
	cases := map[string]string{
		"resource_metadata at metadata IP": `Bearer resource_metadata="https://169.254.169.254/prm"`,
		"resource_metadata at private IP":  `Bearer resource_metadata="https://10.0.0.1/prm"`,
		"resource_metadata as file":        `Bearer resource_metadata="file:///etc/passwd"`,
	}
	for name, challenge := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", challenge)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			defer srv.Close()
			h, err := New(Config{ServerName: "s", ServerURL: srv.URL + "/mcp", AllowInsecureLocalhost: true, RedirectURL: "http://127.0.0.1:1/cb",
				Fetcher: CodeFetcherFunc(func(context.Context, *AuthorizationRequest) (*AuthorizationResponse, error) {
					t.Error("authorization reached the user")
					return nil, errors.New("no")
				})})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(srv.URL + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", nil)
			err = h.Authorize(testContext(t), req, resp)
			if err == nil || !errors.Is(err, ErrBlockedURL) {
				t.Fatalf("Authorize = %v, want a guard refusal", err)
			}
		})
	}
	t.Run("authorization server at metadata IP", func(t *testing.T) {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource") {
				writeJSON(w, 200, map[string]any{"resource": srv.URL + "/mcp", "authorization_servers": []string{"https://169.254.169.254/"}})
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}))
		defer srv.Close()
		h, err := New(Config{ServerName: "s", ServerURL: srv.URL + "/mcp", AllowInsecureLocalhost: true, RedirectURL: "http://127.0.0.1:1/cb",
			Fetcher: CodeFetcherFunc(func(context.Context, *AuthorizationRequest) (*AuthorizationResponse, error) {
				return nil, errors.New("no")
			})})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := http.Get(srv.URL + "/mcp")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", nil)
		if err := h.Authorize(testContext(t), req, resp); err == nil || !errors.Is(err, ErrBlockedURL) {
			t.Fatalf("Authorize = %v, want a guard refusal", err)
		}
	})
}

func TestResourceMismatchStopsBeforeAuthorization(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource") {
			writeJSON(w, 200, map[string]any{"resource": "https://evil.example.com/mcp", "authorization_servers": []string{"https://as.example"}})
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	h, err := New(Config{ServerName: "s", ServerURL: srv.URL + "/mcp", AllowInsecureLocalhost: true, RedirectURL: "http://127.0.0.1:1/cb",
		Fetcher: CodeFetcherFunc(func(context.Context, *AuthorizationRequest) (*AuthorizationResponse, error) {
			t.Error("authorization reached the user")
			return nil, errors.New("no")
		})})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := http.Get(srv.URL + "/mcp")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", nil)
	if err := h.Authorize(testContext(t), req, resp); err == nil || !strings.Contains(err.Error(), "refusing to authorize") {
		t.Fatalf("Authorize = %v, want a resource mismatch", err)
	}
}

func TestMetadataURLOrder(t *testing.T) {
	got := metadataURLs("https://as.example/tenant1/")
	want := []string{
		"https://as.example/.well-known/oauth-authorization-server/tenant1",
		"https://as.example/.well-known/openid-configuration/tenant1",
		"https://as.example/tenant1/.well-known/openid-configuration",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("metadataURLs = %v\nwant %v", got, want)
	}
	got = metadataURLs("https://as.example")
	if len(got) != 2 || got[0] != "https://as.example/.well-known/oauth-authorization-server" || got[1] != "https://as.example/.well-known/openid-configuration" {
		t.Errorf("metadataURLs(root) = %v", got)
	}
}
