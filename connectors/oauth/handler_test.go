package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
)

func TestAuthorizationCodeFlowEndToEnd(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, nil)
	ctx := testContext(t)
	cs, err := connect(t, ctx, a, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	q := a.LastAuthRequest()
	if q == nil {
		t.Fatal("no authorization request reached the AS")
	}
	for k, want := range map[string]string{"code_challenge_method": "S256", "resource": a.MCPURL(), "response_type": "code", "client_id": "dcr-client", "scope": "tools"} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("state")) < 16 {
		t.Errorf("state %q is too short to be unguessable", q.Get("state"))
	}
	a.Mu.Lock()
	tr := a.TokenRequests[0]
	a.Mu.Unlock()
	v := tr.Get("code_verifier")
	if len(v) < 43 || len(v) > 128 {
		t.Errorf("verifier length %d is outside RFC 7636's 43..128", len(v))
	}
	sum := sha256.Sum256([]byte(v))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
		t.Error("code_challenge is not S256(code_verifier)")
	}
	if tr.Get("resource") != a.MCPURL() {
		t.Errorf("token request resource = %q", tr.Get("resource"))
	}
	st := h.Status()
	if !st.Authorized || st.Issuer != a.Issuer() || st.ClientID != "dcr-client" || st.Resource != a.MCPURL() {
		t.Errorf("status %+v", st)
	}
	if s := fmt.Sprintf("%+v", st); strings.Contains(s, "at-") {
		t.Errorf("status prints a token: %s", s)
	}
}

func TestRefusesWithoutPKCES256(t *testing.T) {
	for name, methods := range map[string][]string{"absent": nil, "plain only": {"plain"}} {
		t.Run(name, func(t *testing.T) {
			a := newTestAS(t)
			a.PKCEMethods = methods
			h := newTestHandler(t, a, nil)
			_, err := connect(t, testContext(t), a, h)
			if err == nil || !strings.Contains(err.Error(), "PKCE S256") {
				t.Fatalf("err = %v, want a PKCE refusal", err)
			}
			if a.LastAuthRequest() != nil {
				t.Error("an authorization request was sent although S256 is not advertised")
			}
		})
	}
}

func TestStateMismatchDiscardsResponse(t *testing.T) {
	a := newTestAS(t)
	policy, _ := PolicyFor(a.MCPURL(), true)
	real := NewHeadlessFetcher(policy)
	h := newTestHandler(t, a, func(c *Config) {
		c.Fetcher = CodeFetcherFunc(func(ctx context.Context, r *AuthorizationRequest) (*AuthorizationResponse, error) {
			res, err := real.FetchCode(ctx, r)
			if err == nil {
				res.State = "forged"
			}
			return res, err
		})
	})
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !strings.Contains(err.Error(), "state does not match") {
		t.Fatalf("err = %v, want a state mismatch", err)
	}
	if g := a.TokenGrants(); len(g) != 0 {
		t.Errorf("the code was exchanged despite the state mismatch: %v", g)
	}
}

func TestIssTable(t *testing.T) {
	const issuer = "https://as.example/tenant"
	cases := []struct {
		name       string
		advertised bool
		iss        string
		ok         bool
	}{
		{"advertised and matching", true, issuer, true},
		{"advertised and missing", true, "", false},
		{"advertised and wrong", true, "https://evil.example/tenant", false},
		{"not advertised, present and matching", false, issuer, true},
		{"not advertised, present and wrong", false, "https://evil.example", false},
		{"not advertised, absent", false, "", true},
		{"trailing slash is not normalized", true, issuer + "/", false},
		{"case is not normalized", true, "https://AS.example/tenant", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkIss(c.iss, issuer, c.advertised)
			if (err == nil) != c.ok {
				t.Errorf("checkIss(%q, advertised=%v) = %v, want ok=%v", c.iss, c.advertised, err, c.ok)
			}
		})
	}
}

func TestWrongIssInResponseStopsBeforeTokenRequest(t *testing.T) {
	a := newTestAS(t)
	a.IssInResponse = func(issuer string) string { return issuer + "/" }
	h := newTestHandler(t, a, nil)
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !strings.Contains(err.Error(), "mix-up") {
		t.Fatalf("err = %v, want an iss mismatch", err)
	}
	if g := a.TokenGrants(); len(g) != 0 {
		t.Errorf("token requests after an iss mismatch: %v", g)
	}
}

func TestMetadataIssuerMustBeIdentical(t *testing.T) {
	a := newTestAS(t)
	a.IssuerOverride = a.Issuer() + "/" // trailing slash: still a different issuer
	h := newTestHandler(t, a, nil)
	_, err := connect(t, testContext(t), a, h)
	if err == nil || !strings.Contains(err.Error(), "refusing to use it") {
		t.Fatalf("err = %v, want an issuer mismatch", err)
	}
}

