package connectors

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/sandbox"
)

// SandboxState says how a stdio server runs, for `mediator servers`.
type SandboxState struct {
	// Confined is true when the server runs in the sandbox.
	Confined bool
	// Mode is "on", "off" or "unavailable" ("" for servers that are not
	// processes of mediator's).
	Mode string
	// Detail names the mechanism when on, e.g. "landlock v7 + seccomp".
	Detail string
	// Warning says why a stdio server runs unconfined.
	Warning string
}

// Sandbox reports whether this server runs confined. Only stdio servers
// are processes of mediator's; the others report a zero SandboxState.
func (c *Connector) Sandbox() SandboxState {
	if c.cfg.Transport != TransportStdio || c.opts.NewTransport != nil {
		return SandboxState{}
	}
	if c.cfg.Sandbox.Off {
		return SandboxState{Mode: "off", Warning: "runs unsandboxed (sandbox: off): it can read mediator's files and other processes of your user"}
	}
	st := sandbox.Probe()
	if !st.Available {
		return SandboxState{Mode: "unavailable", Warning: "runs unsandboxed: " + st.Reason}
	}
	return SandboxState{Confined: true, Mode: "on", Detail: st.String()}
}

// sandboxedTransport starts a stdio server's process confined by policy;
// everything else is commandTransport's.
type sandboxedTransport struct {
	inner *commandTransport
	plan  *stdioPlan
}

func (t *sandboxedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	var conn mcp.Connection
	err := sandbox.Start(t.plan.policy, func() error {
		var err error
		conn, err = t.inner.Connect(ctx)
		return err
	})
	return conn, err
}

// stdioPlan is what starting one stdio server takes besides its command:
// the sandbox policy, the per-server temp dir and the paths left out.
type stdioPlan struct {
	policy sandbox.Policy
	tmpDir string
	// dropped are paths from args or env that were not granted because they
	// are or hold mediator's own files.
	dropped []droppedPath
}

// droppedPath is a path the server was handed but not granted.
type droppedPath struct {
	path, from, why string
}

