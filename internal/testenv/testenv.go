// Package testenv finds the real tools the tests run against (the npm MCP
// servers installed by `make tools`) and decides what happens when one is
// missing: a skip on a developer's machine, a failure in CI, because a green
// CI run must mean the real thing was tested.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Missing reports a tool the test needs but cannot find: t.Fatal when
// CI=true, else t.Skip.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	CannotRun(t, "required test tool missing", "run `make tools`", format, args...)
}

// CannotRun reports why the test cannot run here, what and why, with a
// hint on what to do: t.Fatal when CI=true, else t.Skip.
func CannotRun(t testing.TB, what, hint, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(what+" (CI=true, so this fails instead of skipping): "+format+" ("+hint+")", args...)
	}
	t.Skipf("skipping: "+format+" ("+hint+")", args...)
}

// NPMServer returns the command line that starts one of the npm MCP servers
// of testdata/npm over stdio, e.g. NPMServer(t, "mcp-server-everything").
func NPMServer(t testing.TB, bin string) (command string, args []string) {
	t.Helper()
	script := filepath.Join(RepoRoot(), "testdata", "npm", "node_modules", ".bin", bin)
	if _, err := os.Stat(script); err != nil {
		Missing(t, "npm server %s not installed at %s", bin, script)
	}
	node := Node(t)
	target, err := filepath.EvalSymlinks(script)
	if err != nil {
		t.Fatalf("resolving %s: %v", script, err)
	}
	return node, []string{target}
}

// Node returns the path of the node binary.
func Node(t testing.TB) string {
	t.Helper()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "node")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	Missing(t, "node not found on PATH")
	return ""
}
