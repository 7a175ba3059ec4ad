package connectors

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/sandbox"
	"github.com/mediatorhq/mediator/internal/testenv"
)

func requireSandbox(t *testing.T) {
	t.Helper()
	if st := sandbox.Probe(); !st.Available {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the sandbox is unavailable in CI: %s", st.Reason)
		}
		t.Skipf("sandbox unavailable: %s", st.Reason)
	}
}

// mediatorDirs stands in for mediator's config, state and keyring
// directories, which no sandboxed server may reach.
func mediatorDirs(t *testing.T) []string {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for _, d := range []string{"config", "state", "keyring"} {
		p := filepath.Join(root, d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, p)
	}
	return dirs
}

// The real npm servers keep working sandboxed, configured as people write
// them, with no sandbox settings: the filesystem server with its
// directories in args, the memory server with MEMORY_FILE_PATH (a file it
// creates) in env, and a server started through npx -y.
func TestSandboxedNPMServers(t *testing.T) {
	requireSandbox(t)
	ctx := testCtx(t)
	protected := mediatorDirs(t)

	t.Run("filesystem", func(t *testing.T) {
		command, args := testenv.NPMServer(t, "mcp-server-filesystem")
		a, b := t.TempDir(), t.TempDir()
		c := mustNew(t, Options{ProtectedPaths: protected, Config: Config{Name: "fs", Command: command, Args: append(args, a, b)}})
		defer c.Close()
		mustConnect(t, c)
		if !c.Sandbox().Confined {
			t.Fatalf("not confined: %+v", c.Sandbox())
		}
		for _, dir := range []string{a, b} {
			p := filepath.Join(dir, "note.txt")
			if res, err := c.CallTool(ctx, "write_file", map[string]any{"path": p, "content": "kept in " + dir}, nil); err != nil || res.IsError {
				t.Fatalf("write_file %s: %v %s", p, err, resultText(t, res))
			}
			res, err := c.CallTool(ctx, "read_text_file", map[string]any{"path": p}, nil)
			if err != nil || res.IsError || !strings.Contains(resultText(t, res), "kept in "+dir) {
				t.Fatalf("read_text_file %s: %v %s", p, err, resultText(t, res))
			}
		}
		// The server's own access check would refuse a path outside its
		// roots anyway; the sandbox must refuse it too when the server is
		// asked through a symlink inside a root.
		if err := os.Symlink(protected[1], filepath.Join(a, "escape")); err != nil {
			t.Fatal(err)
		}
		if res, err := c.CallTool(ctx, "list_directory", map[string]any{"path": filepath.Join(a, "escape")}, nil); err == nil && !res.IsError {
			t.Errorf("listing mediator's state dir through a symlink worked: %s", resultText(t, res))
		}
	})

	t.Run("memory", func(t *testing.T) {
		command, args := testenv.NPMServer(t, "mcp-server-memory")
		file := filepath.Join(t.TempDir(), "memory.json")
		c := mustNew(t, Options{ProtectedPaths: protected, Config: Config{Name: "memory", Command: command, Args: args, Env: map[string]string{"MEMORY_FILE_PATH": file}}})
		defer c.Close()
		mustConnect(t, c)
		entities := map[string]any{"entities": []any{map[string]any{"name": "mediator", "entityType": "program", "observations": []any{"sandboxed"}}}}
		if res, err := c.CallTool(ctx, "create_entities", entities, nil); err != nil || res.IsError {
			t.Fatalf("create_entities: %v %s", err, resultText(t, res))
		}
		if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "sandboxed") {
			t.Fatalf("the memory file: %v %q", err, b)
		}
	})

	t.Run("npx", func(t *testing.T) {
		if _, err := exec.LookPath("npx"); err != nil {
			testenv.Missing(t, "npx not on PATH")
		}
		// In testdata/npm npx finds the installed package without the
		// network; it still goes through npx's own start-up and cache.
		dir := filepath.Join(testenv.RepoRoot(), "testdata", "npm")
		c := mustNew(t, Options{ProtectedPaths: protected, Config: Config{Name: "everything", Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-everything"}, Dir: dir, Timeout: 60e9}})
		defer c.Close()
		mustConnect(t, c)
		res, err := c.CallTool(ctx, "echo", map[string]any{"message": "through npx"}, nil)
		if err != nil || !strings.Contains(resultText(t, res), "through npx") {
			t.Fatalf("echo: %v", err)
		}
	})
}

func mustConnect(t *testing.T, c *Connector) {
	t.Helper()
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

// A server that fails on a path the sandbox refuses gets an error naming
// the path and the setting that widens the sandbox.
func TestSandboxDeniedPathNamed(t *testing.T) {
	requireSandbox(t)
	node := testenv.Node(t)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "data.json")
	if err := os.WriteFile(secret, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The path reaches the script through a variable whose value is not a
	// path, as a server reading its own config file would find it.
	script := "require('fs').readFileSync(process.env.DATA_DIR_NAME.replace('@', '/'))"
	c := mustNew(t, Options{Config: Config{Name: "reader", Command: node, Args: []string{"-e", script},
		Env: map[string]string{"DATA_DIR_NAME": strings.Replace(secret, "/", "@", 1)}}})
	defer c.Close()
	err := c.Connect(testCtx(t))
	if err == nil {
		t.Fatal("the server read a file outside its sandbox")
	}
	for _, want := range []string{secret, "servers.reader.sandbox.read", "sandbox: off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	// Granted in config, the same server reads it (and exits 0, which
	// ends the handshake; what matters is that the read worked).
	c2 := mustNew(t, Options{Config: Config{Name: "reader", Command: node, Args: []string{"-e", script},
		Env: map[string]string{"DATA_DIR_NAME": strings.Replace(secret, "/", "@", 1)}, Sandbox: SandboxConfig{Read: []string{secretDir}}}})
	defer c2.Close()
	if err := c2.Connect(testCtx(t)); err == nil || strings.Contains(err.Error(), "sandbox denied") {
		t.Errorf("with sandbox.read the read should work: %v", err)
	}
}

// What a server is granted from its command line, and what it never is.
func TestPlanSandbox(t *testing.T) {
	protected := mediatorDirs(t)
	root := filepath.Dir(protected[0])
	data := t.TempDir()
	existing := filepath.Join(data, "existing.txt")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	toCreate := filepath.Join(data, "sub")
	if err := os.Mkdir(toCreate, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/env", "--root="+data, existing, filepath.Join(toCreate, "new.db"),
		filepath.Join(protected[1], "pins.json"), root, "@scope/pkg", "-y")
	env := map[string]string{"PATH": "/usr/bin:/bin", "HOME": t.TempDir(), "DB": "~/db.sqlite", "ROOTS": data + ":" + protected[2],
		"CACHE_URL": "redis://cache:6379", "LOG": "/tmp/never-made-by-this-test.log"}
	plan, err := planSandbox("srv", SandboxConfig{}, cmd, env, protected)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.cleanup()
	for _, want := range []string{data, existing, toCreate, plan.tmpDir} {
		if !slices.Contains(plan.policy.Write, want) {
			t.Errorf("write grants lack %s: %v", want, plan.policy.Write)
		}
	}
	if env["TMPDIR"] != plan.tmpDir || !strings.Contains(plan.tmpDir, "mediator-srv-") {
		t.Errorf("TMPDIR %q, temp dir %q", env["TMPDIR"], plan.tmpDir)
	}
	for _, p := range []string{"/", "/tmp", env["HOME"]} {
		if slices.Contains(plan.policy.Write, p) {
			t.Errorf("granted write on %s: %v", p, plan.policy.Write)
		}
	}
	for _, p := range append(slices.Clone(plan.policy.Read), plan.policy.Write...) {
		if why := newPathGuard(protected).conflict(p); why != "" {
			t.Errorf("granted %s, which %s", p, why)
		}
	}
	var from []string
	for _, d := range plan.dropped {
		from = append(from, d.from)
	}
	if want := []string{"args[3]", "args[4]", "env.DB", "env.LOG", "env.ROOTS"}; !slices.Equal(from, want) {
		t.Errorf("dropped from %v, want %v (%+v)", from, want, plan.dropped)
	}

	// A path the config grants explicitly must not be mediator's.
	for _, cfg := range []SandboxConfig{{Read: []string{protected[0]}}, {Write: []string{root}}} {
		_, err := planSandbox("srv", cfg, exec.Command("/usr/bin/env"), map[string]string{}, protected)
		if err == nil || !strings.Contains(err.Error(), "never grants") {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
