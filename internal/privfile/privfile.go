// Package privfile keeps files only their owner can read: mediator's state
// (run journal, pins, audit log, lock files) and the file keyring's
// directory. Files are created 0600 and directories 0700 by the mode given
// to open(2) and mkdir(2), which the umask can only narrow, so no umask
// makes them readable by others. The process umask itself is never
// changed: it is shared by every goroutine that creates a file, and a
// change around one open would leak into another's.
//
// A directory that already exists and grants group or others any access
// (as mkdir -p, and t.TempDir, make them under umask 022) is narrowed to
// 0700 if it belongs to the user running mediator, and refused if it
// belongs to someone else: another user's directory is theirs to share,
// and what they put there is not mediator's to trust. Files that others
// could read are narrowed to 0600.
package privfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotPrivate is wrapped by the error of a directory others can use
// that mediator cannot make private.
var ErrNotPrivate = errors.New("directory is open to other users")

// Modes of what this package creates.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Dir makes sure dir is a private directory: it creates it (and missing
// parents) 0700, or secures the one that exists (see SecureDir).
func Dir(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	_, err := SecureDir(dir)
	return err
}

// SecureDir narrows an existing directory that others can use to 0700
// and returns the mode it had; it returns 0 when there was nothing to do,
// dir included. A directory of another user's that others can use is
// refused with an error wrapping ErrNotPrivate that names the fix.
// Commands call it before anything opens a state file, to tell the user
// what changed.
func SecureDir(dir string) (narrowedFrom fs.FileMode, err error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%s is not a directory", dir)
	}
	perm := fi.Mode().Perm()
	if !permsMeaningful || perm&^DirMode == 0 {
		return 0, nil
	}
	if !ownedByUs(fi) {
		return 0, fmt.Errorf("%w: %s has mode %04o and belongs to another user; mediator keeps private state there (run results, tool pins, the audit log, lock files, keyring items): choose a directory of your own, or have its owner run \"chmod 700 %s\"", ErrNotPrivate, dir, perm, dir)
	}
	if err := os.Chmod(dir, DirMode); err != nil {
		return 0, fmt.Errorf("%w: %s has mode %04o and could not be made private: %v; run \"chmod 700 %s\" or choose another directory", ErrNotPrivate, dir, perm, err, dir)
	}
	return perm, nil
}

// OpenFile opens path with flag (os.O_RDWR, os.O_APPEND, ...), creating
// it 0600 in a private directory (see Dir). An existing file that others
// could read is narrowed to 0600: one mediator made before it created
// every file so, such as a run journal's -wal file.
func OpenFile(path string, flag int) (*os.File, error) {
	if err := Dir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag|os.O_CREATE, FileMode)
	if err != nil {
		return nil, err
	}
	if err := narrow(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Narrow makes an existing file 0600 if others could read it; a missing
// file is no error.
func Narrow(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return narrow(f)
}

func narrow(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !permsMeaningful || fi.Mode().Perm()&^FileMode == 0 {
		return nil
	}
	if err := f.Chmod(FileMode); err != nil {
		return fmt.Errorf("making %s private (mode %04o): %w", f.Name(), fi.Mode().Perm(), err)
	}
	return nil
}

// WriteFile replaces path with data, a file of mode 0600 in a private
// directory (see Dir), as Replace does.
func WriteFile(path string, data []byte) error {
	if err := Dir(filepath.Dir(path)); err != nil {
		return err
	}
	return Replace(path, data, FileMode)
}

// Replace replaces path with data so that a reader (or a crash) sees the
// old file or the new one, never half of each: write a temporary file
// beside it with mode perm, sync, rename. A missing directory is created
// 0700; an existing one is not checked (a config file's directory need
// not be private).
func Replace(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	// CreateTemp makes the file 0600 before anything is written to it.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if perm != FileMode {
		if err := tmp.Chmod(perm); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	ok = true
	return nil
}
