//go:build unix

package sqlitefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Under the usual umask a database and its WAL files are their owner's
// alone, side files an earlier version left readable are narrowed, and
// the pragmas are in force.
func TestOpenPrivateWAL(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "x.db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-journal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, "foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Before the first query: SQLite deletes a stale journal it finds.
	if fi, err := os.Stat(path + "-journal"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the side file left readable: %v, %v", fi.Mode(), err)
	}
	if _, err := db.Exec(`CREATE TABLE t (a INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x.db", "x.db-wal", "x.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, perm)
		}
	}
	var mode string
	var fk, timeout int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != 10000 {
		t.Errorf("busy_timeout = %d, %v", timeout, err)
	}
	cols := []Column{{Table: "t", Name: "b", Def: "TEXT NOT NULL DEFAULT 'x'"}}
	for range 2 { // the second finds it there
		if err := AddColumns(db, cols); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO t (a) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var b string
	if err := db.QueryRow(`SELECT b FROM t`).Scan(&b); err != nil || b != "x" {
		t.Errorf("added column b = %q, %v", b, err)
	}
}
