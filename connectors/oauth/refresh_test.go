package oauth

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/filelock"
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

// TestProcessesTakeTurnsToRefresh: three handlers (three mediator
// processes) on one store find their tokens expired at once. With the
// refresh lock one refreshes and the others take the token it stored, so
// a rotating authorization server sees one refresh and nobody presents a
// retired refresh token.
func TestProcessesTakeTurnsToRefresh(t *testing.T) {
	a := newTestAS(t)
	a.Rotate = true
	store := NewMemoryStore()
	lockDir := t.TempDir()
	refreshLock := func(ctx context.Context, server string) (func(), error) {
		return filelock.LockPath(ctx, filepath.Join(lockDir, server+".lock"))
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var hs []*Handler
	for i := range 3 {
		h := newTestHandler(t, a, func(c *Config) {
			c.Store, c.Now, c.RefreshLock = store, clock, refreshLock
			if i > 0 {
				c.Fetcher = nil // only the first logs in
			}
		})
		if _, err := connect(t, testContext(t), a, h); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	tokens := make([]string, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			tok, err := h.token(testContext(t))
			if err != nil {
				t.Errorf("process %d: %v", i, err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if tokens[0] == "" || tokens[0] != tokens[1] || tokens[1] != tokens[2] {
		t.Errorf("the processes ended with different tokens")
	}
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if a.Refreshes != 1 {
		t.Errorf("%d refreshes, want 1", a.Refreshes)
	}
}