func TestRegistrationIsReusedAndSecretSentBasic(t *testing.T) {
	a := newTestAS(t)
	a.ClientSecret = "s3cr&t" // needs form-encoding inside Basic
	store := NewMemoryStore()
	for range 2 {
		h := newTestHandler(t, a, func(c *Config) { c.Store = store })
		if _, err := connect(t, testContext(t), a, h); err != nil {
			t.Fatal(err)
		}
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Registrations != 1 {
		t.Errorf("registrations = %d, want 1 (the stored one reused)", a.Registrations)
	}
}

func TestPreRegisteredClientWinsOverDCR(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, func(c *Config) {
		c.Client = &ClientConfig{ClientID: "configured", Issuer: a.Issuer()}
	})
	_, _ = connect(t, testContext(t), a, h)
	if q := a.LastAuthRequest(); q == nil || q.Get("client_id") != "configured" {
		t.Fatalf("authorization request %v, want client_id=configured", q)
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Registrations != 0 {
		t.Errorf("dynamic registration ran although a client was configured")
	}
}

func TestPreRegisteredClientForAnotherIssuerIsNotUsed(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, func(c *Config) {
		c.Client = &ClientConfig{ClientID: "configured", Issuer: "https://other-as.example"}
	})
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	if q := a.LastAuthRequest(); q.Get("client_id") != "dcr-client" {
		t.Errorf("client_id = %q; a client bound to another AS was used", q.Get("client_id"))
	}
}

// TestRefreshIsSingleFlight: 50 callers hit an expiring token at once; the
// AS sees exactly one refresh and everyone gets the new token.
func TestRefreshIsSingleFlight(t *testing.T) {
	a := newTestAS(t)
	var mu sync.Mutex
	now := time.Now()
	h := newTestHandler(t, a, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	first, err := h.token(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour) // past expiry
	mu.Unlock()

	const callers = 50
	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			tok, err := h.token(context.Background())
			errs[i] = err
			if err == nil {
				got[i] = tok.AccessToken
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] == first.AccessToken || got[i] != got[0] {
			t.Fatalf("caller %d got a stale or different token", i)
		}
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Refreshes != 1 {
		t.Errorf("refreshes at the AS = %d, want 1", a.Refreshes)
	}
	if last := a.TokenRequests[len(a.TokenRequests)-1]; last.Get("resource") != a.MCPURL() {
		t.Errorf("refresh request resource = %q, want %q", last.Get("resource"), a.MCPURL())
	}
}

// failingStore refuses to save once armed, like a locked keyring.
type failingStore struct {
	*MemoryStore
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) SaveToken(ctx context.Context, k TokenKey, t *Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("keyring locked")
	}
	return s.MemoryStore.SaveToken(ctx, k, t)
}

