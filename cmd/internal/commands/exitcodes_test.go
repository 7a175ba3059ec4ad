package commands_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// startRPCServer serves, over loopback HTTP, a go-sdk server whose tool
// "rpc" answers every call with a JSON-RPC error (a protocol error, not a
// tool's error result), and whose tool "changing" the test can redefine.
func startRPCServer(t *testing.T) (string, *mcp.Server) {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "rpc", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "rpc", Description: "Fails at the protocol level.", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, &jsonrpc.Error{Code: -32000, Message: "the backend refused the request"}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "changing", Description: "As first seen."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Echo: in.Text}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, s
}

// Every command follows one exit-code table (cmdutil.ExitCodesHelp):
// 0 success, 1 the tool or flow returned an error, 2 refused (usage,
// config, policy), 3 a server or the keyring could not be used. Each row
// is one command in one situation, against real servers and a real file
// keyring.
func TestExitCodesFollowOneTable(t *testing.T) {
	e := newTestEnv(t)
	weather, _ := startServer(t, canaryKey)
	rpcURL, rpcServer := startRPCServer(t)
	servers := "servers:\n" +
		"  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  rpc:\n    url: " + rpcURL + "\n    timeout: 10s\n" +
		"  down:\n    url: " + downURL(t) + "\n    timeout: 10s\n" +
		"  portal:\n    url: " + downURL(t) + "\n    auth: {type: oauth, allow_insecure_localhost: true}\n    timeout: 10s\n"
	e.writeConfig(servers)
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	e.mustRun("", "tools", "rpc") // pins rpc's tools as first seen
	mcp.AddTool(rpcServer, &mcp.Tool{Name: "changing", Description: "Changed since it was accepted."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Echo: in.Text}, nil
		})

	// A second config with only the server that works, and a broken one.
	good := filepath.Join(e.dir, "good.yaml")
	broken := filepath.Join(e.dir, "broken.yaml")
	for path, body := range map[string]string{
		good:   "credentials:\n  backend: file\n  file_dir: " + filepath.Join(e.dir, "keyring") + "\nservers:\n  weather:\n    url: " + weather.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n",
		broken: "servers:\n  a:\n    ur: https://a.example.com/mcp\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flow := func(name, steps string) string {
		p := filepath.Join(e.dir, name+".flow.yaml")
		if err := os.WriteFile(p, []byte("version: 1\nname: "+name+"\nsteps:\n"+steps), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(server, tool, with string) string {
		return "  - id: a\n    call: {server: " + server + ", tool: " + tool + "}\n" + with
	}
	okFlow := flow("ok", call("weather", "echo", "    with: {text: hi}\n"))
	failFlow := flow("fail", call("weather", "fail", ""))
	unknownToolFlow := flow("unknown-tool", call("weather", "nosuch", ""))
	pinFlow := flow("pin", call("rpc", "changing", "    with: {text: hi}\n"))
	rpcFlow := flow("rpc", call("rpc", "rpc", ""))
	downFlow := flow("down", call("down", "echo", "    with: {text: hi}\n"))
	leakFlow := flow("leak", call("weather", "echo", "    with: {text: hi}\n")+
		"  - id: b\n    call: {server: rpc, tool: changing}\n    with: {text: ${ .steps.a.result.echo }}\n")
	invalidFlow := flow("invalid", "  - id: a\n    call: {server: weather}\n")

	// Runs to resume: one whose step failed, one whose server was down.
	failedRun := runID(t, e.run("", "run", failFlow))
	downRun := runID(t, e.run("", "run", downFlow))
	okRun := runID(t, e.run("", "run", okFlow))

	wrongPassphrase := func(vars map[string]string) { vars["MEDIATOR_KEYRING_PASSPHRASE"] = "not-the-passphrase" }
	tampered := filepath.Join(e.dir, "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(`{"seq":1,"prev":"","hash":"sha256:00"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args  []string
		code  int
		stdin string
		vars  func(map[string]string)
		// want is a part of stderr that says why.
		want string
	}{
		{args: []string{"call", "weather", "echo", "-a", "text=hi"}, code: 0},
		{args: []string{"call", "weather", "fail"}, code: 1, want: "weather.fail returned an error"},
		{args: []string{"call", "weather", "nosuch"}, code: 2, want: `no tool "nosuch"`},
		{args: []string{"call", "wether", "echo"}, code: 2, want: `unknown server "wether"`},
		{args: []string{"call", "weather", "add", "-a", "a=two"}, code: 2},
		{args: []string{"call", "rpc", "changing", "-a", "text=hi"}, code: 2, want: "changed since you accepted it"},
		{args: []string{"call", "weather"}, code: 2, want: "takes 2 argument(s)"},
		{args: []string{"call", "rpc", "rpc"}, code: 3, want: "the backend refused the request"},
		{args: []string{"call", "down", "echo"}, code: 3},
		{args: []string{"call", "weather", "echo", "-a", "text=hi"}, code: 3, vars: wrongPassphrase, want: "wrong passphrase"},
		{args: []string{"call", "weather", "say", "-a", "text=hi", "-o", filepath.Join(e.dir, "none.bin")}, code: 2, want: "nothing saved"},

		{args: []string{"run", okFlow}, code: 0},
		{args: []string{"run", failFlow}, code: 1, want: "weather.fail returned an error"},
		{args: []string{"run", unknownToolFlow}, code: 2, want: `no tool "nosuch"`},
		{args: []string{"run", pinFlow}, code: 2, want: "changed since you accepted it"},
		{args: []string{"run", leakFlow}, code: 2, want: "flows"},
		{args: []string{"run", invalidFlow}, code: 2},
		{args: []string{"run", okFlow, "-i", "nosuch=1"}, code: 2},
		{args: []string{"run", rpcFlow}, code: 3, want: "the backend refused the request"},
		{args: []string{"run", downFlow}, code: 3},
		{args: []string{"run", unknownToolFlow, "--dry-run"}, code: 2, want: `no tool "nosuch"`},
		{args: []string{"run", rpcFlow, "--dry-run"}, code: 0},

		{args: []string{"resume", failedRun}, code: 1, want: "weather.fail returned an error"},
		{args: []string{"resume", okRun}, code: 2},
		{args: []string{"resume", "nosuchrun"}, code: 2},
		{args: []string{"resume", downRun}, code: 3},

		{args: []string{"validate", okFlow}, code: 0},
		{args: []string{"validate", invalidFlow}, code: 2},
		{args: []string{"validate", "--connect", unknownToolFlow}, code: 2},
		{args: []string{"validate", "--connect", downFlow}, code: 3},
		{args: []string{"graph", okFlow}, code: 0},
		{args: []string{"graph", invalidFlow}, code: 2},

		{args: []string{"runs", "list"}, code: 0},
		{args: []string{"runs", "show", okRun}, code: 0},
		{args: []string{"runs", "show", "nosuchrun"}, code: 2},
		{args: []string{"runs", "prune", "--dry-run"}, code: 0},
		{args: []string{"runs", "prune"}, code: 2, want: "pass --yes"},
		{args: []string{"runs", "prune", "--status", "running"}, code: 2},

		{args: []string{"--config", good, "servers"}, code: 0},
		{args: []string{"servers"}, code: 3, want: "not ready"},
		{args: []string{"--config", broken, "servers"}, code: 2},
		{args: []string{"tools", "weather"}, code: 0},
		{args: []string{"tools", "nosuch"}, code: 2},
		{args: []string{"tools", "down"}, code: 3},
		{args: []string{"tools", "diff", "weather"}, code: 0},
		{args: []string{"tools", "diff", "nosuch"}, code: 2},
		{args: []string{"tools", "diff", "down"}, code: 3},
		{args: []string{"tools", "accept", "rpc", "--digest", "sha256:0"}, code: 2},
		{args: []string{"tools", "accept", "down"}, code: 3},

		{args: []string{"audit", "verify"}, code: 0},
		{args: []string{"audit", "verify", "--file", tampered}, code: 2},
		{args: []string{"audit", "verify"}, code: 3, vars: wrongPassphrase},

		{args: []string{"secret", "list"}, code: 0},
		{args: []string{"secret", "set", "weather", "other"}, stdin: "value", code: 0},
		{args: []string{"secret", "rm", "weather", "nosuch"}, code: 2},
		{args: []string{"secret", "set", "weather", "Zq8xK2mW9pL4vN7rT1yB6cF3"}, stdin: "value", code: 2},
		{args: []string{"secret", "list"}, code: 3, vars: wrongPassphrase, want: "wrong passphrase"},

		{args: []string{"config", "validate"}, code: 0},
		{args: []string{"--config", broken, "config", "validate"}, code: 2},

		{args: []string{"auth", "status"}, code: 0},
		{args: []string{"auth", "status", "portal"}, code: 3},
		{args: []string{"auth", "login", "weather"}, code: 2, want: "has no login"},
		{args: []string{"auth", "login", "portal", "--no-browser"}, code: 3},
		{args: []string{"auth", "logout", "portal"}, code: 0},

		{args: []string{"version"}, code: 0},
		{args: []string{"frobnicate"}, code: 2},
		{args: []string{"help", "exit-codes"}, code: 0},
	} {
		name := strings.Join(tc.args, " ")
		saved := map[string]string{}
		for k, v := range e.vars {
			saved[k] = v
		}
		if tc.vars != nil {
			tc.vars(e.vars)
		}
		r := e.run(tc.stdin, tc.args...)
		e.vars = saved
		if r.code != tc.code {
			t.Errorf("mediator %s: exit %d, want %d\nstderr:\n%s", name, r.code, tc.code, r.stderr)
			continue
		}
		if tc.want != "" && !strings.Contains(r.stderr, tc.want) {
			t.Errorf("mediator %s: stderr lacks %q:\n%s", name, tc.want, r.stderr)
		}
	}
}

// runID is the id of the run whose progress r shows.
func runID(t *testing.T, r result) string {
	t.Helper()
	for _, line := range strings.Split(r.stderr, "\n") {
		if _, rest, ok := strings.Cut(line, "run "); ok {
			if id, _, ok := strings.Cut(rest, ": "); ok && strings.Count(id, "-") == 1 && len(id) > 16 {
				return id
			}
		}
	}
	t.Fatalf("no run id in:\n%s", r.stderr)
	return ""
}

// `mediator help exit-codes` is the table every command points to.
func TestHelpExitCodes(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun("", "help", "exit-codes")
	if strings.TrimSpace(r.stdout) != strings.TrimSpace(cmdutil.ExitCodesHelp) {
		t.Errorf("help exit-codes:\n%s", r.stdout)
	}
	r = e.mustRun("", "--help")
	if !strings.Contains(r.stdout, "mediator help exit-codes") {
		t.Errorf("--help does not point to the table:\n%s", r.stdout)
	}
}
