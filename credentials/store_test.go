package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const testPassphrase = "correct horse battery staple"

func fixedPassphrase(p string) func(string) (string, error) {
	return func(string) (string, error) { return p, nil }
}

func openFileStore(t *testing.T, dir, passphrase string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: fixedPassphrase(passphrase)})
	if err != nil {
		t.Fatalf("Open file backend: %v", err)
	}
	return s
}

func mustSet(t *testing.T, s *Store, server, name, value string) {
	t.Helper()
	if err := s.Set(server, name, NewSecret(value)); err != nil {
		t.Fatalf("Set(%q, %q): %v", server, name, err)
	}
}

func mustGet(t *testing.T, s *Store, server, name string) string {
	t.Helper()
	v, err := s.Get(server, name)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", server, name, err)
	}
	return v.Reveal()
}

func TestStoreSetGetListRemove(t *testing.T) {
	forEachKeyring(t, testStoreSetGetListRemove)
}

func testStoreSetGetListRemove(t *testing.T, open openFunc) {
	s := open(t, Options{})
	if items, err := s.List(""); err != nil || len(items) != 0 {
		t.Fatalf("a new keyring lists %v, %v (the canary must be gone)", items, err)
	}

	mustSet(t, s, "weather", "api-key", "weather-key-A")
	mustSet(t, s, "calendar", "token", "calendar-key-B")
	mustSet(t, s, "weather", "backup", "weather-backup")
	mustSet(t, s, "My Server", "a/b", "odd-names")

	if got := mustGet(t, s, "weather", "api-key"); got != "weather-key-A" {
		t.Errorf("Get weather/api-key = %q", got)
	}
	if got := mustGet(t, s, "My Server", "a/b"); got != "odd-names" {
		t.Errorf("Get with odd names = %q", got)
	}

	all, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{"My Server", "a/b"}, {"calendar", "token"}, {"weather", "api-key"}, {"weather", "backup"}}
	if !slices.Equal(all, want) {
		t.Errorf("List(\"\") = %v, want %v", all, want)
	}
	weather, err := s.List("weather")
	if err != nil || !slices.Equal(weather, want[2:]) {
		t.Errorf("List(weather) = %v, %v; want %v", weather, err, want[2:])
	}
	if none, err := s.List("nobody"); err != nil || none == nil || len(none) != 0 {
		t.Errorf("List(nobody) = %#v, %v; want an empty, non-nil slice", none, err)
	}

	mustSet(t, s, "weather", "api-key", "weather-key-A2")
	if got := mustGet(t, s, "weather", "api-key"); got != "weather-key-A2" {
		t.Errorf("after overwrite Get = %q", got)
	}
	if n, _ := s.List("weather"); len(n) != 2 {
		t.Errorf("overwrite added an item: %v", n)
	}

	if err := s.Remove("weather", "api-key"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	_, err = s.Get("weather", "api-key")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mediator secret set weather api-key") || !strings.Contains(err.Error(), s.Backend()+" keyring") {
		t.Errorf("Get after Remove = %v; want ErrNotFound naming the backend and telling how to set it", err)
	}
	if err := s.Remove("weather", "api-key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v; want ErrNotFound", err)
	}
	if _, err := s.Get("My Server", "missing"); err == nil || !strings.Contains(err.Error(), "mediator secret set 'My Server' missing") {
		t.Errorf("not-found hint is not pasteable: %v", err)
	}

	// Everything survives a reopen.
	again := open(t, Options{})
	if got := mustGet(t, again, "calendar", "token"); got != "calendar-key-B" {
		t.Errorf("after reopen Get = %q", got)
	}
}

func TestFileStorePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "keyring")
	s := openFileStore(t, dir, testPassphrase)
	if s.Backend() != BackendFile || s.Location() != dir {
		t.Errorf("Backend, Location = %q, %q; want file, %s", s.Backend(), s.Location(), dir)
	}
	mustSet(t, s, "weather", "api-key", canaryValue)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("keyring dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("keyring dir holds %v, %v; want exactly one item file", entries, err)
	}
	info, _ := entries[0].Info()
	if info.Mode().Perm() != 0o600 {
		t.Errorf("item file mode %v, want 0600", info.Mode().Perm())
	}
	data, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "the item file (must be encrypted)", string(data))
}

