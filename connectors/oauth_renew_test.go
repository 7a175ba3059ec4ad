package connectors

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
)

// shortLogin logs in to an authorization server whose access tokens live
// ttl, and returns a connector (another process) on the stored login.
func shortLogin(t *testing.T, as *oauthtest.Server, ttl time.Duration) *Connector {
	t.Helper()
	as.Mu.Lock()
	as.TokenTTL = ttl
	as.Mu.Unlock()
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "bank", as)
	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("bank"), Login: headlessLogin()})
	if err := login.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()
	c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("bank")})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitRenewals waits until the connector has renewed its token n times.
func waitRenewals(t *testing.T, c *Connector, n int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.Status().OAuthRenewals.OK < n {
		select {
		case <-tick.C:
		case <-testCtx(t).Done():
			t.Fatalf("%d renewals, waited for %d", c.Status().OAuthRenewals.OK, n)
		}
	}
}

// A connector renews its OAuth token ahead of expiry on its own: idle
// over a lifetime of a 3 s token it renews it (300 ms before its end),
// and with calls going through over two more lifetimes the resource
// server never sees an expired token, nor a call an auth failure. Each
// renewal is one refresh at the authorization server (rotating refresh
// tokens).
func TestOAuthRenewsAheadOfExpiry(t *testing.T) {
	as := oauthtest.New(t)
	c := shortLogin(t, as, 3*time.Second)
	waitRenewals(t, c, 1) // idle: no call asks for a token

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls int
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.CallTool(testCtx(t), "whoami", nil, nil); err != nil {
				t.Errorf("call %d: %v", calls, err)
				return
			}
			calls++
		}
	})
	waitRenewals(t, c, 3)
	close(stop)
	wg.Wait()

	as.Mu.Lock()
	defer as.Mu.Unlock()
	st := c.Status()
	if as.PresentedExpired != 0 {
		t.Errorf("the resource server saw %d expired tokens", as.PresentedExpired)
	}
	if st.State != StateReady || st.OAuthRenewals.Refused != 0 || st.OAuthRenewals.Failed != 0 {
		t.Errorf("status %s, renewals %+v", st.State, st.OAuthRenewals)
	}
	if as.Refreshes != st.OAuthRenewals.OK {
		t.Errorf("the authorization server saw %d refreshes, the connector counts %d", as.Refreshes, st.OAuthRenewals.OK)
	}
	if calls == 0 {
		t.Error("no call was made")
	}
}

// A refresh token revoked at the authorization server: the next renewal
// is refused, the connector turns auth-required saying the login expired
// and how to log in again, and its calls fail with KindAuth at once.
func TestOAuthRevokedRefreshTokenIsLoginExpired(t *testing.T) {
	as := oauthtest.New(t)
	c := shortLogin(t, as, 2*time.Second)
	as.RevokeRefreshTokens()
	st, err := c.WaitFor(testCtx(t), StateAuthRequired)
	if err != nil {
		t.Fatal(err)
	}
	if msg := st.Err.Error(); !strings.Contains(msg, "the login has expired") || !strings.Contains(msg, "mediator auth login bank") {
		t.Errorf("status error: %s", msg)
	}
	if st.OAuthRenewals.Refused != 1 || st.OAuthRenewals.OK != 0 {
		t.Errorf("renewals %+v", st.OAuthRenewals)
	}
	_, err = c.CallTool(testCtx(t), "whoami", nil, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindAuth {
		t.Errorf("a call after the login expired: %v", err)
	}
}