// planSandbox decides what the server of cmd may reach: the system trees,
// its command's install tree, its PATH, its package manager's cache, the
// paths it is handed in args and env (existing ones, and the parent of a
// file it is to create), its working directory, the config's sandbox paths
// and a temp dir of its own; never a path that is or holds one of
// protected. env is the child's environment; its TMPDIR is set to the
// server's temp dir.
func planSandbox(name string, cfg SandboxConfig, cmd *exec.Cmd, env map[string]string, protected []string) (stdioPlan, error) {
	var plan stdioPlan
	guard := newPathGuard(protected)
	for _, f := range []struct {
		field string
		paths []string
	}{{"sandbox.read", cfg.Read}, {"sandbox.write", cfg.Write}} {
		for _, p := range f.paths {
			if why := guard.conflict(p); why != "" {
				return plan, fmt.Errorf("%s: %s %s, which the sandbox never grants", f.field, p, why)
			}
		}
	}
	tmp, err := os.MkdirTemp("", "mediator-"+safeName(name)+"-")
	if err != nil {
		return plan, fmt.Errorf("creating the server's temp dir: %w", err)
	}
	plan.tmpDir = tmp
	env["TMPDIR"] = tmp

	read := slices.Clone(sandbox.SystemPaths())
	write := []string{tmp}
	// grant adds p unless it is or holds mediator's files; from says where
	// the server was handed it ("" for paths mediator chose itself).
	grant := func(list *[]string, p, from string) {
		if why := guard.conflict(p); why != "" {
			if from != "" {
				plan.dropped = append(plan.dropped, droppedPath{path: p, from: from, why: why})
			}
			return
		}
		*list = append(*list, p)
	}
	// /etc/resolv.conf and friends may be symlinks into /run.
	for _, f := range []string{"/etc/resolv.conf", "/etc/localtime", "/etc/hosts"} {
		if t, err := filepath.EvalSymlinks(f); err == nil && t != f {
			read = append(read, t)
		}
	}
	for _, dir := range filepath.SplitList(env["PATH"]) {
		if filepath.IsAbs(dir) {
			grant(&read, dir, "")
		}
	}
	dir := cmd.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	if dir != "" {
		grant(&read, dir, "")
	}
	for _, p := range installTree(cmd.Path) {
		grant(&read, p, "")
	}
	for _, p := range packageCaches(filepath.Base(cmd.Path), env["HOME"]) {
		grant(&write, p, "")
	}
	handed := make([]struct{ from, v string }, 0, len(cmd.Args)+len(env))
	for i, a := range cmd.Args[1:] {
		handed = append(handed, struct{ from, v string }{fmt.Sprintf("args[%d]", i), a})
	}
	for _, k := range envNames(env) {
		handed = append(handed, struct{ from, v string }{"env." + k, env[k]})
	}
	for _, h := range handed {
		for _, cand := range pathCandidates(h.v, dir, env["HOME"]) {
			st, err := os.Stat(cand)
			switch {
			case err == nil:
				grant(&write, cand, h.from)
				if !st.IsDir() {
					for _, p := range installTree(cand) {
						grant(&read, p, "")
					}
				}
			case os.IsNotExist(err):
				// A file the server is to create: its directory, unless
				// that is a shared one such as / or /tmp, which would hand
				// it far more than the file.
				parent := filepath.Dir(cand)
				if broadDir(parent, env["HOME"]) {
					plan.dropped = append(plan.dropped, droppedPath{path: parent, from: h.from, why: "is a shared directory; grant the file's own directory with sandbox.write"})
				} else if isDir(parent) {
					grant(&write, parent, h.from)
				}
			}
		}
	}
	read = append(read, cfg.Read...)
	write = append(write, cfg.Write...)
	plan.policy = sandbox.Policy{Read: read, Write: write, Network: !cfg.NoNetwork, UnixSockets: cfg.UnixSockets}
	return plan, nil
}

// installTree is what running the program at path reads besides the file:
// the tree it was installed into (the parent of a bin directory, the
// outermost node_modules), for the path as given and as its symlinks
// resolve.
func installTree(path string) []string {
	var out []string
	paths := []string{path}
	if t, err := filepath.EvalSymlinks(path); err == nil && t != path {
		paths = append(paths, t)
	}
	for _, p := range paths {
		d := filepath.Dir(p)
		out = append(out, d)
		if filepath.Base(d) == "bin" {
			out = append(out, filepath.Dir(d))
		}
		if i := strings.Index(p, string(filepath.Separator)+"node_modules"+string(filepath.Separator)); i >= 0 {
			out = append(out, p[:i+len("/node_modules")])
		}
	}
	return out
}

// packageCaches are the caches a package runner writes to (npx -y, uvx);
// they are created, so the runner need not create them in the home
// directory, which the sandbox does not grant.
func packageCaches(command, home string) []string {
	if home == "" {
		return nil
	}
	var dirs []string
	switch strings.TrimSuffix(command, ".exe") {
	case "npx", "npm", "node", "pnpm", "pnpx", "yarn", "bunx", "bun":
		dirs = []string{filepath.Join(home, ".npm")}
	case "uvx", "uv":
		dirs = []string{filepath.Join(home, ".cache", "uv"), filepath.Join(home, ".local", "share", "uv")}
	case "pipx":
		dirs = []string{filepath.Join(home, ".cache", "pipx"), filepath.Join(home, ".local", "share", "pipx")}
	default:
		return nil
	}
	for _, d := range dirs {
		_ = os.MkdirAll(d, 0o700)
	}
	return dirs
}

