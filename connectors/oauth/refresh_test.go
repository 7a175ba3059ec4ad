package oauth

import (
	"sync"
	"testing"
	"time"
)

// TestSecondProcessAdoptsTheRotatedToken: two handlers (two mediator
// processes) share the keyring. The first refreshes and the authorization
// server rotates the refresh token; the second, finding its token expired
// too, takes the stored one instead of spending the dead refresh token and
// losing the login.
func TestSecondProcessAdoptsTheRotatedToken(t *testing.T) {
	a := newTestAS(t)
	store := NewMemoryStore()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p1 := newTestHandler(t, a, func(c *Config) { c.Store = store; c.Now = clock })
	if _, err := connect(t, testContext(t), a, p1); err != nil {
		t.Fatal(err)
	}
	p2 := newTestHandler(t, a, func(c *Config) { c.Store = store; c.Now = clock; c.Fetcher = nil })
	if _, err := connect(t, testContext(t), a, p2); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	t1, err := p1.token(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t2, err := p2.token(testContext(t))
	if err != nil {
		t.Fatalf("the second process lost the login: %v", err)
	}
	if t1.AccessToken != t2.AccessToken {
		t.Error("the second process did not take the token the first one stored")
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Refreshes != 1 {
		t.Errorf("%d refreshes, want 1", a.Refreshes)
	}
}
