package commands_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// Canaries: values that must never show up in any command's output.
const (
	canaryKey        = "canary-key-Qx9Lm2Vb8Nz4Kp1Wd"
	canaryPassphrase = "canary-pass-Jr5Tg7Yh3Uk6"
)

// testEnv is an isolated home: config, keyring, state and environment all
// live in a temp dir and in a map, never in the process environment.
type testEnv struct {
	t       *testing.T
	dir     string
	vars    map[string]string
	cfgPath string
	canary  []string
	// backend is the config's credentials.backend (default file).
	backend string
	// setup adjusts the Factory before each run (e.g. a fake terminal).
	setup func(*cmdutil.Factory)
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{
		t:   t,
		dir: dir,
		vars: map[string]string{
			"HOME":                        dir,
			"XDG_CONFIG_HOME":             filepath.Join(dir, "config"),
			"XDG_DATA_HOME":               filepath.Join(dir, "data"),
			"XDG_STATE_HOME":              filepath.Join(dir, "state"),
			"MEDIATOR_KEYRING_PASSPHRASE": canaryPassphrase,
		},
		canary:  []string{canaryKey, canaryPassphrase},
		backend: "file",
	}
	e.cfgPath = filepath.Join(dir, "config", "mediator", "config.yaml")
	return e
}

// useSecretService adds env, the variables that lead to a Secret Service
// the test started (testenv.StartSecretService), to the environment, and
// has writeConfig leave the backend to auto, which should pick it.
func (e *testEnv) useSecretService(env map[string]string) {
	for k, v := range env {
		e.vars[k] = v
	}
	e.backend = "auto"
}

// writeConfig writes the default config file, with the file keyring in
// the temp dir so no test touches a real keyring.
func (e *testEnv) writeConfig(servers string) {
	e.t.Helper()
	body := "credentials:\n  backend: " + e.backend + "\n  file_dir: " + filepath.Join(e.dir, "keyring") + "\n" + servers
	if err := os.MkdirAll(filepath.Dir(e.cfgPath), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs mediator with args and stdin, and fails the test if a canary
// value appears in what it printed.
func (e *testEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), stdin, args...)
}

// runCtx is run under ctx: canceling ctx is Ctrl-C.
func (e *testEnv) runCtx(ctx context.Context, stdin string, args ...string) result {
	e.t.Helper()
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	if e.setup != nil {
		e.setup(f)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	code := commands.Run(ctx, f, args)
	r := result{stdout: out.String(), stderr: errOut.String(), code: code}
	for _, c := range e.canary {
		if strings.Contains(r.stdout, c) || strings.Contains(r.stderr, c) {
			e.t.Errorf("mediator %s printed a secret value:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	return r
}

func (e *testEnv) mustRun(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("mediator %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func expectCode(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}
type echoOut struct {
	Echo string `json:"echo"`
}
type addIn struct {
	A int `json:"a"`
	B int `json:"b"`
}
type addOut struct {
	Sum int `json:"sum"`
}

// startServer serves a go-sdk MCP server over loopback HTTP that answers
// only requests carrying key in X-API-Key.
func startServer(t *testing.T, key string) (*httptest.Server, *mcp.Server) {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo the text back.\nSecond line.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Echo: in.Text}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two integers"},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "say", Description: "Plain text result"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you said: " + in.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails"},
		func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "the weather is unavailable"}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != key {
			w.Header().Set("WWW-Authenticate", `APIKey realm="test", header="X-API-Key"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// downURL is the URL of a server that has gone away.
func downURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u + "/mcp"
}
