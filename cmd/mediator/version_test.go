package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A binary built with `go build` in the repository says which commit it
// was built from, in `version` and in `--version` alike.
func TestVersionNamesTheRevision(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git rev-parse HEAD: %v (CI=true needs git and the repository)", err)
		}
		t.Skipf("not in a git work tree: %v", err)
	}
	// The go command finds a repository by a .git directory only: a
	// linked worktree (.git is a file there) gets no stamp.
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !st.IsDir() {
		t.Skip("a linked git worktree: the go command stamps no VCS data into builds here")
	}
	// -buildvcs=true: the environment's GOFLAGS may turn the stamp off.
	bin := filepath.Join(t.TempDir(), "mediator")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("mediator version: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "revision "+strings.TrimSpace(string(head))) {
		t.Errorf("mediator version does not name HEAD %s:\n%s", head, out)
	}
	if strings.HasPrefix(lines[0], "mediator dev") {
		t.Errorf("a stamped build still says dev:\n%s", out)
	}
	flag, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("mediator --version: %v", err)
	}
	if string(flag) != string(out) {
		t.Errorf("--version:\n%s\nversion:\n%s", flag, out)
	}
}
