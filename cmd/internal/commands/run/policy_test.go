package run

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// loopbackServer serves one read-only tool over loopback HTTP and records
// the arguments it receives.
func loopbackServer(t *testing.T, name, tool string, answer map[string]any) (url string, got func() []map[string]any) {
	t.Helper()
	var (
		mu   sync.Mutex
		args []map[string]any
	)
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: tool, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, map[string]any, error) {
			mu.Lock()
			args = append(args, in)
			mu.Unlock()
			return nil, answer, nil
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), args...)
	}
}

// TestGlobalPolicyFlows: a cross-server flow the file does not declare is
// refused before any call, and allowed once the config's policy.flows
// lists it, for a run and a dry run alike: validate reads it, and so does
// the orchestrator, which decides the run's calls.
func TestGlobalPolicyFlows(t *testing.T) {
	srcURL, _ := loopbackServer(t, "src", "get", map[string]any{"v": "from-src"})
	dstURL, dstGot := loopbackServer(t, "dst", "put", map[string]any{"ok": true})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nstate_dir: %s\nservers:\n  src:\n    url: %s\n  dst:\n    url: %s\n",
		filepath.Join(dir, "keyring"), filepath.Join(dir, "state"), srcURL, dstURL)
	allowPath := filepath.Join(dir, "allow.yaml")
	fl := filepath.Join(dir, "move.flow.yaml")
	for path, body := range map[string]string{
		cfgPath:   cfg,
		allowPath: cfg + "policy:\n  flows: [\"src -> dst\"]\n",
		fl: `version: 1
name: move
steps:
  - id: get
    call: {server: src, tool: get}
  - id: put
    call: {server: dst, tool: put}
    with: {v: ${ .steps.get.result.v }}
outputs:
  ok: ${ .steps.put.result.ok }
`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(cfgPath string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ios, _, out, errOut := iostreams.Test()
		f := cmdutil.New(ios, "test", func(k string) (string, bool) {
			switch k {
			case "HOME":
				return dir, true
			case "MEDIATOR_KEYRING_PASSPHRASE": // the audit log's key is in the keyring
				return "policy-test-passphrase", true
			}
			return "", false
		})
		f.ConfigFlag = cfgPath
		cmd := NewCmdRun(f, nil)
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cmd.ExecuteContext(ctx)
		if err != nil {
			fmt.Fprintln(errOut, err)
		}
		return out.String(), errOut.String(), cmdutil.ExitCode(err)
	}
	_, stderr, code := exec(cfgPath, fl)
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, `add "src -> dst" to flows:`) {
		t.Fatalf("undeclared flow: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := exec(allowPath, fl, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "put  dst.put  [simulated; arguments valid]") {
		t.Fatalf("dry run under the policy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(dstGot()); n != 0 {
		t.Fatalf("dry run called dst %d times", n)
	}
	stdout, stderr, code = exec(allowPath, fl)
	if code != 0 || !strings.Contains(stdout, `"ok": true`) {
		t.Fatalf("run under the policy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := dstGot(); len(got) != 1 || got[0]["v"] != "from-src" {
		t.Fatalf("dst received %v", got)
	}
}
