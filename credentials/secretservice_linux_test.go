package credentials

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/99designs/keyring"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// secretServiceOpener starts gnome-keyring's Secret Service on a private
// bus and opens stores on it with "auto", checking auto picks it.
func secretServiceOpener(t *testing.T) openFunc {
	ss := testenv.StartSecretService(t)
	return func(t *testing.T, opts Options) *Store {
		t.Helper()
		opts.Backend, opts.Env = BackendAuto, ss.Lookup
		s := mustOpen(t, opts)
		if s.Backend() != BackendSecretService {
			t.Fatalf("auto picked %s, want secret-service", s.Backend())
		}
		return s
	}
}

// withoutHang runs f and fails the test if it does not return: every
// D-Bus call is bounded, so f must come back with an answer or an error.
// The bound is a guard against hangs, not a performance threshold.
func withoutHang[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s hung", what)
		panic("unreachable")
	}
}

// storeOps runs every store operation and returns their errors by name.
func storeOps(t *testing.T, s *Store) map[string]error {
	t.Helper()
	errs := map[string]error{}
	errs["Get"] = withoutHang(t, "Get", func() error { _, err := s.Get("weather", "api-key"); return err })
	errs["Set"] = withoutHang(t, "Set", func() error { return s.Set("weather", "other", NewSecret("another-value")) })
	errs["List"] = withoutHang(t, "List", func() error { _, err := s.List(""); return err })
	errs["Remove"] = withoutHang(t, "Remove", func() error { return s.Remove("weather", "api-key") })
	errs["AuditKey"] = withoutHang(t, "AuditKey", func() error { _, err := s.AuditKey(t.Context(), true); return err })
	return errs
}

// With a Secret Service on the session bus, auto picks it over the file
// backend; items land in the login collection (also reachable through
// the default alias), one item per (server, name), in the format earlier
// versions wrote, and the canary leaves nothing behind.
func TestSecretServiceAutoPicksIt(t *testing.T) {
	ss := testenv.StartSecretService(t)
	opts := Options{Env: ss.Lookup, FileDir: t.TempDir(), Passphrase: fixedPassphrase(testPassphrase)}
	s := mustOpen(t, opts)
	if s.Backend() != BackendSecretService || s.Location() != "collection login" {
		t.Fatalf("auto picked %s (%s); want secret-service (collection login)", s.Backend(), s.Location())
	}
	if all := ss.Items(t, map[string]string{}); len(all) != 0 {
		t.Errorf("opening left %d items in the collection (the canary must be gone)", len(all))
	}
	mustSet(t, s, "weather", "api-key", "first-value")
	mustSet(t, s, "weather", "api-key", "second-value")
	key := "mediator/weather/api-key"
	if items := ss.Items(t, map[string]string{"profile": key}); len(items) != 1 {
		t.Fatalf("two Sets of weather/api-key left %d items, want 1", len(items))
	}
	if got := mustGet(t, mustOpen(t, opts), "weather", "api-key"); got != "second-value" {
		t.Errorf("another process reads %q", got)
	}

	// An item written the way keyring v1.2.2 (earlier mediator versions)
	// wrote it, and a duplicate of the item above, as a service whose
	// replace does not match would leave.
	old, _ := json.Marshal(keyring.Item{Key: "mediator/calendar/token", Data: []byte("written-by-v1"), Label: "whatever"})
	ss.CreateItem(t, "mediator/calendar/token", map[string]string{"profile": "mediator/calendar/token"}, old, "application/json")
	dup, _ := json.Marshal(keyring.Item{Key: key, Data: []byte("stale-duplicate")})
	ss.CreateItem(t, key+" (copy)", map[string]string{"profile": key}, dup, "application/json")
	if got := mustGet(t, s, "calendar", "token"); got != "written-by-v1" {
		t.Errorf("the earlier version's item reads %q", got)
	}
	ss.CreateItem(t, "mediator/calendar/damaged", map[string]string{"profile": "mediator/calendar/damaged"}, []byte("not json"), "text/plain")
	if _, err := s.Get("calendar", "damaged"); err == nil || !strings.Contains(err.Error(), "is not the JSON mediator writes") {
		t.Errorf("a damaged item: %v", err)
	}
	if err := s.Remove("calendar", "damaged"); err != nil {
		t.Fatal(err)
	}
	// Other programs' items share the collection; List shows mediator's.
	ss.CreateItem(t, "Chrome Safe Storage", map[string]string{"application": "chrome"}, []byte("not-ours"), "text/plain")
	ss.CreateItem(t, "mediator/.canary-00", map[string]string{"profile": "mediator/.canary-00"}, old, "application/json")
	ss.CreateItem(t, "other/weather/api-key", map[string]string{"profile": "other/weather/api-key"}, old, "application/json")
	items, err := s.List("")
	if err != nil || !slices.Equal(items, []Item{{"calendar", "token"}, {"weather", "api-key"}}) {
		t.Errorf("List = %v, %v", items, err)
	}
	mustSet(t, s, "weather", "api-key", "third-value")
	if items := ss.Items(t, map[string]string{"profile": key}); len(items) != 1 {
		t.Errorf("Set left %d items for one key, want 1", len(items))
	}

	// The default alias names the same collection.
	viaAlias := mustOpen(t, Options{Env: ss.Lookup, Backend: BackendSecretService, LibSecretCollection: "default"})
	if got := mustGet(t, viaAlias, "weather", "api-key"); got != "third-value" {
		t.Errorf("through the default alias: %q", got)
	}
	if err := s.Remove("weather", "api-key"); err != nil {
		t.Fatal(err)
	}
	if items := ss.Items(t, map[string]string{"profile": key}); len(items) != 0 {
		t.Errorf("Remove left %d items", len(items))
	}
}

