// Package runs implements `mediator runs list` and `mediator runs show ID`:
// reading the run journal.
package runs

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
)

// Options of `mediator runs list` and `mediator runs show`.
type Options struct {
	Env   flowrun.Env
	RunID string
	Limit int
	JSON  bool
	// Engine is --engine: "" (the config's engine:), local or temporal.
	Engine string
	// Alive reports whether the process that ran a "running" run still
	// exists, to tell a live run from one that was killed.
	Alive func(pid int) bool
}

// NewCmdRuns returns `mediator runs` with its subcommands.
func NewCmdRuns(f *cmdutil.Factory, listF, showF func(context.Context, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs <command>",
		Short: "List, inspect and prune workflow runs in the run journal",
		Long: `Every ` + "`mediator run`" + ` is journalled under the state directory: the
flow file and its hash, the inputs, and every call attempt with its state,
argument digest, redacted result and timings.

Under engine: temporal (or --engine temporal) list and show read the runs
from Temporal instead: its visibility lists them, a run's history and its
events query show it (there is no journal of them here).`,
	}
	cmd.AddCommand(newCmdList(f, listF), newCmdShow(f, showF), NewCmdPrune(f, nil))
	return cmd
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{Env: flowrun.NewEnv(f), Alive: workflows.ProcessAlive}
}

// addEngineFlag adds --engine to a subcommand that reads runs.
func addEngineFlag(cmd *cobra.Command, opts *Options) {
	cmd.Flags().StringVar(&opts.Engine, "engine", "", "read the runs of this engine: local (the journal) or temporal (default: the config's engine:)")
	_ = cmd.RegisterFlagCompletionFunc("engine", cobra.FixedCompletions(flowrun.Engines, cobra.ShellCompDirectiveNoFileComp))
}

// remote opens the remote engine when the runs to read are there, or
// returns nil for the journal's.
func remote(ctx context.Context, opts *Options) (cmdutil.RemoteRuns, error) {
	if err := flowrun.CheckEngineFlag(opts.Engine); err != nil {
		return nil, err
	}
	cfg, err := opts.Env.Config()
	if err != nil {
		return nil, err
	}
	if flowrun.EngineOf(opts.Engine, cfg) != config.EngineTemporal {
		return nil, nil
	}
	return flowrun.OpenRemote(ctx, opts.Env, cfg, opts.Engine)
}

// openJournal opens the run journal; it returns nil, nil when no run has
// been journalled yet, so that looking creates nothing.
func openJournal(opts *Options) (*workflows.Journal, error) {
	cfg, err := opts.Env.Config()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(flowrun.JournalPath(cfg)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return flowrun.OpenJournal(cfg, opts.Env.Redactor())
}

// status shows a run marked running whose process is gone as interrupted.
func status(opts *Options, r *workflows.RunRecord) string {
	return flowrun.RunStatus(r, opts.Alive)
}
