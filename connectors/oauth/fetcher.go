package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// AuthorizationRequest is what a CodeFetcher gets: the URL to send the
// user's browser to, and where the answer will arrive.
type AuthorizationRequest struct {
	// URL is the full authorization URL. It carries state and the PKCE
	// challenge, never the verifier.
	URL         string
	RedirectURL string
	// State is the value the response must carry back. Fetchers that
	// receive many requests (a listener) use it to pick the right one.
	State string
	// Issuer is the authorization server, for display.
	Issuer string

	// guard is the handler's SSRF policy, for fetchers that fetch the URL
	// themselves.
	guard *GuardPolicy
}

// AuthorizationResponse is the redirect's query (RFC 6749 §4.1.2, RFC 9207).
type AuthorizationResponse struct {
	Code             string
	State            string
	Iss              string
	Error            string
	ErrorDescription string
}

// CodeFetcher obtains the authorization response for one authorization
// request: by a browser and a loopback listener for a person, by a plain
// GET for the headless mock authorization server of the conformance suite.
type CodeFetcher interface {
	FetchCode(ctx context.Context, req *AuthorizationRequest) (*AuthorizationResponse, error)
}

// CodeFetcherFunc adapts a function to CodeFetcher.
type CodeFetcherFunc func(ctx context.Context, req *AuthorizationRequest) (*AuthorizationResponse, error)

func (f CodeFetcherFunc) FetchCode(ctx context.Context, req *AuthorizationRequest) (*AuthorizationResponse, error) {
	return f(ctx, req)
}

func responseFromQuery(q url.Values) *AuthorizationResponse {
	return &AuthorizationResponse{
		Code:             q.Get("code"),
		State:            q.Get("state"),
		Iss:              q.Get("iss"),
		Error:            q.Get("error"),
		ErrorDescription: q.Get("error_description"),
	}
}

// HeadlessFetcher is a user agent for authorization servers that answer the
// authorization request with an immediate redirect (the conformance suite's
// mock, or an SSO session that needs no interaction): it GETs the URL
// without following the redirect and reads the response from Location.
//
// The zero value fetches through the SSRF policy of the handler that asks
// it (with that handler's TLS settings); NewHeadlessFetcher fixes a policy.
type HeadlessFetcher struct {
	client *http.Client
}

// NewHeadlessFetcher fetches through the guarded policy.
func NewHeadlessFetcher(policy GuardPolicy) *HeadlessFetcher {
	return &HeadlessFetcher{client: noRedirects(policy)}
}

func noRedirects(policy GuardPolicy) *http.Client {
	c := policy.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (f *HeadlessFetcher) FetchCode(ctx context.Context, ar *AuthorizationRequest) (*AuthorizationResponse, error) {
	client := f.client
	if client == nil {
		if ar.guard == nil {
			return nil, errors.New("headless user agent: no SSRF policy (use NewHeadlessFetcher, or a Handler's request)")
		}
		client = noRedirects(*ar.guard)
		defer client.CloseIdleConnections()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ar.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("authorization URL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("requesting the authorization endpoint: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return nil, fmt.Errorf("authorization endpoint answered %s without a redirect: it needs a person (use the browser login)", resp.Status)
	}
	lu, err := req.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("authorization endpoint redirected to an unparsable Location")
	}
	if !sameEndpoint(lu, ar.RedirectURL) {
		return nil, fmt.Errorf("authorization endpoint redirected to %s, not to the redirect URI %s", redactURL(lu), ar.RedirectURL)
	}
	return responseFromQuery(lu.Query()), nil
}

func sameEndpoint(u *url.URL, want string) bool {
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, w.Scheme) && strings.EqualFold(u.Host, w.Host) && u.Path == w.Path
}

// LoopbackFetcher is the interactive login of RFC 8252: it opens the
// system browser on the authorization URL and waits for one redirect on a
// listener bound to 127.0.0.1 at the redirect URI's port.
type LoopbackFetcher struct {
	// Open shows the URL to the user. Nil means OpenBrowser.
	Open func(ctx context.Context, authURL string) error
	// Timeout bounds the wait for the user; zero means 5 minutes.
	Timeout time.Duration
}

func (f *LoopbackFetcher) FetchCode(ctx context.Context, ar *AuthorizationRequest) (*AuthorizationResponse, error) {
	ru, err := url.Parse(ar.RedirectURL)
	if err != nil || ru.Scheme != "http" || !isLoopbackHost(ru.Hostname()) {
		return nil, fmt.Errorf("redirect URI %q must be http://127.0.0.1:PORT/path for the browser login", ar.RedirectURL)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", ru.Port()))
	if err != nil {
		return nil, fmt.Errorf("listening for the login redirect on 127.0.0.1:%s (is another login running? else configure a free port in the redirect URI): %w", ru.Port(), err)
	}
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	got := make(chan *AuthorizationResponse, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != ru.Path || r.Method != http.MethodGet {
				http.NotFound(w, r)
				return
			}
			res := responseFromQuery(r.URL.Query())
			// Only the response to this request ends the wait; anything else
			// on the port (a stale tab, a probe) is turned away.
			if subtle.ConstantTimeCompare([]byte(res.State), []byte(ar.State)) != 1 {
				http.Error(w, "unexpected state", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			msg := "Login complete. You can close this tab."
			if res.Error != "" {
				msg = "Login failed: " + res.Error
			}
			fmt.Fprintf(w, "<!doctype html><title>mediator</title><p>%s</p>", html.EscapeString(msg))
			select {
			case got <- res:
			default:
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	// Shutdown, not Close: the answer reached this function before the
	// handler returned, and Close would cut the "Login complete" page off
	// mid-write. Shutdown closes the listener at once (one-shot) and waits,
	// briefly, for that response to finish.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()

	open := f.Open
	if open == nil {
		open = OpenBrowser
	}
	if err := open(ctx, ar.URL); err != nil {
		return nil, err
	}
	select {
	case res := <-got:
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the login redirect: %w", ctx.Err())
	}
}

// OpenBrowser opens an https (or loopback http) URL in the system browser
// without a shell.
func OpenBrowser(ctx context.Context, authURL string) error {
	u, err := url.Parse(authURL)
	if err != nil {
		return errors.New("authorization URL does not parse")
	}
	if !(u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		return fmt.Errorf("refusing to open authorization URL with scheme %q", u.Scheme)
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.CommandContext(ctx, "open", u.String())
	case "windows":
		cmd = exec.CommandContext(ctx, "rundll32", "url.dll,FileProtocolHandler", u.String())
	default:
		cmd = exec.CommandContext(ctx, "xdg-open", u.String())
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("opening the browser: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
