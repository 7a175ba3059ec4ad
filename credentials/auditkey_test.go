package credentials

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/99designs/keyring"
)

// The audit key is made once, read back the same by a later process, and
// stays out of every server's items.
func TestAuditKey(t *testing.T) { forEachKeyring(t, testAuditKey) }

func testAuditKey(t *testing.T, open openFunc) {
	s := open(t, Options{})
	if _, err := s.AuditKey(t.Context(), false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AuditKey before one exists = %v, want ErrNotFound", err)
	}
	before := time.Now()
	k, err := s.AuditKey(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Bytes()
	if err != nil || len(raw) != 32 || k.Created.Before(before) || k.Created.After(time.Now()) {
		t.Fatalf("key of %d bytes (%v), made %v", len(raw), err, k.Created)
	}
	if again, err := s.AuditKey(t.Context(), true); err != nil || !again.Secret.Equal(k.Secret) || !again.Created.Equal(k.Created) {
		t.Fatalf("a second AuditKey(create) made another key: %v", err)
	}

	mustSet(t, s, "weather", "api-key", "weather-key-A")
	later := open(t, Options{})
	if got, err := later.AuditKey(t.Context(), false); err != nil || !got.Secret.Equal(k.Secret) {
		t.Fatalf("another process reads %v", err)
	}
	if items, err := later.List(""); err != nil || len(items) != 1 || items[0] != (Item{"weather", "api-key"}) {
		t.Errorf("List = %v, %v; want only weather/api-key, not the audit key", items, err)
	}
	if red := later.Redactor().Redact("key " + k.Secret.Reveal()); strings.Contains(red, k.Secret.Reveal()) {
		t.Errorf("the redactor does not mask the audit key: %q", red)
	}
	// No server's name reaches it.
	for _, server := range []string{".audit-key", "", "."} {
		if _, err := later.Get(server, "audit-key"); err == nil {
			t.Errorf("Get(%q, audit-key) found an item", server)
		}
	}
}

// A wrong passphrase is caught when the keyring is opened even if the
// audit key is its only item, before anything is written with it.
func TestAuditKeyOnlyItemWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	if _, err := openFileStore(t, dir, testPassphrase).AuditKey(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), Options{Backend: BackendFile, FileDir: dir, Passphrase: fixedPassphrase("wrong")})
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase = %v, want ErrWrongPassphrase", err)
	}
}

// A damaged key item is reported, never replaced: a new key would make
// every keyed log unverifiable.
func TestAuditKeyDamaged(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, dir, testPassphrase)
	if err := s.ring.Set(keyring.Item{Key: s.auditKeyKey(), Data: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		if _, err := s.AuditKey(t.Context(), create); err == nil || !strings.Contains(err.Error(), "damaged") || strings.Contains(err.Error(), "not json") {
			t.Errorf("AuditKey(create %v) = %v", create, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("keyring dir holds %d files, want the damaged item only", len(entries))
	}
}

// Opening a file keyring that holds the audit key decrypts that item to
// check the passphrase, and AuditKey hands out what was decrypted then:
// each item read costs a key derivation of thousands of hash rounds, and
// every audited call reads the key. Open writes no encrypted test item.
func TestFileOpenReadsTheAuditKeyOnce(t *testing.T) {
	dir := t.TempDir()
	k, err := openFileStore(t, dir, testPassphrase).AuditKey(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, openFileStore(t, dir, testPassphrase), "weather", "api-key", "weather-key-A")
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := openFileStore(t, dir, testPassphrase)
	if after, err := os.ReadDir(dir); err != nil || len(after) != len(before) {
		t.Fatalf("Open left %d entries in the keyring directory, had %d (%v)", len(after), len(before), err)
	}
	// The item's file goes; the key read at Open is still the one handed out.
	files, err := filepath.Glob(filepath.Join(dir, "*.audit-key"))
	if err != nil || len(files) != 1 {
		t.Fatalf("the audit key's file: %v, %v", files, err)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AuditKey(t.Context(), false); err != nil || !got.Secret.Equal(k.Secret) || !got.Created.Equal(k.Created) {
		t.Fatalf("AuditKey after Open: %v", err)
	}
}