// A collection that does not exist is not created (that needs a prompt):
// the error names the collections there are.
func TestSecretServiceMissingCollection(t *testing.T) {
	ss := testenv.StartSecretService(t)
	err := withoutHang(t, "Open", func() error {
		_, err := Open(t.Context(), Options{Env: ss.Lookup, Backend: BackendSecretService, LibSecretCollection: "work"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `no collection "work"`) || !strings.Contains(err.Error(), `"login"`) {
		t.Errorf("missing collection: %v", err)
	}
}

// A locked collection gives every operation, and Open, an error that says
// how to unlock it, never a prompt, which would wait for a dialog (here:
// one that never answers); auto does not fall back to
// the file backend, where the user's secrets are not. Doing what the error
// says (starting gnome-keyring with --unlock) works.
func TestSecretServiceLocked(t *testing.T) {
	ss := testenv.StartSecretService(t)
	opts := Options{Env: ss.Lookup, FileDir: t.TempDir(), Passphrase: fixedPassphrase(testPassphrase)}
	s := mustOpen(t, opts)
	mustSet(t, s, "weather", "api-key", "value-before-lock")
	prompts := ss.SilentPrompter(t)
	ss.Lock(t)

	checkLocked := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrLocked) {
			t.Errorf("%s on a locked collection = %v; want ErrLocked", what, err)
			return
		}
		for _, want := range []string{`collection "login" is locked`, "gnome-keyring-daemon --unlock", "credentials.backend: file"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error lacks %q: %v", what, want, err)
			}
		}
	}
	for op, err := range storeOps(t, s) {
		t.Logf("%s: %v", op, err)
		checkLocked(op, err)
	}
	err := withoutHang(t, "Open", func() error { _, err := Open(t.Context(), opts); return err })
	checkLocked("Open with auto", err)
	if !strings.HasPrefix(err.Error(), "keyring backend secret-service: ") {
		t.Errorf("the error does not name the backend: %v", err)
	}

	if n := prompts(); n != 0 {
		t.Errorf("%d calls reached the prompter: a prompt was run", n)
	}

	ss.StopDaemon(t)
	ss.StartDaemon(t)
	if got := mustGet(t, mustOpen(t, opts), "weather", "api-key"); got != "value-before-lock" {
		t.Errorf("after unlocking: %q", got)
	}
}

// When the Secret Service or its bus goes away while a store is open,
// every operation fails at once with ErrUnreachable and says what went;
// a new Open with auto falls back to the next backend.
func TestSecretServiceGoneMidRun(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		stop       func(*testenv.SecretService, testing.TB)
	}{
		{"daemon exits", "no Secret Service is on the D-Bus session bus", (*testenv.SecretService).StopDaemon},
		{"bus exits", "the connection to the D-Bus session bus", (*testenv.SecretService).StopBus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := testenv.StartSecretService(t)
			s := mustOpen(t, Options{Env: ss.Lookup})
			mustSet(t, s, "weather", "api-key", "value-of-the-key")
			tc.stop(ss, t)
			for op, err := range storeOps(t, s) {
				t.Logf("%s: %v", op, err)
				if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v; want ErrUnreachable saying %q", op, err, tc.want)
				}
			}
			fallback := withoutHang(t, "Open", func() *Store {
				return mustOpen(t, Options{Env: ss.Lookup, FileDir: t.TempDir(), Passphrase: fixedPassphrase(testPassphrase)})
			})
			if fallback.Backend() != BackendFile {
				t.Errorf("auto picked %s with the Secret Service gone", fallback.Backend())
			}
		})
	}
}

// A Secret Service that stops answering (a stopped process) bounds every
// call by the timeout: Open and each operation return ErrUnreachable.
func TestSecretServiceNotAnswering(t *testing.T) {
	ss := testenv.StartSecretService(t)
	s := mustOpen(t, Options{Env: ss.Lookup, Backend: BackendSecretService})
	mustSet(t, s, "weather", "api-key", "value-of-the-key")
	ss.FreezeDaemon(t)
	// A short bound from now on, so the test does not wait 10 s a call.
	s.ring.(*secretService).timeout = 200 * time.Millisecond
	opts := Options{Env: ss.Lookup, Backend: BackendSecretService, secretServiceTimeout: 200 * time.Millisecond}
	for op, err := range storeOps(t, s) {
		t.Logf("%s: %v", op, err)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "did not answer within 200ms") {
			t.Errorf("%s: %v; want ErrUnreachable saying it did not answer", op, err)
		}
	}
	err := withoutHang(t, "Open", func() error { _, err := Open(t.Context(), opts); return err })
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Open = %v; want ErrUnreachable", err)
	}
}
