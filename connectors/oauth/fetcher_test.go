package oauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLoopbackLogin runs the browser login: the "browser" follows the
// authorization server's redirect to mediator's one-shot 127.0.0.1
// listener, after a stray request with the wrong state was turned away.
func TestLoopbackLogin(t *testing.T) {
	a := newTestAS(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	var stray int
	browser := func(ctx context.Context, u string) error {
		if !strings.HasPrefix(u, a.URL()+"/as/authorize?") {
			return fmt.Errorf("opened %q", u)
		}
		go func() {
			if resp, err := http.Get(redirect + "?code=x&state=wrong"); err == nil {
				stray = resp.StatusCode
				resp.Body.Close()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	h := newTestHandler(t, a, func(c *Config) {
		c.RedirectURL = redirect
		c.Fetcher = &LoopbackFetcher{Open: browser}
	})
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	if stray != http.StatusBadRequest {
		t.Errorf("stray callback got %d, want 400", stray)
	}
	// One-shot: the listener is gone after the login.
	if resp, err := http.Get(redirect); err == nil {
		resp.Body.Close()
		t.Error("the loopback listener still answers after the login")
	}
}

func TestOpenBrowserRefusesSchemes(t *testing.T) {
	for _, u := range []string{"javascript:alert(1)", "file:///etc/passwd", "http://example.com/authorize", "data:text/html,x"} {
		if err := OpenBrowser(context.Background(), u); err == nil {
			t.Errorf("OpenBrowser(%q) accepted", u)
		}
	}
}

// TestLoopbackLoginPageArrivesWhole: the browser gets the whole "Login
// complete" page although the login goes on (and the listener closes) as
// soon as the answer is in.
func TestLoopbackLoginPageArrivesWhole(t *testing.T) {
	a := newTestAS(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	page := make(chan string, 1)
	browser := func(ctx context.Context, u string) error {
		go func() {
			req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, u, nil)
			resp, err := http.DefaultClient.Do(req) // follows the AS's redirect to the listener
			if err != nil {
				page <- "browser: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				page <- "browser: " + err.Error()
				return
			}
			page <- string(b)
		}()
		return nil
	}
	h := newTestHandler(t, a, func(c *Config) {
		c.RedirectURL = redirect
		c.Fetcher = &LoopbackFetcher{Open: browser}
	})
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-page:
		if !strings.Contains(got, "Login complete") {
			t.Errorf("the browser got %q, want the whole Login complete page", got)
		}
	case <-testContext(t).Done():
		t.Fatal("the browser never got the page")
	}
}