func TestFileStoreBadDir(t *testing.T) {
	_, err := Open(t.Context(), Options{Backend: BackendFile, Passphrase: fixedPassphrase(testPassphrase)})
	if err == nil || !strings.Contains(err.Error(), "file_dir") {
		t.Errorf("empty FileDir: %v; want an error naming credentials.file_dir", err)
	}
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), Options{Backend: BackendFile, FileDir: file, Passphrase: fixedPassphrase(testPassphrase)})
	if err == nil || !strings.Contains(err.Error(), "is a file, not a directory") {
		t.Errorf("FileDir is a file: %v", err)
	}
}

func TestFileStoreWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, dir, testPassphrase)
	mustSet(t, s, "weather", "api-key", canaryValue)

	const wrong = "wrong horse battery staple"
	_, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: fixedPassphrase(wrong)})
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase = %v; want ErrWrongPassphrase", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "wrong passphrase for the file keyring at "+dir) {
		t.Errorf("unclear error: %s", msg)
	}
	for _, leak := range []string{canaryValue, testPassphrase, wrong, "KeyUnwrap", "integrity check"} {
		if strings.Contains(msg, leak) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), leak) {
			t.Errorf("the error shows %q: %s", leak, msg)
		}
	}
	// Nothing was written with the wrong passphrase.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the failed Open left %d files, want 1", len(entries))
	}
}

func TestFileStoreWrongPassphraseOnGet(t *testing.T) {
	// Both open the empty keyring, so Open has nothing to check against;
	// the mismatch shows only when one reads the other's item.
	dir := t.TempDir()
	right := openFileStore(t, dir, testPassphrase)
	wrong := openFileStore(t, dir, "another passphrase")
	mustSet(t, right, "weather", "api-key", canaryValue)
	_, err := wrong.Get("weather", "api-key")
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "wrong passphrase for the file keyring at "+dir) {
		t.Fatalf("Get = %v; want a wrong-passphrase error", err)
	}
	if !strings.Contains(err.Error(), `secret "api-key" of server "weather"`) {
		t.Errorf("the error does not name the item: %v", err)
	}
	assertNoCanary(t, "wrong-passphrase error", err.Error())
}

func TestFileStoreMissingPassphrase(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(PassphraseEnv, "")
	_, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir})
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), PassphraseEnv) || !strings.Contains(err.Error(), dir) {
		t.Errorf("no passphrase anywhere: %v; want ErrNoPassphrase naming %s and the dir", err, PassphraseEnv)
	}

	_, err = Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: fixedPassphrase("")})
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty passphrase: %v; want ErrNoPassphrase saying it is empty", err)
	}

	cancelled := errors.New("prompt cancelled")
	_, err = Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: func(string) (string, error) {
		return "", cancelled
	}})
	if !errors.Is(err, cancelled) {
		t.Errorf("the callback's error is lost: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a keyring without passphrase wrote %d files", len(entries))
	}
}

func TestFileStorePassphraseFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(PassphraseEnv, testPassphrase)
	var prompts []string
	s, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir})
	if err != nil {
		t.Fatalf("Open with %s set: %v", PassphraseEnv, err)
	}
	mustSet(t, s, "weather", "api-key", "value-from-env-store")
	// The same keyring opens with the same passphrase from a callback,
	// which is asked once and told which keyring it unlocks.
	s2, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: func(prompt string) (string, error) {
		prompts = append(prompts, prompt)
		return testPassphrase, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s2, "weather", "api-key"); got != "value-from-env-store" {
		t.Errorf("Get = %q", got)
	}
	if len(prompts) != 1 || !strings.Contains(prompts[0], dir) {
		t.Errorf("prompts = %q; want one naming %s", prompts, dir)
	}
	if got := s.Redactor().Redact("pw=" + testPassphrase); got != "pw="+redacted {
		t.Errorf("the passphrase is not masked: %q", got)
	}
}

