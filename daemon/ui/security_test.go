package ui

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

const (
	tokenAll  = "ui-all-0123456789abcdef"
	tokenRain = "ui-rain-0123456789abcdef"
)

var testTokens = []serve.Token{
	{Name: "all", SHA256: serve.HashToken(tokenAll), Workflows: []string{"*"}},
	{Name: "rain", SHA256: serve.HashToken(tokenRain), Workflows: []string{"rain-*"}},
}

// rig is the page over an empty run manager on a test server.
type rig struct {
	t   *testing.T
	srv *httptest.Server
	ui  *UI
	ss  *Sessions
}

func newRig(t *testing.T) *rig {
	t.Helper()
	runs, err := daemon.NewRuns(daemon.RunsOptions{StateDir: t.TempDir(), Orchestrator: func() *orchestrator.Orchestrator { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runs.Shutdown(t.Context()) })
	rg := &rig{t: t, ss: NewSessions()}
	rg.ui, err = New(Options{Runs: runs, Tokens: testTokens, Sessions: rg.ss})
	if err != nil {
		t.Fatal(err)
	}
	rg.srv = httptest.NewServer(rg.ui)
	t.Cleanup(rg.srv.Close)
	return rg
}

// client does not follow redirects, so that each answer is seen.
func (rg *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (rg *rig) do(c *http.Client, method, path string, form url.Values, origin string) (*http.Response, string) {
	rg.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rg.srv.URL+path, body)
	if err != nil {
		rg.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// login logs c in with token and returns the session cookie's header.
func (rg *rig) login(c *http.Client, token string) string {
	rg.t.Helper()
	resp, body := rg.do(c, "POST", "/ui/login", url.Values{"token": {token}, "next": {"/ui/runs"}}, rg.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/runs" {
		rg.t.Fatalf("login: %d %s, want 303 to /ui/runs; %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return resp.Header.Get("Set-Cookie")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestWithoutSessionEveryPageIsTheLoginPage(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	for _, p := range []string{"/ui", "/ui/", "/ui/runs", "/ui/runs?status=failed", "/ui/runs/live", "/ui/runs/20260101T000000-abc",
		"/ui/runs/x/live", "/ui/runs/x/resolve?action=rerun", "/ui/nothing", "/ui/servers"} {
		resp, body := rg.do(c, "GET", p, nil, "")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
			t.Errorf("GET %s: %d to %q, want 303 to the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(body, "<table") {
			t.Errorf("GET %s without a session answered data: %s", p, body)
		}
	}
	for _, p := range []string{"/ui/logout", "/ui/runs/x/resolve"} {
		resp, _ := rg.do(c, "POST", p, url.Values{"action": {"rerun"}}, rg.srv.URL)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
			t.Errorf("POST %s: %d to %q, want 303 to /ui/login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A forged cookie is no session.
	u, _ := url.Parse(rg.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: "forged", Path: "/ui"}})
	if resp, _ := rg.do(c, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a forged cookie got %d", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	cookie := rg.login(c, tokenAll)
	for _, p := range []string{"/ui/login", "/ui/runs", "/ui/static/ui.css", "/ui/static/live.js", "/ui/nothing"} {
		resp, _ := rg.do(c, "GET", p, nil, "")
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", p, csp)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if h.Get(k) != v {
				t.Errorf("GET %s: %s %q, want %q", p, k, h.Get(k), v)
			}
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP (the browser would drop it)", cookie)
	}
	if strings.Contains(cookie, tokenAll) || strings.Contains(cookie, serve.HashToken(tokenAll)) {
		t.Errorf("session cookie %q carries the token or its hash", cookie)
	}
	// Over TLS (or behind a proxy that says so) it is Secure.
	req, _ := http.NewRequest("POST", rg.srv.URL+"/ui/login", strings.NewReader("token="+tokenAll))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Origin", "https://"+strings.TrimPrefix(rg.srv.URL, "http://"))
	resp, err := rg.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "Secure") {
		t.Errorf("cookie behind TLS %q is not Secure (status %d)", sc, resp.StatusCode)
	}
}

func TestLoginChecksTheTokenAndTheOrigin(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	if resp, body := rg.do(c, "POST", "/ui/login", url.Values{"token": {"not-a-token"}}, rg.srv.URL); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "not one of the daemon&#39;s API tokens") || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a wrong token: %d, cookie %q; %s", resp.StatusCode, resp.Header.Get("Set-Cookie"), body)
	}
	// From another origin, or without one, even the right token is refused.
	for _, origin := range []string{"https://evil.example", "null", ""} {
		if resp, _ := rg.do(c, "POST", "/ui/login", url.Values{"token": {tokenAll}}, origin); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("login from origin %q: %d, want 403 and no cookie", origin, resp.StatusCode)
		}
	}
	// An open redirect is not offered.
	resp, _ := rg.do(c, "POST", "/ui/login", url.Values{"token": {tokenAll}, "next": {"//evil.example/ui/x"}}, rg.srv.URL)
	if loc := resp.Header.Get("Location"); loc != "/ui/runs" {
		t.Errorf("next=//evil.example: sent to %q", loc)
	}
}

func TestPostsNeedTheCSRFTokenAndTheOrigin(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	rg.login(c, tokenAll)
	_, page := rg.do(c, "GET", "/ui/runs", nil, "")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the runs page: %s", page)
	}
	csrf := m[1]
	if resp, _ := rg.do(c, "POST", "/ui/logout", url.Values{}, rg.srv.URL); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without csrf: %d, want 403", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "POST", "/ui/logout", url.Values{"csrf": {csrf + "x"}}, rg.srv.URL); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong csrf: %d, want 403", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "POST", "/ui/logout", url.Values{"csrf": {csrf}}, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %d, want 403", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("the refused logouts ended the session: %d", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "POST", "/ui/logout", url.Values{"csrf": {csrf}}, rg.srv.URL); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d, want 303", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout /ui/runs: %d, want 303 to the login page", resp.StatusCode)
	}
}

