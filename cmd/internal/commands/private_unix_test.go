//go:build unix

package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A state directory made by someone else's mkdir -p (0755) is made the
// user's alone, with a warning, before a call writes the audit log and the
// pins there; and a real flow run under umask 022 leaves every file of
// its journal 0600.
func TestStateFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	e := callEnv(t)
	state := filepath.Join(e.vars["XDG_STATE_HOME"], "mediator")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}

	r := e.mustRun("", "call", "weather", "echo", "-a", "text=hello")
	if want := "warning: " + state + " was open to other users (mode 0755); mediator keeps private files there, so it made it private (chmod 700)"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	r = e.mustRun("", "call", "weather", "echo", "-a", "text=again")
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("a second warning:\n%s", r.stderr)
	}

	flow := filepath.Join(e.dir, "echo.flow.yaml")
	if err := os.WriteFile(flow, []byte("version: 1\nname: echo\nsteps:\n  - id: one\n    call: {server: weather, tool: echo}\n    with: {text: a run's result}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun("", "run", flow)

	// Every file and directory beneath, the per-server pin files and the
	// lock files too.
	seen := map[string]bool{}
	err := filepath.WalkDir(state, func(p string, de os.DirEntry, err error) error {
		if err != nil || p == state {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(state, p)
		seen[rel] = true
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", rel, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"audit.jsonl", "audit.jsonl.head", "pins", "runs.db"} {
		if !seen[name] {
			t.Errorf("no %s in the state dir: %v", name, seen)
		}
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi.Mode(), err)
	}
}
