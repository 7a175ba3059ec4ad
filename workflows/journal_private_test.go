//go:build unix

package workflows

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withUmask sets the process umask for the test. Not for parallel tests:
// the umask is the whole process's.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// A run's journal holds its results, and SQLite keeps the latest of them
// in runs.db-wal until a checkpoint: every file of the journal is 0600
// under the usual umask 022, checked while the journal is open (SQLite
// deletes -wal and -shm when the last connection closes).
func TestJournalFilesArePrivate(t *testing.T) {
	withUmask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, JournalFile)
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.journal = j
	defer j.Close()
	if _, err := h.run(`
version: 1
name: private
steps:
  - id: one
    call: {server: a, tool: echo}
    with: {result: "a run's result"}
`, nil); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{JournalFile, JournalFile + "-wal", JournalFile + "-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, perm)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi.Mode(), err)
	}
}

// A journal that an earlier mediator left readable by others is narrowed
// before SQLite opens it, so the -wal and -shm it creates are 0600 too.
func TestJournalNarrowsOldFiles(t *testing.T) {
	withUmask(t, 0o022)
	path := filepath.Join(t.TempDir(), JournalFile)
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err = OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", filepath.Base(name), fi.Mode(), err)
		}
	}
}

// A state directory of the user's that others can enter, such as one
// made by mkdir -p, is made private before the journal is created in it.
func TestJournalNarrowsOpenStateDir(t *testing.T) {
	withUmask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(filepath.Join(dir, JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir after opening the journal: %v %v", fi.Mode(), err)
	}
}
