//go:build unix

package privfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Under umask 0, where the default modes of os.MkdirAll and os.Create
// (0777, 0666) would show, everything this package creates is private.
func TestCreatesPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	root := t.TempDir()

	dir := filepath.Join(root, "a", "b")
	if err := Dir(dir); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(root, "c", "log"), os.O_RDWR|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := WriteFile(filepath.Join(root, "d", "pins.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{
		filepath.Join(root, "a"):              0o700,
		dir:                                   0o700,
		filepath.Join(root, "c"):              0o700,
		filepath.Join(root, "c", "log"):       0o600,
		filepath.Join(root, "d"):              0o700,
		filepath.Join(root, "d", "pins.json"): 0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}

	// Replace keeps the mode it is given (a config file's own).
	cfg := filepath.Join(root, "config.yaml")
	if err := Replace(cfg, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, cfg); got != 0o644 {
		t.Errorf("Replace with 0644: %04o", got)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "a: 1\n" {
		t.Errorf("content %q", b)
	}
}

// Files and directories of the user's that others could use are narrowed.
func TestNarrowsWhatOthersCouldUse(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	was, err := SecureDir(dir)
	if err != nil || was != 0o755 || mode(t, dir) != 0o700 {
		t.Errorf("SecureDir(0755 dir) = %04o, %v; mode now %04o", was, err, mode(t, dir))
	}
	if was, err := SecureDir(dir); was != 0 || err != nil {
		t.Errorf("SecureDir of a private dir = %04o, %v", was, err)
	}
	if was, err := SecureDir(filepath.Join(root, "missing")); was != 0 || err != nil {
		t.Errorf("SecureDir of a missing dir = %04o, %v", was, err)
	}
	for _, perm := range []fs.FileMode{0o750, 0o701, 0o770} {
		if err := os.Chmod(dir, perm); err != nil {
			t.Fatal(err)
		}
		if err := Dir(dir); err != nil || mode(t, dir) != 0o700 {
			t.Errorf("Dir of a %04o dir: %v, mode now %04o", perm, err, mode(t, dir))
		}
	}

	file := filepath.Join(dir, "runs.db-wal")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Narrow(file); err != nil || mode(t, file) != 0o600 {
		t.Errorf("Narrow(0644 file): %v, mode now %04o", err, mode(t, file))
	}
	if err := Narrow(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("Narrow of a missing file: %v", err)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(file, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if mode(t, file) != 0o600 {
		t.Errorf("OpenFile of a 0640 file left it %04o", mode(t, file))
	}
}

// Another user's directory that others can use is refused, and left as
// it is: it is theirs to share.
func TestRefusesAnotherUsersOpenDir(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = filepath.Join(t.TempDir(), "theirs")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		// Not root: a directory of root's that everyone may use.
		dir = os.TempDir()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ownedByUs(fi) || fi.Mode().Perm()&0o077 == 0 {
			t.Fatalf("%s (mode %v) is not another user's open directory; this test needs one", dir, fi.Mode())
		}
	}
	before := mode(t, dir)
	_, err := SecureDir(dir)
	if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "belongs to another user") || !strings.Contains(err.Error(), dir) {
		t.Errorf("SecureDir(another user's dir) = %v", err)
	}
	if err := Dir(dir); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("Dir(another user's dir) = %v", err)
	}
	if mode(t, dir) != before {
		t.Errorf("the mode changed from %04o to %04o", before, mode(t, dir))
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