func TestSessionsFollowTheTokensAndExpire(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	rg.login(c, tokenRain)
	if resp, body := rg.do(c, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "rain-*") {
		t.Fatalf("runs page: %d %s", resp.StatusCode, body)
	}
	if _, body := rg.do(c, "GET", "/ui/runs?workflow=other", nil, ""); !strings.Contains(body, "outside your token&#39;s scope") {
		t.Errorf("a filter outside the scope is not refused: %s", body)
	}
	// A second login replaces the browser's session: the first cookie
	// no longer works.
	u, _ := url.Parse(rg.srv.URL)
	first := c.Jar.Cookies(u)
	rg.login(c, tokenRain)
	stale := rg.client()
	stale.Jar.SetCookies(u, first)
	if resp, _ := rg.do(stale, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session a second login replaced still works: %d", resp.StatusCode)
	}
	// A reload without the rain token: the same Sessions, new tokens.
	next, err := New(Options{Runs: rg.ui.opts.Runs, Tokens: testTokens[:1], Sessions: rg.ss})
	if err != nil {
		t.Fatal(err)
	}
	rg.srv.Config.Handler = next
	if resp, _ := rg.do(c, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a session of a removed token: %d, want 303", resp.StatusCode)
	}
	// Idle sessions end.
	c2 := rg.client()
	rg.login(c2, tokenAll)
	now := time.Now()
	rg.ss.mu.Lock()
	rg.ss.now = func() time.Time { return now.Add(SessionIdle + time.Minute) }
	rg.ss.mu.Unlock()
	if resp, _ := rg.do(c2, "GET", "/ui/runs", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an idle session: %d, want 303", resp.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/runs?status=failed": "/ui/runs?status=failed",
		"/ui":                    "/ui",
		"//evil.example":         "/ui/runs",
		"https://evil.example":   "/ui/runs",
		"/v1/runs":               "/ui/runs",
		"/ui\\evil":              "/ui/runs",
		"":                       "/ui/runs",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// An event stream ends once its session does: logging out in another tab
// stops the data.
func TestStreamEndsWithItsSession(t *testing.T) {
	rg := newRig(t)
	c := rg.client()
	rg.login(c, tokenAll)
	_, page := rg.do(c, "GET", "/ui/runs", nil, "")
	csrf := csrfField.FindStringSubmatch(page)[1]
	resp, err := c.Get(rg.srv.URL + "/ui/runs/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	lines := sseEvents(resp.Body)
	if first := <-lines; !strings.HasPrefix(first, "event: html\n") || !strings.Contains(first, "No runs match") {
		t.Fatalf("first event: %q", first)
	}
	if resp, _ := rg.do(c, "POST", "/ui/logout", url.Values{"csrf": {csrf}}, rg.srv.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for ev := range lines {
		if strings.HasPrefix(ev, "event: end\n") {
			if !strings.Contains(ev, "session ended") {
				t.Errorf("end event: %q", ev)
			}
			return
		}
		if strings.HasPrefix(ev, "event: html") {
			t.Errorf("data after the logout: %q", ev)
		}
	}
	t.Error("the stream closed without an end event")
}

// sseEvents splits an event stream into its events ("event: ...\ndata:
// ..."); the channel closes with the stream.
func sseEvents(body io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		b := make([]byte, 4096)
		var acc string
		for {
			n, err := body.Read(b)
			acc += string(b[:n])
			for {
				i := strings.Index(acc, "\n\n")
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+2:]
			}
			if err != nil {
				return
			}
		}
	}()
	return lines
}

// The streams end when the daemon begins to stop.
func TestStreamEndsWhenTheDaemonStops(t *testing.T) {
	rg := newRig(t)
	stopping := make(chan struct{})
	next, err := New(Options{Runs: rg.ui.opts.Runs, Tokens: testTokens, Sessions: rg.ss, Stopping: stopping})
	if err != nil {
		t.Fatal(err)
	}
	rg.srv.Config.Handler = next
	c := rg.client()
	rg.login(c, tokenAll)
	resp, err := c.Get(rg.srv.URL + "/ui/runs/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := sseEvents(resp.Body)
	if first := <-lines; !strings.HasPrefix(first, "event: html\n") {
		t.Fatalf("first event: %q", first)
	}
	close(stopping)
	for ev := range lines {
		if strings.HasPrefix(ev, "event: end\n") {
			if !strings.Contains(ev, "stopping") {
				t.Errorf("end event: %q", ev)
			}
			return
		}
	}
	t.Error("the stream closed without an end event")
}

// A daemon without api_tokens says on its login page that nobody can log
// in, and how to make a token.
func TestLoginWithoutTokens(t *testing.T) {
	rg := newRig(t)
	next, err := New(Options{Runs: rg.ui.opts.Runs, Sessions: rg.ss})
	if err != nil {
		t.Fatal(err)
	}
	rg.srv.Config.Handler = next
	c := rg.client()
	if _, body := rg.do(c, "GET", "/ui/login", nil, ""); !strings.Contains(body, "has no API tokens") || !strings.Contains(body, "mediator daemon token create") {
		t.Errorf("login page without tokens: %s", body)
	}
	if resp, _ := rg.do(c, "POST", "/ui/login", url.Values{"token": {tokenAll}}, rg.srv.URL); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a login without tokens configured: %d, want 401", resp.StatusCode)
	}
}
