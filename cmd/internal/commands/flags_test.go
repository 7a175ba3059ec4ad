package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/audit"
	authcmd "github.com/mediatorhq/mediator/cmd/internal/commands/auth"
	configcmd "github.com/mediatorhq/mediator/cmd/internal/commands/config"
	flowgraph "github.com/mediatorhq/mediator/cmd/internal/commands/graph"
	"github.com/mediatorhq/mediator/cmd/internal/commands/prompts"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resources"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resume"
	"github.com/mediatorhq/mediator/cmd/internal/commands/run"
	"github.com/mediatorhq/mediator/cmd/internal/commands/runs"
	"github.com/mediatorhq/mediator/cmd/internal/commands/secret"
	"github.com/mediatorhq/mediator/cmd/internal/commands/servers"
	"github.com/mediatorhq/mediator/cmd/internal/commands/tools"
	flowvalidate "github.com/mediatorhq/mediator/cmd/internal/commands/validate"
	"github.com/mediatorhq/mediator/cmd/internal/commands/version"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// parse runs the command built by newCmd on args with a runF hook that
// only captures the options, gh-style: what the flags and arguments parse
// to, without doing the work.
func parse[O any](t *testing.T, newCmd func(*cmdutil.Factory, func(context.Context, *O) error) *cobra.Command, args ...string) *O {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(string) (string, bool) { return "", false })
	var got *O
	cmd := newCmd(f, func(_ context.Context, o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%s %q: %v", cmd.Name(), args, err)
	}
	if got == nil {
		t.Fatalf("%s %q: runF was not called", cmd.Name(), args)
	}
	return got
}

// Every command's flags and arguments, through its runF hook.
func TestCommandsParseFlags(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	check := func(name string, ok bool, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: parsed options %+v", name, got)
		}
	}

	{
		o := parse(t, servers.NewCmdServers, "--json")
		check("servers", o.JSON, o)
	}
	{
		o := parse(t, servers.NewCmdImport, "mcp.json", "--name-prefix", "x-", "--dry-run", "--skip-existing")
		check("servers import", o.File == "mcp.json" && o.NamePrefix == "x-" && o.DryRun && o.SkipExisting && !o.Force, o)
	}
	{
		o := parse(t, tools.NewCmdTools, "weather", "--json")
		check("tools", o.Server == "weather" && o.JSON, o)
	}
	{
		o := parse(t, tools.NewCmdDiff, "weather", "forecast", "--json")
		check("tools diff", o.Server == "weather" && o.Tool == "forecast" && o.JSON, o)
	}
	{
		o := parse(t, tools.NewCmdAccept, "weather", "forecast", "--digest", digest, "-y", "--json")
		check("tools accept", o.Server == "weather" && o.Tool == "forecast" && o.Digest == digest && o.Yes && o.JSON, o)
	}
	{
		o := parse(t, resources.NewCmdResources, "docs", "--json")
		check("resources", o.Server == "docs" && o.JSON, o)
	}
	{
		o := parse(t, resources.NewCmdRead, "docs", "docs://a b", "-o", "out.bin")
		check("read", o.Server == "docs" && o.URI == "docs://a b" && o.Output == "out.bin" && !o.JSON, o)
	}
	{
		o := parse(t, prompts.NewCmdPrompts, "--json")
		check("prompts", o.Server == "" && o.JSON, o)
	}
	{
		o := parse(t, prompts.NewCmdPrompt, "docs", "greet", "-a", "who=Ada", "-a", "tone=dry", "--json")
		check("prompt", o.Server == "docs" && o.Name == "greet" && strings.Join(o.Pairs, ",") == "who=Ada,tone=dry" && o.JSON, o)
	}
	{
		o := parse(t, secret.NewCmdSet, "weather", "api_key")
		check("secret set", o.Server == "weather" && o.Name == "api_key", o)
	}
	{
		o := parse(t, secret.NewCmdList, "weather", "--json")
		check("secret list", o.Server == "weather" && o.JSON, o)
	}
	{
		o := parse(t, secret.NewCmdRemove, "weather", "api_key")
		check("secret rm", o.Server == "weather" && o.Name == "api_key", o)
	}
	{
		o := parse(t, authcmd.NewCmdLogin, "cal", "--device", "--timeout", "90s")
		check("auth login", o.Server == "cal" && o.Device && !o.NoBrowser && o.Timeout == 90*time.Second, o)
	}
	{
		o := parse(t, authcmd.NewCmdLogout, "cal")
		check("auth logout", o.Server == "cal", o)
	}
	{
		o := parse(t, authcmd.NewCmdStatus, "cal", "--json")
		check("auth status", o.Server == "cal" && o.JSON, o)
	}
	parse(t, configcmd.NewCmdValidate)
	{
		o := parse(t, audit.NewCmdVerify, "--file", "a.jsonl", "--json")
		check("audit verify", o.File == "a.jsonl" && o.JSON, o)
	}
	{
		o := parse(t, version.NewCmdVersion, "--json")
		check("version", o.JSON, o)
	}
	{
		o := parse(t, run.NewCmdRun, "f.flow.yaml", "-i", "a=1,2", "--input", "b=x", "--inputs", "in.yaml", "--dry-run", "--json")
		check("run", o.FlowPath == "f.flow.yaml" && len(o.Inputs) == 2 && o.Inputs[0] == "a=1,2" && o.InputsFile == "in.yaml" && o.DryRun == run.DryRunSimulate && o.JSON, o)
	}
	{
		o := parse(t, run.NewCmdRun, "f.flow.yaml", "--dry-run=read-only")
		check("run --dry-run=read-only", o.DryRun == run.DryRunReadOnly, o)
	}
	{
		o := parse(t, flowvalidate.NewCmdValidate, "f.flow.yaml", "--connect", "--json")
		check("validate", o.File == "f.flow.yaml" && o.Connect && o.JSON, o)
	}
	{
		o := parse(t, flowgraph.NewCmdGraph, "f.flow.yaml", "--format", "dot")
		check("graph", o.File == "f.flow.yaml" && o.Format == "dot", o)
	}
	{
		o := parse(t, resume.NewCmdResume, "r1", "--rerun", "w[1]", "--mark-done", "a", "--mark-done", "b", "--json")
		check("resume", o.RunID == "r1" && len(o.Rerun) == 1 && o.Rerun[0] == "w[1]" && len(o.MarkDone) == 2 && o.JSON, o)
	}
	runsCmd := func(sub string) func(f *cmdutil.Factory, runF func(context.Context, *runs.Options) error) *cobra.Command {
		return func(f *cmdutil.Factory, runF func(context.Context, *runs.Options) error) *cobra.Command {
			if sub == "list" {
				return runs.NewCmdRuns(f, runF, nil)
			}
			return runs.NewCmdRuns(f, nil, runF)
		}
	}
	{
		o := parse(t, runsCmd("list"), "list", "--limit", "5", "--json")
		check("runs list", o.Limit == 5 && o.JSON, o)
	}
	{
		o := parse(t, runsCmd("show"), "show", "r1", "--json")
		check("runs show", o.RunID == "r1" && o.JSON, o)
	}
}
