package oauth

import (
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// A token is renewed RefreshBefore (a minute) ahead of its expiry, or a
// tenth of its lifetime ahead when that is shorter, so that a token
// living 30 s is not renewed at every use; without its issue time (a
// token stored before it was kept) the minute holds. The keyring keeps
// the issue time.
func TestRenewMargin(t *testing.T) {
	h, err := New(Config{ServerName: "m", ServerURL: "https://mcp.example/mcp", RedirectURL: "http://127.0.0.1:7777/callback"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		issued time.Time
		life   time.Duration
		before time.Duration
	}{
		{t0, time.Hour, time.Minute},
		{t0, 30 * time.Second, 3 * time.Second},
		{t0, 10 * time.Minute, time.Minute},
		{time.Time{}, 30 * time.Second, time.Minute},
	} {
		tok := &Token{AccessToken: credentials.NewSecret("at"), Issued: tc.issued, Expiry: t0.Add(tc.life)}
		if got := h.renewAt(tok); !got.Equal(tok.Expiry.Add(-tc.before)) {
			t.Errorf("a token of %v (issued %v) is renewed %v before its expiry, want %v", tc.life, !tc.issued.IsZero(), tok.Expiry.Sub(got), tc.before)
		}
	}
	if _, ok := h.RenewAt(); ok {
		t.Error("a handler without a token has a renewal time")
	}

	ctx := testContext(t)
	cs, err := credentials.Open(ctx, credentials.Options{Backend: "file", FileDir: t.TempDir(), Passphrase: func(string) (string, error) { return "test-passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	s := &KeyringStore{Secrets: cs}
	key := TokenKey{Server: "m", Issuer: "https://as.example", ClientID: "c1", Resource: "https://mcp.example/mcp"}
	if err := s.SaveToken(ctx, key, &Token{AccessToken: credentials.NewSecret("at"), TokenType: "Bearer", Issued: t0, Expiry: t0.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadToken(ctx, key)
	if err != nil || !got.Issued.Equal(t0) {
		t.Errorf("the keyring lost the issue time: %v, %v", got, err)
	}
}
