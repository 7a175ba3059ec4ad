package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// A dry run of a step with until plans its first call, says it is
// repeated and how, and waits for nothing; a run waits until the
// condition holds.
func TestDryRunShowsWait(t *testing.T) {
	url, got := loopbackServer(t, "jobs", "status", map[string]any{"status": "done"})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	fl := filepath.Join(dir, "wait.flow.yaml")
	for path, body := range map[string]string{
		cfg: fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nstate_dir: %s\nservers:\n  jobs:\n    url: %s\n",
			filepath.Join(dir, "keyring"), filepath.Join(dir, "state"), url),
		fl: `version: 1
name: wait
steps:
  - id: job
    call: {server: jobs, tool: status}
    until: ${ .result.status == "done" }
    poll: {every: 1h, max: 2h}
outputs:
  status: ${ .steps.job.result.status }
`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ios, _, out, errOut := iostreams.Test()
		f := cmdutil.New(ios, "test", func(k string) (string, bool) {
			switch k {
			case "HOME":
				return dir, true
			case "MEDIATOR_KEYRING_PASSPHRASE":
				return "poll-test-passphrase", true
			}
			return "", false
		})
		f.ConfigFlag = cfg
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
	stdout, stderr, code := exec(fl, "--dry-run")
	if code != 0 || !strings.Contains(stdout, `repeated until ${ .result.status == "done" }, every 1h for at most 2h`) {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(got()); n != 0 {
		t.Fatalf("a simulated dry run called the server %d times", n)
	}
	stdout, stderr, code = exec(fl)
	if code != 0 || !strings.Contains(stdout, `"status": "done"`) {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(got()); n != 1 {
		t.Fatalf("the run called the server %d times; the first answer was done", n)
	}
}
