package flowrun

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/workflows"
)

// StatusInterrupted is how a run shows that is journalled as running but
// whose process is gone (killed, crashed): it can be resumed.
const StatusInterrupted = "interrupted"

// RunStatus is r's status as the commands show it: StatusInterrupted for
// a run marked running whose process alive says is gone (nil: every
// process counts as alive), and running while a live process runs its
// finally steps.
func RunStatus(r *workflows.RunRecord, alive func(pid int) bool) string {
	if r.Status == workflows.RunRunning && alive != nil && !alive(r.PID) {
		return StatusInterrupted
	}
	if r.Finally == workflows.FinallyRunning && alive != nil && alive(r.PID) {
		// Its steps have ended, its finally steps are still running.
		return workflows.RunRunning
	}
	return r.Status
}

// completionRuns bounds how many run ids a completion offers.
const completionRuns = 50

// CompleteFlowFiles completes a FLOW argument with *.flow.yaml files.
func CompleteFlowFiles(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"flow.yaml", "flow.yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// CompleteRunIDs completes a run ID from the run journal, newest first,
// each with its flow, status and start; with resumable, only the runs
// `mediator resume` would take (not succeeded, not running in a live
// process). It reads the journal only and never creates it.
func CompleteRunIDs(env Env, resumable bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		const none = cobra.ShellCompDirectiveNoFileComp
		if len(args) > 0 {
			return nil, none
		}
		cfg, err := env.Config()
		if err != nil {
			return nil, none
		}
		if _, err := os.Stat(JournalPath(cfg)); errors.Is(err, fs.ErrNotExist) {
			return nil, none
		}
		j, err := OpenJournal(cfg, env.Redactor())
		if err != nil {
			return nil, none
		}
		defer j.Close()
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		runs, err := j.Runs(ctx, completionRuns)
		if err != nil {
			return nil, none
		}
		var out []cobra.Completion
		for _, r := range runs {
			status := RunStatus(r, workflows.ProcessAlive)
			if resumable && (status == workflows.RunSucceeded || status == workflows.RunRunning) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(r.ID, r.FlowName+": "+status+", started "+r.StartedAt.Local().Format("2006-01-02 15:04")))
		}
		return out, none | cobra.ShellCompDirectiveKeepOrder
	}
}
