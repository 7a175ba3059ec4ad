package connectors

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// childEnv connects to a fresh stdio test server and returns its environment.
func childEnv(t *testing.T, c *Connector) map[string]string {
	t.Helper()
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	res, err := c.CallTool(ctx, "env", nil, nil)
	if err != nil {
		t.Fatalf("env: %v", err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(resultText(t, res), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// A stdio server sees PATH, HOME, the locale variables (LANG, LC_CTYPE,
// ...) and TMPDIR of the parent, its own env and secret_env, and nothing
// else: not a variable of the parent's, not one merely named like a locale
// variable (LC_SOMETHING_TOKEN), and not another server's secret.
func TestStdioEnvironmentIsMinimal(t *testing.T) {
	const (
		parentCanary = "parent-canary-7f3a9c"
		secretA      = "secret-of-server-a-91c4e2"
		secretB      = "secret-of-server-b-0d8b17"
	)
	t.Setenv("MEDIATOR_PARENT_CANARY", parentCanary)
	t.Setenv("AWS_SECRET_ACCESS_KEY", parentCanary)
	t.Setenv("LC_SOMETHING_TOKEN", parentCanary)
	t.Setenv("LC_TIME", "C")
	t.Setenv("LANG", "C.UTF-8")

	cfgA := stdioTestConfig(t, "a")
	cfgA.Env["LOG_LEVEL"] = "info"
	cfgA.SecretEnv = map[string]string{"API_TOKEN": "token"}
	a := mustNew(t, Options{Config: cfgA, Secrets: secretMap{"token": secretA}})

	cfgB := stdioTestConfig(t, "b")
	cfgB.SecretEnv = map[string]string{"B_TOKEN": "token"}
	b := mustNew(t, Options{Config: cfgB, Secrets: secretMap{"token": secretB}})

	envA, envB := childEnv(t, a), childEnv(t, b)

	allowed := func(name string) bool {
		return slices.Contains([]string{"PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", stdioServerEnv, "LOG_LEVEL", "API_TOKEN", "B_TOKEN",
			"LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "LC_PAPER",
			"LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION"}, name)
	}
	for server, env := range map[string]map[string]string{"a": envA, "b": envB} {
		for k, v := range env {
			if !allowed(k) {
				t.Errorf("server %s sees %s, which is not on the minimal list", server, k)
			}
			if v == parentCanary {
				t.Errorf("server %s sees the parent's canary in %s", server, k)
			}
		}
		if env["LC_TIME"] != "C" || env["LANG"] != "C.UTF-8" {
			t.Errorf("server %s lost the locale: LANG=%q LC_TIME=%q", server, env["LANG"], env["LC_TIME"])
		}
		if env["PATH"] == "" {
			t.Errorf("server %s has no PATH", server)
		}
	}
	if envA["API_TOKEN"] != secretA || envA["LOG_LEVEL"] != "info" {
		t.Errorf("server a's own env missing: API_TOKEN set=%v LOG_LEVEL=%q", envA["API_TOKEN"] == secretA, envA["LOG_LEVEL"])
	}
	if envB["B_TOKEN"] != secretB {
		t.Errorf("server b's own secret_env missing")
	}
	for k, v := range envA {
		if strings.Contains(v, secretB) {
			t.Errorf("server a sees server b's secret in %s", k)
		}
	}
	for k, v := range envB {
		if strings.Contains(v, secretA) {
			t.Errorf("server b sees server a's secret in %s", k)
		}
	}
}

// A server that dies in the middle of a call fails that call with a
// transport error (never retried), and the connector brings up a new
// process on its own.
func TestStdioCrashMidCallThenReconnect(t *testing.T) {
	ctx := testCtx(t)
	const canary = "crash-canary-secret-5e61"
	cfg := stdioTestConfig(t, "crashy")
	cfg.SecretEnv = map[string]string{"TOKEN": "token"}
	c := mustNew(t, Options{
		Config:    cfg,
		Secrets:   secretMap{"token": canary},
		Reconnect: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	res, err := c.CallTool(ctx, "pid", nil, nil)
	if err != nil {
		t.Fatalf("pid: %v", err)
	}
	firstPID := resultText(t, res)

	_, err = c.CallTool(ctx, "crash", nil, nil)
	if err == nil {
		t.Fatal("crash returned no error")
	}
	if k := kindOf(t, err); k != KindTransport {
		t.Fatalf("crash: kind %s, want %s: %v", k, KindTransport, err)
	}
	t.Logf("crash: %v", err)
	if !strings.Contains(err.Error(), "crash") || !strings.Contains(err.Error(), "crashy") || !strings.Contains(err.Error(), "not retried") {
		t.Errorf("error does not name the server and tool: %v", err)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error holds the secret: %v", err)
	}

	// Calls wait while the connector reconnects.
	secondPID := resultText(t, callOnceReconnected(ctx, t, c, "pid", nil))
	if secondPID == firstPID {
		t.Errorf("pid %s unchanged: the crashed process cannot still be serving", firstPID)
	}
	if st := c.Status(); st.State != StateReady {
		t.Errorf("state %s after reconnect", st.State)
	}
}

// The real npm server-everything over stdio: connect, list, call echo.
func TestStdioServerEverything(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "everything", Command: command, Args: append(args, "stdio")}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if c.Transport() != TransportStdio {
		t.Errorf("Transport() = %q", c.Transport())
	}
	st := c.Status()
	if st.State != StateReady || st.ServerInfo == nil || st.ProtocolVersion == "" {
		t.Fatalf("status %+v", st)
	}
	tools, err := c.ListTools(ctx)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	if !slices.ContainsFunc(tools, func(tl *mcp.Tool) bool { return tl.Name == "echo" }) {
		t.Fatalf("no echo among %d tools", len(tools))
	}
	res, err := c.CallTool(ctx, "echo", map[string]any{"message": "hello mediator"}, nil)
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if got := resultText(t, res); !strings.Contains(got, "hello mediator") || res.IsError {
		t.Errorf("echo returned %q (IsError %v)", got, res.IsError)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := c.Status(); st.State != StateClosed {
		t.Errorf("state after Close: %s", st.State)
	}
}

// Linux and macOS servers get the minimal environment only; Windows
// servers also get what a Windows program needs to start, in whatever case
// Windows spells it, and nothing else either.
func TestInheritedEnvPerOS(t *testing.T) {
	parent := []string{
		"PATH=/bin", "Path=C:\\Windows", "HOME=/home/u", "LANG=C", "LC_ALL=C", "TMPDIR=/tmp",
		"SystemRoot=C:\\Windows", "COMSPEC=C:\\Windows\\cmd.exe", "PATHEXT=.COM;.EXE;.CMD", "windir=C:\\Windows",
		"APPDATA=A", "LOCALAPPDATA=L", "USERPROFILE=U", "TEMP=T", "TMP=T2",
		"=C:=C:\\", "AWS_SECRET_ACCESS_KEY=canary", "OTHER_SERVER_TOKEN=canary", "LC_SOMETHING_TOKEN=canary",
	}
	names := func(env map[string]string) string {
		var n []string
		for k := range env {
			n = append(n, k)
		}
		slices.Sort(n)
		return strings.Join(n, " ")
	}
	if got, want := names(inheritedEnv(parent, "linux")), "HOME LANG LC_ALL PATH TMPDIR"; got != want {
		t.Errorf("linux: %s, want %s", got, want)
	}
	if got, want := names(inheritedEnv(parent, "darwin")), "HOME LANG LC_ALL PATH TMPDIR"; got != want {
		t.Errorf("darwin: %s, want %s", got, want)
	}
	win := inheritedEnv(parent, "windows")
	if got, want := names(win), "APPDATA COMSPEC HOME LANG LC_ALL LOCALAPPDATA PATH PATHEXT Path SystemRoot TEMP TMP TMPDIR USERPROFILE windir"; got != want {
		t.Errorf("windows: %s, want %s", got, want)
	}
	setEnv(win, "PATH", "D:\\bin", "windows")
	if _, ok := win["Path"]; ok || win["PATH"] != "D:\\bin" {
		t.Errorf("the config's PATH did not replace the inherited Path: %v", win)
	}
	lin := inheritedEnv(parent, "linux")
	setEnv(lin, "Path", "x", "linux")
	if lin["PATH"] != "/bin" || lin["Path"] != "x" {
		t.Errorf("on linux names are case-sensitive: %v", lin)
	}
}

// A server that exits while starting gets an error that shows the last
// lines of its stderr: its secrets masked, nothing that could drive a
// terminal, only the last few lines.
func TestStdioStartFailureShowsStderr(t *testing.T) {
	const token = "start-fail-token-5Jq8Wz"
	cfg := stdioTestConfig(t, "broken")
	cfg.Env[stdioServerEnv] = "fail-start"
	cfg.SecretEnv = map[string]string{"API_TOKEN": "token"}
	c := mustNew(t, Options{Config: cfg, Secrets: secretMap{"token": token}})
	err := c.Connect(testCtx(t))
	if err == nil {
		t.Fatal("a server that exits while starting connected")
	}
	msg := err.Error()
	t.Logf("%s", msg)
	for _, want := range []string{"exit status 0", "the last lines of its stderr:\n  ", "loading plugin 19", "  " + hostile.FailStartLast} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, token) {
		t.Errorf("error shows the server's secret:\n%s", msg)
	}
	if !strings.Contains(msg, "token [REDACTED]") {
		t.Errorf("the line with the secret is not shown masked:\n%s", msg)
	}
	if strings.ContainsAny(msg, "\x1b\x07\r") {
		t.Errorf("error holds terminal controls: %q", msg)
	}
	if strings.Contains(msg, "loading plugin 0\n") || strings.Contains(msg, "starting failing-server") {
		t.Errorf("error shows more than the last lines:\n%s", msg)
	}
	if kindOf(t, err) != KindTransport {
		t.Errorf("kind %s", kindOf(t, err))
	}
}
