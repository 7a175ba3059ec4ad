package run_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/validate"
)

// validate --connect under engine: temporal checks the file against the
// config and asks the cluster for a worker on every queue a run needs:
// svc's domain has one; a server no worker serves is reported (exit 3),
// naming the worker to start.
func TestValidateConnectOnTemporal(t *testing.T) {
	e := newEngineEnv(t, "temporal")
	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	withOther := strings.Replace(string(cfg), "servers:\n", "servers:\n  other:\n    url: http://127.0.0.1:1/mcp\n", 1)
	if err := os.WriteFile(e.cfg, []byte(withOther), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := func(body string) (int, string, string) {
		f, out, errOut := e.factory()
		c := validate.NewCmdValidate(f, nil)
		c.SilenceUsage, c.SilenceErrors = true, true
		c.SetArgs([]string{"--connect", e.write(t, "v.flow.yaml", body)})
		err := c.ExecuteContext(ctx)
		return cmdutil.ExitCode(err), out.String(), errOut.String()
	}
	if code, out, stderr := check(addFlow); code != 0 || !strings.Contains(out, "a worker polls every queue it needs on Temporal") {
		t.Fatalf("svc: exit %d\n%s%s", code, out, stderr)
	}
	other := strings.ReplaceAll(addFlow, "server: svc", "server: other")
	code, out, stderr := check(other)
	if code != cmdutil.ExitConnect || !strings.Contains(stderr, "no worker of domain other polls task queue mcp.other") || !strings.Contains(stderr, "--domain other") {
		t.Fatalf("other: exit %d, want %d\n%s%s", code, cmdutil.ExitConnect, out, stderr)
	}
}