func TestServerSecretsScoped(t *testing.T) { forEachKeyring(t, testServerSecretsScoped) }

func testServerSecretsScoped(t *testing.T, open openFunc) {
	s := open(t, Options{})
	mustSet(t, s, "a", "token", "token-of-server-a")
	mustSet(t, s, "b", "token", "token-of-server-b")
	ctx := t.Context()

	a := s.ForServer("a")
	if a.Server() != "a" {
		t.Errorf("Server() = %q", a.Server())
	}
	got, err := a.Secret(ctx, "token")
	if err != nil || got.Reveal() != "token-of-server-a" {
		t.Fatalf("a's own token: %v", err)
	}
	for _, name := range []string{"../b/token", "b/token", "/b/token", "../../mediator/b/token", "%2Fb%2Ftoken", "b%2Ftoken", "..", "b"} {
		v, err := a.Secret(ctx, name)
		if v.Reveal() == "token-of-server-b" {
			t.Fatalf("server a read server b's token through name %q", name)
		}
		if err == nil {
			t.Errorf("name %q found something for server a", name)
		}
	}
	if _, err := s.ForServer("").Secret(ctx, "token"); err == nil || !strings.Contains(err.Error(), "server is empty") {
		t.Errorf("empty server: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Secret(cctx, "token"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestServerSecretsWriteScoped(t *testing.T) { forEachKeyring(t, testServerSecretsWriteScoped) }

func testServerSecretsWriteScoped(t *testing.T, open openFunc) {
	s := open(t, Options{})
	mustSet(t, s, "b", "token", "token-of-server-b")
	ctx := t.Context()
	a := s.ForServer("a")

	if err := a.Set(ctx, "oauth-token", NewSecret("written-by-a")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "a", "oauth-token"); got != "written-by-a" {
		t.Errorf("a's item = %q", got)
	}
	// No name written through a's view lands among b's items.
	for _, name := range []string{"../b/token", "b/token", "/b/token", "%2Fb%2Ftoken"} {
		_ = a.Set(ctx, name, NewSecret("overwrite-attempt"))
		if got := mustGet(t, s, "b", "token"); got != "token-of-server-b" {
			t.Fatalf("writing %q through server a changed server b's token", name)
		}
		if err := a.Remove(ctx, name); err == nil {
			// It may exist as a's own oddly named item; it must be gone from a only.
			if got := mustGet(t, s, "b", "token"); got != "token-of-server-b" {
				t.Fatalf("removing %q through server a touched server b", name)
			}
		}
	}
	if err := a.Remove(ctx, "oauth-token"); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, "oauth-token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if err := a.Set(ctx, "empty", Secret{}); err == nil {
		t.Error("an empty value was stored")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Set(cctx, "x", NewSecret("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context: %v", err)
	}
}

func TestStoreRedactorLearnsHandedOutSecrets(t *testing.T) {
	forEachKeyring(t, testStoreRedactorLearnsHandedOutSecrets)
}

func testStoreRedactorLearnsHandedOutSecrets(t *testing.T, open openFunc) {
	writer := open(t, Options{})
	mustSet(t, writer, "weather", "api-key", "stored-through-set")
	if got := writer.Redactor().Redact("x stored-through-set"); got != "x "+redacted {
		t.Errorf("Set did not register the value: %q", got)
	}

	reader := open(t, Options{})
	if got := reader.Redactor().Redact("stored-through-set"); got != "stored-through-set" {
		t.Errorf("a value was masked before it was handed out: %q", got)
	}
	if _, err := reader.ForServer("weather").Secret(t.Context(), "api-key"); err != nil {
		t.Fatal(err)
	}
	if got := reader.Redactor().Redact("stored-through-set"); got != redacted {
		t.Errorf("ServerSecrets.Secret did not register the value: %q", got)
	}
}

func TestStoreRejectsBadInput(t *testing.T) { forEachKeyring(t, testStoreRejectsBadInput) }

func testStoreRejectsBadInput(t *testing.T, open openFunc) {
	s := open(t, Options{})
	if err := s.Set("weather", "api-key", Secret{}); err == nil || !strings.Contains(err.Error(), "empty secret") {
		t.Errorf("empty secret: %v", err)
	}
	for _, op := range []func() error{
		func() error { return s.Set("", "x", NewSecret("value")) },
		func() error { _, err := s.Get("weather", "bad\nname"); return err },
		func() error { return s.Remove("weather\x00", "x") },
		func() error { _, err := s.List("a\tb"); return err },
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "printable") {
			t.Errorf("bad name accepted or unclear: %v", err)
		}
	}
}

func TestStoreListIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, dir, testPassphrase)
	for _, name := range []string{"README", "mediator%2F.canary-00", "other%2Fx%2Fy"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustSet(t, s, "weather", "api-key", "some-value-here")
	items, err := s.List("")
	if err != nil || !slices.Equal(items, []Item{{"weather", "api-key"}}) {
		t.Errorf("List = %v, %v", items, err)
	}
	// Reopening checks the passphrase against mediator's items only.
	openFileStore(t, dir, testPassphrase)
}

func TestStoreConcurrentUse(t *testing.T) { forEachKeyring(t, testStoreConcurrentUse) }

func testStoreConcurrentUse(t *testing.T, open openFunc) {
	s := open(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 4 {
		wg.Go(func() {
			server := fmt.Sprintf("server-%d", i)
			if err := s.Set(server, "token", NewSecret("value-"+server)); err != nil {
				errs <- err
				return
			}
			v, err := s.ForServer(server).Secret(t.Context(), "token")
			if err != nil || v.Reveal() != "value-"+server {
				errs <- fmt.Errorf("%s: %v", server, err)
			}
			if _, err := s.List(""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCanaryNeverLeaks drives every path that prints, marshals or fails
// around a stored secret and checks the value never shows.
func TestCanaryNeverLeaks(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, dir, testPassphrase)
	// Opened while the keyring is empty, so Open cannot reject it yet.
	wrong := openFileStore(t, dir, "not the passphrase")
	mustSet(t, s, "weather", "api-key", canaryValue)
	sec, err := s.Get("weather", "api-key")
	if err != nil {
		t.Fatal(err)
	}
	view := s.ForServer("weather")
	items, _ := s.List("")

	var outputs []string
	add := func(v any) {
		outputs = append(outputs, fmt.Sprintf("%v|%+v|%#v|%s|%q|%x|%d", v, v, v, v, v, v, v))
		if data, err := json.Marshal(v); err == nil {
			outputs = append(outputs, string(data))
		}
	}
	add(s)
	add(view)
	add(sec)
	add(items)
	add(map[string]any{"secret": sec, "store": s})
	add(s.Redactor())
	add(struct {
		store *Store
		view  *ServerSecrets
		red   *Redactor
	}{s, view, s.Redactor()})

	_, errWrong := wrong.Get("weather", "api-key")
	_, errOpen := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: fixedPassphrase("nope")})
	_, errMissing := s.Get("weather", "missing")
	errEmpty := s.Set("weather", "x", NewSecret(""))
	errBad := s.Set("weather\n", "x", sec)
	for _, err := range []error{errWrong, errOpen, errMissing, errEmpty, errBad} {
		if err == nil {
			t.Fatal("an expected error did not happen")
		}
		add(err)
		outputs = append(outputs, err.Error())
	}
	for i, out := range outputs {
		assertNoCanary(t, fmt.Sprintf("output %d", i), out)
		if strings.Contains(out, testPassphrase) {
			t.Errorf("output %d shows the passphrase: %s", i, out)
		}
	}
}
