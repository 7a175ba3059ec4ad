package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// deviceUser plays the person at the other device: it records what the
// prompt showed and opens the verification URI (approving the login).
type deviceUser struct {
	t       *testing.T
	mu      sync.Mutex
	shown   []*DeviceAuthorization
	approve bool
	deny    bool
}

func (u *deviceUser) prompt(ctx context.Context, da *DeviceAuthorization) error {
	u.mu.Lock()
	u.shown = append(u.shown, da)
	u.mu.Unlock()
	if !u.approve && !u.deny {
		return nil
	}
	target := da.VerificationURIComplete
	if u.deny {
		target += "&deny=1"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		u.t.Errorf("opening the verification URI: %s", resp.Status)
	}
	return nil
}

// sleeps records the waits between polls instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newDeviceHandler(t *testing.T, a *testAS, u *deviceUser, sl *sleeps) *Handler {
	return newTestHandler(t, a, func(c *Config) {
		c.Fetcher = nil
		c.Device = u.prompt
		c.Sleep = sl.sleep
	})
}

func TestDeviceGrantLogsIn(t *testing.T) {
	a := newTestAS(t)
	a.Device = true
	a.DeviceScript = []string{"authorization_pending", "slow_down", "authorization_pending"}
	u := &deviceUser{t: t, approve: true}
	sl := &sleeps{}
	h := newDeviceHandler(t, a, u, sl)
	ctx := testContext(t)
	cs, err := connect(t, ctx, a, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if len(u.shown) != 1 {
		t.Fatalf("the prompt was shown %d times, want once", len(u.shown))
	}
	da := u.shown[0]
	if da.Issuer != a.Issuer() || da.UserCode == "" || !strings.HasPrefix(da.VerificationURI, a.URL()) {
		t.Errorf("prompt = %+v", da)
	}
	a.Mu.Lock()
	dr := a.DeviceRequests[0]
	polls := a.DevicePolls
	a.Mu.Unlock()
	if dr.Get("resource") != a.MCPURL() || dr.Get("client_id") != "dcr-client" || dr.Get("scope") != "tools" {
		t.Errorf("device authorization request = %v", dr)
	}
	if polls != 4 {
		t.Errorf("%d polls, want 4 (pending, slow_down, pending, token)", polls)
	}
	// The server's interval is 1 s; slow_down adds 5 s to every later poll.
	want := []time.Duration{time.Second, time.Second, 6 * time.Second, 6 * time.Second}
	if len(sl.d) != len(want) {
		t.Fatalf("waits %v, want %v", sl.d, want)
	}
	for i := range want {
		if sl.d[i] != want[i] {
			t.Fatalf("waits %v, want %v", sl.d, want)
		}
	}
	if g := a.TokenGrants(); g[len(g)-1] != grantDeviceCode {
		t.Errorf("grants %v", g)
	}
	if st := h.Status(); !st.Authorized || st.ClientID != "dcr-client" {
		t.Errorf("status %+v", st)
	}
}

func TestDeviceGrantFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		script  []string
		deny    bool
		offered bool
		want    string
	}{
		"expired":     {script: []string{"authorization_pending", "expired_token"}, offered: true, want: "device code expired"},
		"denied":      {deny: true, offered: true, want: "denied"},
		"not offered": {offered: false, want: "does not offer the device authorization grant"},
		"other error": {script: []string{"invalid_client"}, offered: true, want: "invalid_client"},
	} {
		t.Run(name, func(t *testing.T) {
			a := newTestAS(t)
			a.Device = tc.offered
			a.DeviceScript = tc.script
			u := &deviceUser{t: t, deny: tc.deny}
			h := newDeviceHandler(t, a, u, &sleeps{})
			_, err := connect(t, testContext(t), a, h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			var ae *AuthorizationError
			if !errors.As(err, &ae) {
				t.Errorf("the go-sdk error does not carry the *AuthorizationError: %v", err)
			}
			if h.Status().Authorized {
				t.Error("authorized after a failed device login")
			}
		})
	}
}

func TestDeviceGrantGivesUpWhenTheCodeExpires(t *testing.T) {
	a := newTestAS(t)
	a.Device = true
	a.DeviceTTL = 1
	u := &deviceUser{t: t} // never approves
	h := newTestHandler(t, a, func(c *Config) {
		c.Fetcher = nil
		c.Device = u.prompt
		// Every wait lasts until the code's lifetime is over.
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			<-ctx.Done()
			return ctx.Err()
		}
	})
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !strings.Contains(err.Error(), "not approved before the code expired") {
		t.Fatalf("err = %v, want the code's expiry", err)
	}
}

func TestDeviceVerificationURIMustBeSafeToShow(t *testing.T) {
	h := &Handler{policy: GuardPolicy{}}
	for _, bad := range []string{"javascript:alert(1)", "http://example.com/verify", "https://example.com/\x1b[2Jverify", "file:///etc/passwd", "https://user@example.com/", ""} {
		if err := h.checkDisplayURL(bad); err == nil {
			t.Errorf("%q was accepted as a verification URI", bad)
		}
	}
	if err := h.checkDisplayURL("https://example.com/device"); err != nil {
		t.Error(err)
	}
}
