// Package commands assembles mediator's command tree and runs it: one
// folder per noun, each command an Options struct, a NewCmd that only
// parses flags, and a run function that does the work.
package commands

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/audit"
	authcmd "github.com/mediatorhq/mediator/cmd/internal/commands/auth"
	"github.com/mediatorhq/mediator/cmd/internal/commands/call"
	chatcmd "github.com/mediatorhq/mediator/cmd/internal/commands/chat"
	configcmd "github.com/mediatorhq/mediator/cmd/internal/commands/config"
	daemoncmd "github.com/mediatorhq/mediator/cmd/internal/commands/daemon"
	"github.com/mediatorhq/mediator/cmd/internal/commands/demo"
	flowgraph "github.com/mediatorhq/mediator/cmd/internal/commands/graph"
	"github.com/mediatorhq/mediator/cmd/internal/commands/prompts"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resources"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resume"
	"github.com/mediatorhq/mediator/cmd/internal/commands/run"
	"github.com/mediatorhq/mediator/cmd/internal/commands/runs"
	"github.com/mediatorhq/mediator/cmd/internal/commands/secret"
	servecmd "github.com/mediatorhq/mediator/cmd/internal/commands/serve"
	"github.com/mediatorhq/mediator/cmd/internal/commands/servers"
	"github.com/mediatorhq/mediator/cmd/internal/commands/skills"
	"github.com/mediatorhq/mediator/cmd/internal/commands/tools"
	flowvalidate "github.com/mediatorhq/mediator/cmd/internal/commands/validate"
	"github.com/mediatorhq/mediator/cmd/internal/commands/version"
	"github.com/mediatorhq/mediator/cmd/internal/config"
)

// NewCmdRoot returns the `mediator` command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mediator <command>",
		Short: "Talk to many MCP servers safely",
		Long: `mediator connects to many MCP servers, each with its own credential from
the OS keyring, and mediates every call between them: it checks, validates
and audits each call, and no server ever sees another server's credential.

Exit codes: 0 success, 1 a tool or flow returned an error, 2 refused
(usage, config, policy), 3 a server or the keyring could not be used,
130 interrupted; ` + "`mediator help exit-codes`" + ` says more.`,
		Example: `  mediator demo
  mediator servers import ~/.config/Claude/claude_desktop_config.json
  mediator secret set weather api-key
  mediator tools weather
  mediator call weather get_forecast -a location=Oslo
  mediator run examples/flows/rain-reminders.flow.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if _, err := cmdutil.ParseLogLevel(f.LogLevel); err != nil {
				return cmdutil.UsageErrorf("--log-level: %v", err)
			}
			return nil
		},
	}
	// --version prints what `mediator version` does.
	root.Version = version.Read(f.Version, debug.ReadBuildInfo).Text()
	root.SetVersionTemplate("{{.Version}}")
	root.SetIn(f.IOStreams.In)
	root.SetOut(f.IOStreams.Out)
	root.SetErr(f.IOStreams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return cmdutil.UsageErrorf("%v", err)
	})

	pf := root.PersistentFlags()
	pf.StringVar(&f.ConfigFlag, "config", "", "config file (default $XDG_CONFIG_HOME/mediator/config.yaml, or $"+config.EnvConfig+")")
	pf.StringVar(&f.LogLevel, "log-level", "warn", "log to stderr at this level: debug, info, warn, error")
	pf.BoolVar(&f.NoDaemon, "no-daemon", false, "work without the daemon even when one runs for this config")
	root.Flags().BoolP("version", "v", false, "print mediator's version and source revision, as the version command does")

	root.AddGroup(&cobra.Group{ID: "use", Title: "Using servers:"},
		&cobra.Group{ID: "flows", Title: "Workflows:"},
		&cobra.Group{ID: "setup", Title: "Setting up:"})
	for _, c := range []*cobra.Command{
		chatcmd.NewCmdChat(f, nil),
		servers.NewCmdServers(f, nil),
		tools.NewCmdTools(f, nil),
		call.NewCmdCall(f, nil),
		// Resources and prompts.
		resources.NewCmdResources(f, nil),
		resources.NewCmdRead(f, nil),
		prompts.NewCmdPrompts(f, nil),
		prompts.NewCmdPrompt(f, nil),
		// Skills.
		skills.NewCmdSkills(f, nil),
		skills.NewCmdSkill(f, nil),
		// mediator as an MCP server for an agent host.
		servecmd.NewCmdServe(f, nil),
	} {
		c.GroupID = "use"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		run.NewCmdRun(f, nil),
		flowvalidate.NewCmdValidate(f, nil),
		flowgraph.NewCmdGraph(f, nil),
		runs.NewCmdRuns(f, nil, nil),
		resume.NewCmdResume(f, nil),
		// Unattended: schedules, the run API, warm sessions.
		daemoncmd.NewCmdDaemon(f, nil),
	} {
		c.GroupID = "flows"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		secret.NewCmdSecret(f),
		authcmd.NewCmdAuth(f),
		configcmd.NewCmdConfig(f),
		audit.NewCmdAudit(f),
	} {
		c.GroupID = "setup"
		root.AddCommand(c)
	}
	root.AddCommand(version.NewCmdVersion(f, nil))
	// A help topic (no Run): `mediator help exit-codes`.
	root.AddCommand(&cobra.Command{
		Use:   "exit-codes",
		Short: "What mediator's exit codes mean, for every command",
		Long:  cmdutil.ExitCodesHelp,
	})
	root.AddCommand(demo.NewCmdDemo(f.IOStreams))
	if f.Temporal != nil {
		for _, newCmd := range f.Temporal.Commands {
			c := newCmd(f)
			c.GroupID = "flows"
			root.AddCommand(c)
		}
	} else {
		// mediator hands these to mediator-temporal.
		root.AddCommand(cmdutil.NewCmdTemporalOnly("worker"))
	}
	return root
}

// Run executes the command line and returns the process exit code,
// printing any error once to stderr.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) int {
	root := NewCmdRoot(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	// The commands have closed their orchestrators: the stdio servers'
	// shutdown is seen through (or handed over), and what they logged
	// without a final newline is complete.
	_ = f.Close()
	if err == nil {
		return cmdutil.ExitOK
	}
	printError(f, cmd, err)
	return cmdutil.ExitCode(usageError(err))
}

// usageError classifies cobra's own errors, which are plain strings.
func usageError(err error) error {
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err, Usage: true}
		}
	}
	return err
}

func printError(f *cmdutil.Factory, cmd *cobra.Command, err error) {
	w := f.IOStreams.ErrOut
	err = usageError(err)
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) && ee.Silent {
		return
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "interrupted")
		return
	}
	// A config's problems are listed under the file they are in; a
	// server's, under what needed it (its error says so).
	var ps config.Problems
	var se *config.ServerError
	if errors.As(err, &ps) && !errors.As(err, &se) {
		noun := "problems"
		if len(ps) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(w, "error: config file %s has %d %s:\n", ps[0].File, len(ps), noun)
		fmt.Fprintln(w, f.Redactor.Redact(ps.Error()))
		return
	}
	fmt.Fprintf(w, "error: %s\n", indentLines(f.Redactor.Redact(err.Error())))
	if ee != nil && ee.Usage && cmd != nil {
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
}

// indentLines indents every line of an error message after the first: a
// message may quote a server's text, and a line of that starting at the
// left margin could pass for one of mediator's own ("error: ...").
func indentLines(msg string) string {
	return strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n  ")
}