func TestRotatedTokenNotUsedWhenItCannotBeSaved(t *testing.T) {
	a := newTestAS(t)
	store := &failingStore{MemoryStore: NewMemoryStore()}
	var mu sync.Mutex
	now := time.Now()
	h := newTestHandler(t, a, func(c *Config) {
		c.Store = store
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.fail = true
	store.mu.Unlock()
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if tok, err := h.token(testContext(t)); err == nil || !strings.Contains(err.Error(), "not using it") {
		t.Fatalf("token() = %v, %v; want a save failure", tok, err)
	}
}

func TestStoredTokenSurvivesRestart(t *testing.T) {
	a := newTestAS(t)
	store := NewMemoryStore()
	h1 := newTestHandler(t, a, func(c *Config) { c.Store = store })
	if _, err := connect(t, testContext(t), a, h1); err != nil {
		t.Fatal(err)
	}
	h2 := newTestHandler(t, a, func(c *Config) { c.Store = store })
	if _, err := connect(t, testContext(t), a, h2); err != nil {
		t.Fatal(err)
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if len(a.AuthRequests) != 1 {
		t.Errorf("authorization requests = %d, want 1 (the second handler reuses the stored token)", len(a.AuthRequests))
	}
}

func TestExpiredAtServerRefreshesOn401(t *testing.T) {
	a := newTestAS(t)
	h := newTestHandler(t, a, nil)
	ctx := testContext(t)
	cs, err := connect(t, ctx, a, h)
	if err != nil {
		t.Fatal(err)
	}
	a.ExpireAll()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if h.Refreshes() != 1 {
		t.Errorf("refreshes = %d, want 1", h.Refreshes())
	}
	if len(a.AuthRequests) != 1 {
		t.Errorf("a new login ran instead of a refresh")
	}
}

func TestStepUpLimit(t *testing.T) {
	h := &Handler{cfg: Config{ServerName: "s"}, stepUps: map[string][]time.Time{}}
	for i := range 3 {
		if err := h.countStepUp("tools/call x"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
	}
	if err := h.countStepUp("tools/call x"); err == nil {
		t.Fatal("a 4th step-up was allowed")
	}
	if err := h.countStepUp("tools/call y"); err != nil {
		t.Fatalf("another operation was refused: %v", err)
	}
}

// TestCanaryNeverInErrorsOrLogs drives failure paths with canary secrets
// and checks neither errors nor logs carry them.
func TestCanaryNeverInErrorsOrLogs(t *testing.T) {
	const canary = "CANARY-7f3a9c"
	a := newTestAS(t)
	a.ClientSecret = canary + "-secret"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var errs []error
	// 1. Token endpoint refuses the client (wrong secret in a configured client).
	h := newTestHandler(t, a, func(c *Config) {
		c.Logger = logger
		c.Client = &ClientConfig{ClientID: "dcr-client", ClientSecret: credentials.NewSecret(canary + "-wrong")}
	})
	_, err := connect(t, testContext(t), a, h)
	errs = append(errs, err)
	// 2. State mismatch with a canary code.
	h = newTestHandler(t, a, func(c *Config) {
		c.Logger = logger
		c.Fetcher = CodeFetcherFunc(func(context.Context, *AuthorizationRequest) (*AuthorizationResponse, error) {
			return &AuthorizationResponse{Code: canary + "-code", State: canary + "-state"}, nil
		})
	})
	_, err = connect(t, testContext(t), a, h)
	errs = append(errs, err)
	// 3. A fetcher error that is not ours must pass through, but our own
	// wrapping adds nothing secret; 4. refresh failure after token theft.
	h = newTestHandler(t, a, func(c *Config) { c.Logger = logger })
	if _, err := connect(t, testContext(t), a, h); err != nil {
		t.Fatal(err)
	}
	a.Mu.Lock()
	a.NoRefresh = true
	a.Mu.Unlock()
	a.ExpireAll()
	h.mu.Lock()
	h.sess.token.Expiry = time.Now().Add(-time.Minute)
	h.mu.Unlock()
	_, err = h.token(testContext(t))
	errs = append(errs, err)

	a.Mu.Lock()
	var secrets []string
	for _, f := range a.TokenRequests {
		for _, k := range []string{"code", "code_verifier", "refresh_token", "client_secret"} {
			if v := f.Get(k); v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	a.Mu.Unlock()
	secrets = append(secrets, a.Issued()...)
	secrets = append(secrets, canary)
	for i, err := range errs {
		if err == nil {
			t.Errorf("failure path %d did not fail", i+1)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error of path %d carries a secret: %v", i+1, err)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs carry a secret")
		}
	}
}

func TestKeyringStoreRoundTrip(t *testing.T) {
	ctx := testContext(t)
	cs, err := credentials.Open(ctx, credentials.Options{Backend: "file", FileDir: t.TempDir(), Passphrase: func(string) (string, error) { return "test-passphrase", nil }})
	if err != nil {
		t.Skipf("file keyring unavailable: %v", err)
	}
	s := &KeyringStore{Secrets: cs}
	key := TokenKey{Server: "srv", Issuer: "https://as.example", ClientID: "c1", Resource: "https://mcp.example/mcp"}
	tok := &Token{AccessToken: credentials.NewSecret("at-1"), RefreshToken: credentials.NewSecret("rt-1"), TokenType: "Bearer", Expiry: time.Unix(2e9, 0).UTC(), Scopes: []string{"a"}}
	if err := s.SaveToken(ctx, key, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadToken(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken.Reveal() != "at-1" || got.RefreshToken.Reveal() != "rt-1" || !got.Expiry.Equal(tok.Expiry) {
		t.Errorf("round trip: %+v", got)
	}
	other := key
	other.Issuer = "https://other-as.example"
	if _, err := s.LoadToken(ctx, other); !errors.Is(err, ErrNotStored) {
		t.Errorf("token found under another issuer: %v", err)
	}
	if err := s.SaveRegistration(ctx, "srv", &Registration{Issuer: key.Issuer, ClientID: "c1", ClientSecret: credentials.NewSecret("cs")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "srv"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadToken(ctx, key); !errors.Is(err, ErrNotStored) {
		t.Errorf("token survived Forget: %v", err)
	}
	if _, err := s.LoadRegistration(ctx, "srv", key.Issuer); !errors.Is(err, ErrNotStored) {
		t.Errorf("registration survived Forget: %v", err)
	}
}

func TestTwoServersEachGetOnlyTheirToken(t *testing.T) {
	a1, a2 := newTestAS(t), newTestAS(t)
	store := NewMemoryStore() // shared, as the keyring is
	h1 := newTestHandler(t, a1, func(c *Config) { c.Store = store; c.ServerName = "one" })
	h2 := newTestHandler(t, a2, func(c *Config) { c.Store = store; c.ServerName = "two" })
	if _, err := connect(t, testContext(t), a1, h1); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, testContext(t), a2, h2); err != nil {
		t.Fatal(err)
	}
	issued1, issued2 := a1.Issued(), a2.Issued()
	seen := func(a *testAS) []string {
		a.Mu.Lock()
		defer a.Mu.Unlock()
		var out []string
		for _, v := range a.Presented {
			if v != "" {
				out = append(out, strings.TrimPrefix(v, "Bearer "))
			}
		}
		return out
	}
	seen1, seen2 := seen(a1), seen(a2)
	for _, v := range seen1 {
		if slices.Contains(issued2, v) {
			t.Error("server one received a token of server two")
		}
	}
	for _, v := range seen2 {
		if slices.Contains(issued1, v) {
			t.Error("server two received a token of server one")
		}
	}
	if len(seen1) == 0 || len(seen2) == 0 {
		t.Error("no authenticated requests observed")
	}
}

var _ = httptest.NewServer