// envNames lists the variables of env whose values may name paths the
// server is handed, in a stable order: not PATH, HOME and TMPDIR, which
// every process gets.
func envNames(env map[string]string) []string {
	names := make([]string, 0, len(env))
	for k := range env {
		if k != "PATH" && k != "TMPDIR" && k != "HOME" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// pathCandidates finds the paths in one argument or env value: the value
// itself, what follows "=" in --flag=PATH, each element of a PATH-like list,
// a file: URL; absolute, ~/ or relative to dir (only when that exists).
func pathCandidates(v, dir, home string) []string {
	var parts []string
	if _, after, ok := strings.Cut(v, "="); ok && strings.HasPrefix(v, "-") {
		v = after
	}
	switch {
	case strings.HasPrefix(v, "file://"):
		v = strings.TrimPrefix(v, "file://")
	case strings.Contains(v, "://"):
		// Any other URL names no file (redis://cache:6379 is no path).
		return nil
	}
	parts = append(parts, filepath.SplitList(v)...)
	var out []string
	for _, p := range parts {
		switch {
		case p == "":
			continue
		case strings.HasPrefix(p, "~/") && home != "":
			p = filepath.Join(home, p[2:])
		case filepath.IsAbs(p):
		case strings.HasPrefix(p, "-") || strings.HasPrefix(p, "@") || dir == "":
			continue
		default:
			q := filepath.Join(dir, p)
			if _, err := os.Stat(q); err != nil {
				continue
			}
			p = q
		}
		out = append(out, filepath.Clean(p))
	}
	return out
}

// broadDir reports whether dir is too widely shared to grant for the sake
// of one file in it: the root, a system tree or its top level, /tmp, the
// home directory and the directories of homes.
func broadDir(dir, home string) bool {
	dir = filepath.Clean(dir)
	if dir == home || filepath.Dir(dir) == dir {
		return true
	}
	for _, d := range append(sandbox.SystemPaths(), "/tmp", "/var", "/var/tmp", "/run", "/dev", "/home", "/root", "/mnt", "/media", "/srv") {
		if dir == d {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// safeName keeps a server name usable in a file name.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r < ' ' {
			return '_'
		}
		return r
	}, name)
}

// ProtectedConflict says why the sandbox never grants p ("is inside ...,
// one of mediator's own directories" or "holds ..."), given mediator's
// protected paths; "" when it may.
func ProtectedConflict(p string, protected []string) string {
	return newPathGuard(protected).conflict(p)
}

// pathGuard knows mediator's own paths, resolved through symlinks.
type pathGuard struct{ protected []string }

func newPathGuard(paths []string) pathGuard {
	var g pathGuard
	for _, p := range paths {
		if p == "" {
			continue
		}
		g.protected = append(g.protected, canonical(p))
	}
	return g
}

// conflict says why p may not be granted ("is mediator's ..." / "holds
// ..."), or "" when it may.
func (g pathGuard) conflict(p string) string {
	c := canonical(p)
	for _, q := range g.protected {
		switch {
		case c == q:
			return "is " + q + ", one of mediator's own paths"
		case within(c, q):
			return "is inside " + q + ", one of mediator's own directories"
		case within(q, c):
			return "holds " + q + ", one of mediator's own directories"
		}
	}
	return ""
}

// canonical is p made absolute and resolved through symlinks as far as it
// exists.
func canonical(p string) string {
	p, _ = filepath.Abs(p)
	rest := ""
	for cur := p; ; cur = filepath.Dir(cur) {
		if t, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(t, rest)
		}
		if cur == filepath.Dir(cur) {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

// within reports whether p lies strictly beneath dir.
func within(p, dir string) bool {
	if dir == string(filepath.Separator) {
		return p != dir
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// commandOf is the command transport under t, if t starts a process.
func commandOf(t mcp.Transport) *commandTransport {
	switch t := t.(type) {
	case *commandTransport:
		return t
	case *sandboxedTransport:
		return t.inner
	}
	return nil
}

// cleanup removes the server's temp dir; nil-safe.
func (p *stdioPlan) cleanup() {
	if p != nil && p.tmpDir != "" {
		_ = os.RemoveAll(p.tmpDir)
	}
}
