package validate

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
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// TestValidatePolicy: the global policy's flows count as declared, offline
// and with --connect, and its trust in annotations decides the retry rule.
func TestValidatePolicy(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "get", InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	defer srv.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	fl := filepath.Join(dir, "f.flow.yaml")
	for path, body := range map[string]string{
		cfgPath: "credentials:\n  backend: file\n  file_dir: " + filepath.Join(dir, "keyring") + "\nstate_dir: " + filepath.Join(dir, "state") +
			"\nservers:\n  a:\n    url: " + srv.URL + "\n  b:\n    url: " + srv.URL + "\n",
		fl: `version: 1
name: f
defaults:
  retry: {max_attempts: 2}
steps:
  - id: one
    call: {server: a, tool: get}
    retry: {max_attempts: 2}
  - id: two
    call: {server: b, tool: get}
    with: {x: ${ .steps.one.result }}
`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(policy flowrun.PolicyFunc, args ...string) (string, int) {
		t.Helper()
		ios, _, _, errOut := iostreams.Test()
		f := cmdutil.New(ios, "test", func(k string) (string, bool) {
			if k == "HOME" {
				return dir, true
			}
			return "", false
		})
		f.ConfigFlag = cfgPath
		cmd := NewCmdValidate(f, func(ctx context.Context, o *Options) error {
			o.Policy = policy
			return validateRun(ctx, o)
		})
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cmd.ExecuteContext(ctx)
		return errOut.String(), cmdutil.ExitCode(err)
	}
	flows := []flow.FlowEdge{{From: "a", To: "b"}}
	allow := func(*config.Config) flowrun.Policy { return flowrun.Policy{Flows: flows} }
	distrust := func(*config.Config) flowrun.Policy {
		return flowrun.Policy{Flows: flows, TrustAnnotations: func(string) bool { return false }}
	}

	if stderr, code := exec(flowrun.DefaultPolicy, fl); code != cmdutil.ExitUsage || !strings.Contains(stderr, `add "a -> b" to flows:`) {
		t.Fatalf("without the policy: exit %d\n%s", code, stderr)
	}
	// Offline only the retry rule, which needs annotations, remains: a
	// warning for the step's own retry, none for defaults.retry.
	stderr, code := exec(allow, fl)
	if code != 0 || strings.Contains(stderr, `add "a -> b"`) || !strings.Contains(stderr, "warning: steps[0].retry: whether a.get may be called up to 2 times") || strings.Count(stderr, "warning:") != 1 {
		t.Fatalf("offline under the policy: exit %d\n%s", code, stderr)
	}
	if stderr, code := exec(allow, "--connect", fl); code != 0 || stderr != "" {
		t.Fatalf("--connect under the policy: exit %d\n%s", code, stderr)
	}
	stderr, code = exec(distrust, "--connect", fl)
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, `step "one" may call a.get up to 2 times (its retry), but the tool is not known to be read-only or idempotent`) ||
		strings.Contains(stderr, `step "two"`) {
		t.Fatalf("annotations not trusted: exit %d\n%s", code, stderr)
	}
}
