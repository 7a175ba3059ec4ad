package connectors

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stdioTerminateDuration is how long Close waits for a stdio server to exit
// after its stdin closes before sending SIGTERM (go-sdk's default is 5 s).
const stdioTerminateDuration = 2 * time.Second

// inheritedEnv keeps the only parent variables a stdio server sees: what a
// program needs to find binaries, its home, its locale and a temp dir.
// Everything else (other servers' secrets, cloud credentials, tokens in the
// user's shell) stays behind. goos is runtime.GOOS.
func inheritedEnv(environ []string, goos string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if keepVar(name, goos) {
			env[name] = value
		}
	}
	return env
}

func keepVar(name, goos string) bool {
	switch {
	case name == "PATH", name == "HOME", name == "TMPDIR":
		return true
	// The POSIX and glibc locale variables by name: a prefix test ("LC_")
	// would pass any LC_SOMETHING_TOKEN of the user's shell on too.
	case name == "LANG", name == "LANGUAGE", name == "LC_ALL", name == "LC_CTYPE", name == "LC_NUMERIC",
		name == "LC_TIME", name == "LC_COLLATE", name == "LC_MONETARY", name == "LC_MESSAGES",
		name == "LC_PAPER", name == "LC_NAME", name == "LC_ADDRESS", name == "LC_TELEPHONE",
		name == "LC_MEASUREMENT", name == "LC_IDENTIFICATION":
		return true
	case goos != "windows":
		return false
	}
	// Windows programs need more to start at all, and spell names in any
	// case ("Path"): without SYSTEMROOT, Winsock and the crypto libraries
	// fail to load; COMSPEC runs batch files (npx is npx.cmd); PATHEXT
	// finds them; WINDIR, the profile folders (USERPROFILE stands for
	// HOME; node, npm and python keep their caches in APPDATA and
	// LOCALAPPDATA) and TEMP and TMP are where programs look for them.
	switch strings.ToUpper(name) {
	case "PATH", "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "TEMP", "TMP":
		return true
	}
	return false
}

// setEnv sets name in env. On Windows, where names are case-insensitive,
// it replaces a variable spelled otherwise (the config's PATH replaces the
// inherited Path), so the process does not get both.
func setEnv(env map[string]string, name, value, goos string) {
	if goos == "windows" {
		for k := range env {
			if k != name && strings.EqualFold(k, name) {
				delete(env, k)
			}
		}
	}
	env[name] = value
}

// stdioCommand builds the server's process: the exact command and args, no
// shell, and the minimal environment plus the server's own env and
// secret_env. Secret values are read now, at connect time, so a value
// changed in the keyring takes effect at the next (re)connect. Unless the
// sandbox is off or unavailable, the plan says how to confine it.
func (c *Connector) stdioCommand(ctx context.Context) (*exec.Cmd, *stdioPlan, error) {
	env := inheritedEnv(os.Environ(), runtime.GOOS)
	for k, v := range c.cfg.Env {
		setEnv(env, k, v, runtime.GOOS)
	}
	cmd := exec.Command(c.cfg.Command, c.cfg.Args...)
	if c.cfg.Command != "" && !strings.ContainsRune(c.cfg.Command, os.PathSeparator) {
		// Look the command up in the child's PATH, which may differ from ours.
		if p, err := lookPath(c.cfg.Command, env["PATH"]); err == nil {
			cmd.Path = p
		}
	}
	cmd.Dir = c.cfg.Dir
	var plan *stdioPlan
	if c.Sandbox().Confined {
		// Planned before the secrets join env: their values are no paths.
		p, err := planSandbox(c.cfg.Name, c.cfg.Sandbox, cmd, env, c.opts.ProtectedPaths)
		if err != nil {
			return nil, nil, c.newError(KindConfig, err)
		}
		plan = &p
		for _, d := range p.dropped {
			c.log.Warn("sandbox: not granting a path the server is handed", "from", d.from, "path", d.path, "reason", "it "+d.why)
		}
	}
	for k, item := range c.cfg.SecretEnv {
		s, err := c.fetchSecret(ctx, item)
		if err != nil {
			plan.cleanup()
			return nil, nil, err
		}
		setEnv(env, k, s.Reveal(), runtime.GOOS)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	cmd.Env = make([]string, 0, len(names))
	for _, k := range names {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	return cmd, plan, nil
}

// lookPath finds command in the directories of path, as the child would.
func lookPath(command, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, command)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(command)
}

// commandLine renders command and args for display, quoting what a shell
// would split; environment values are never part of it.
func commandLine(command string, args []string) string {
	parts := make([]string, 0, 1+len(args))
	for _, p := range append([]string{command}, args...) {
		if p == "" || strings.ContainsAny(p, " \t\n\"'\\$`|&;<>()*?[]{}~#!") {
			p = strconv.Quote(p)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}
