package credentials

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/keyring"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// noDesktop is an environment without a D-Bus session bus, as on a
// headless machine: "auto" cannot reach the Secret Service or KWallet,
// whatever the test process's own environment holds.
func noDesktop(string) (string, bool) { return "", false }

func TestOpenAutoPicksFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Backend: BackendAuto, Env: noDesktop, FileDir: dir, Passphrase: fixedPassphrase(testPassphrase)})
	if err != nil {
		t.Fatalf("auto: %v", err)
	}
	if s.Backend() != BackendFile {
		t.Fatalf("auto picked %q, want file", s.Backend())
	}
	mustSet(t, s, "weather", "api-key", "auto-picked-file")
	// The empty name means auto too.
	s2, err := Open(t.Context(), Options{Env: noDesktop, FileDir: dir, Passphrase: fixedPassphrase(testPassphrase)})
	if err != nil || s2.Backend() != BackendFile {
		t.Fatalf("empty Backend: %v, %v", s2, err)
	}
	if got := mustGet(t, s2, "weather", "api-key"); got != "auto-picked-file" {
		t.Errorf("Get = %q", got)
	}
}

func TestOpenAutoNoBackend(t *testing.T) {
	_, err := Open(t.Context(), Options{Backend: BackendAuto, Env: noDesktop, FileDir: t.TempDir()})
	var nb *NoBackendError
	if !errors.As(err, &nb) {
		t.Fatalf("err = %v; want a *NoBackendError", err)
	}
	if !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("the file backend's reason is not reachable with errors.Is: %v", err)
	}
	msg := err.Error()
	for _, b := range autoOrder() {
		if !strings.Contains(msg, "\n  "+b+": ") {
			t.Errorf("the error does not say why %s failed:\n%s", b, msg)
		}
	}
	for _, want := range []string{"backend: file", "file_dir", PassphraseEnv, "keyctl", "pass", runtime.GOOS} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q:\n%s", want, msg)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(msg, "D-Bus") {
		t.Errorf("the error does not explain the missing D-Bus:\n%s", msg)
	}
}

func TestOpenUnknownBackend(t *testing.T) {
	_, err := Open(t.Context(), Options{Backend: "gnome-keyring"})
	if err == nil {
		t.Fatal("unknown backend accepted")
	}
	for _, b := range ValidBackends() {
		if !strings.Contains(err.Error(), b) {
			t.Errorf("the error does not list %q: %v", b, err)
		}
	}
	if !strings.Contains(err.Error(), `"gnome-keyring"`) {
		t.Errorf("the error does not name the bad value: %v", err)
	}
}

func TestOpenUnavailableBackend(t *testing.T) {
	avail := keyring.AvailableBackends()
	tested := 0
	for _, b := range ValidBackends()[1:] {
		if slices.Contains(avail, keyring.BackendType(b)) {
			continue
		}
		tested++
		_, err := Open(t.Context(), Options{Backend: b})
		if err == nil {
			t.Errorf("backend %s is not available here, yet Open succeeded", b)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "keyring backend "+b+": ") || strings.Contains(msg, keyring.ErrNoAvailImpl.Error()) {
			t.Errorf("backend %s: unclear error %q", b, msg)
		}
	}
	if tested == 0 {
		t.Skip("every backend is available here")
	}
}

func TestOpenPassWithoutStore(t *testing.T) {
	if !slices.Contains(keyring.AvailableBackends(), keyring.PassBackend) {
		t.Skip("pass is not supported on this OS")
	}
	t.Setenv("PASSWORD_STORE_DIR", t.TempDir())
	_, err := Open(t.Context(), Options{Backend: BackendPass})
	if err == nil || !(strings.Contains(err.Error(), "not on PATH") || strings.Contains(err.Error(), "pass init")) {
		t.Errorf("pass without an initialized store: %v", err)
	}
}

func TestOpenCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, b := range []string{BackendAuto, BackendFile} {
		_, err := Open(ctx, Options{Backend: b, FileDir: t.TempDir(), Passphrase: fixedPassphrase(testPassphrase)})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", b, err)
		}
	}
}

func TestOpenBadServiceName(t *testing.T) {
	_, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: t.TempDir(), ServiceName: "bad\nname"})
	if err == nil || !strings.Contains(err.Error(), "keyring service name") {
		t.Errorf("bad service name: %v", err)
	}
}

func TestServiceNamesKeepItemsApart(t *testing.T) { forEachKeyring(t, testServiceNamesKeepItemsApart) }

func testServiceNamesKeepItemsApart(t *testing.T, open openFunc) {
	a := open(t, Options{ServiceName: "mediator-test-a"})
	b := open(t, Options{ServiceName: "mediator-test-b"})
	mustSet(t, a, "weather", "token", "service-a-token")
	if items, _ := b.List(""); len(items) != 0 {
		t.Errorf("service b lists service a's items: %v", items)
	}
	if _, err := b.Get("weather", "token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("service b reads service a's item: %v", err)
	}
}

// TestKeyctlBackend runs the store against the kernel keyring, a second
// real backend, where the kernel allows it. The items outlive the test
// process in the user's keyring, so the named keyring is unique to the run
// and removed at the end (testenv.KeyctlKeyring checks nothing is left).
func TestKeyctlBackend(t *testing.T) {
	if !slices.Contains(keyring.AvailableBackends(), keyring.KeyCtlBackend) {
		t.Skip("keyctl exists only on Linux")
	}
	service := "mediator-keyctl-test-" + strings.ToLower(rand.Text()[:8])
	testenv.KeyctlKeyring(t, service)
	s, err := Open(t.Context(), Options{Backend: BackendKeyctl, ServiceName: service})
	if err != nil {
		t.Skipf("the kernel keyring is not usable here: %v", err)
	}
	mustSet(t, s, "weather", "api-key", "keyctl-value-1")
	mustSet(t, s, "weather", "api-key", "keyctl-value-2")
	mustSet(t, s, "Calendar", "token", "keyctl-value-3")
	if got := mustGet(t, s, "weather", "api-key"); got != "keyctl-value-2" {
		t.Errorf("Get after overwrite = %q", got)
	}
	items, err := s.List("")
	if err != nil || !slices.Equal(items, []Item{{"Calendar", "token"}, {"weather", "api-key"}}) {
		t.Errorf("List = %v, %v", items, err)
	}
	if err := s.Remove("weather", "api-key"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("weather", "api-key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v", err)
	}
	if _, err := s.Get("weather", "api-key"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "keyctl keyring") {
		t.Errorf("Get after Remove = %v", err)
	}
}
