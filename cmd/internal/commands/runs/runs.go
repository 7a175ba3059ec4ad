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
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
)

// Options of `mediator runs list` and `mediator runs show`.
type Options struct {
	Env   flowrun.Env
	RunID string
	Limit int
	JSON  bool
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
argument digest, redacted result and timings.`,
	}
	cmd.AddCommand(newCmdList(f, listF), newCmdShow(f, showF), NewCmdPrune(f, nil))
	return cmd
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{Env: flowrun.NewEnv(f), Alive: workflows.ProcessAlive}
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
