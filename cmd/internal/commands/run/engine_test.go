package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// mediatorFactory is a Factory of mediator (no Temporal hooks) over a
// config whose last lines are extra.
func mediatorFactory(t *testing.T, extra string) (*cmdutil.Factory, string, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	body := "credentials:\n  backend: file\n  file_dir: " + filepath.Join(dir, "keyring") + "\nstate_dir: " + filepath.Join(dir, "state") +
		"\nservers:\n  svc:\n    url: http://127.0.0.1:1/mcp\ntemporal:\n  host_port: 127.0.0.1:1\n" + extra
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := filepath.Join(dir, "f.flow.yaml")
	if err := os.WriteFile(fl, []byte("version: 1\nname: f\nsteps:\n  - id: a\n    call: {server: svc, tool: t}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) {
		switch k {
		case "HOME":
			return dir, true
		case "MEDIATOR_KEYRING_PASSPHRASE":
			return "engine-test-passphrase", true
		}
		return "", false
	})
	f.ConfigFlag = cfg
	return f, fl, out
}

// In mediator, which does not link Temporal, a run under engine:
// temporal (the config's or --engine's) is handed to mediator-temporal
// before anything is read or started, saying why; --engine local
// overrides the config, and a bad --engine is a usage error naming the
// valid ones.
func TestEngineTemporalExecsMediatorTemporal(t *testing.T) {
	errExec := errors.New("exec stubbed")
	for _, tc := range []struct {
		config, flag, why string
	}{
		{"engine: temporal\n", "", "engine: temporal in "},
		{"", "temporal", "--engine temporal"},
		{"engine: temporal\n", "local", ""},
	} {
		f, fl, _ := mediatorFactory(t, tc.config)
		var why string
		cmd := NewCmdRun(f, func(ctx context.Context, o *Options) error {
			o.Env.ExecTemporal = func(w string) error { why = w; return errExec }
			return runRun(ctx, o)
		})
		args := []string{fl}
		if tc.flag != "" {
			args = append(args, "--engine", tc.flag)
		}
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.ExecuteContext(context.Background())
		if tc.why == "" {
			if why != "" || errors.Is(err, errExec) {
				t.Errorf("%q --engine %q: handed to mediator-temporal (%q)", tc.config, tc.flag, why)
			}
			continue
		}
		if !errors.Is(err, errExec) || !strings.HasPrefix(why, tc.why) {
			t.Errorf("%q --engine %q: %v, why %q; want mediator-temporal exec'd for %q", tc.config, tc.flag, err, why, tc.why)
		}
	}

	f, fl, _ := mediatorFactory(t, "")
	cmd := NewCmdRun(f, func(context.Context, *Options) error { t.Fatal("ran"); return nil })
	cmd.SetArgs([]string{fl, "--engine", "cloud"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "local and temporal") {
		t.Fatalf("--engine cloud: %v", err)
	}
}

// A dry run under engine: temporal runs here (it calls nothing, or only
// read-only tools), without Temporal.
func TestDryRunUnderTemporalRunsHere(t *testing.T) {
	f, fl, _ := mediatorFactory(t, "engine: temporal\n")
	var execd bool
	cmd := NewCmdRun(f, func(ctx context.Context, o *Options) error {
		o.Env.ExecTemporal = func(string) error { execd = true; return errors.New("exec stubbed") }
		return runRun(ctx, o)
	})
	cmd.SetArgs([]string{fl, "--dry-run"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if execd {
		t.Fatal("a dry run was handed to mediator-temporal")
	}
	// svc is not there: the dry run tried to connect here.
	if err == nil || !strings.Contains(err.Error(), "svc") {
		t.Fatalf("dry run: %v", err)
	}
}
