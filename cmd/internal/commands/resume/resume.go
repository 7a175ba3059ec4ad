// Package resume implements `mediator resume ID`: finishing a run that
// failed, was cancelled or was killed, from its journal.
package resume

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
)

// Options of `mediator resume`.
type Options struct {
	Env      flowrun.Env
	RunID    string
	Rerun    []string
	MarkDone []string
	// Extend is --extend: the resumed run's time, required for a run
	// that timed out.
	Extend time.Duration
	JSON   bool
}

// NewCmdResume returns `mediator resume ID`.
func NewCmdResume(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Env: flowrun.NewEnv(f)}
	cmd := &cobra.Command{
		Use:   "resume ID [--rerun STEP ...] [--mark-done STEP ...] [--extend DURATION]",
		Short: "Finish a failed, cancelled or killed workflow run from its journal",
		Long: `Runs the flow of run ID again under the same run id and inputs. Calls the
journal shows succeeded are not made again: their journalled (redacted)
results are reused. Failed calls are made again.

A call that was in flight when the run stopped may or may not have taken
effect. It is sent again only when that is safe: the tool is annotated
read-only or idempotent, or the step has an idempotency_key (sent again
with the same key) or retry_unsafe: true. Otherwise resume stops before
calling anything and lists those calls; check on the server, then settle
each with --mark-done STEP (it took effect; its result reads as null) or
--rerun STEP (call it again). STEP is a call path such as remind[3], or a
step id for all its items. --rerun applies only to calls the journal shows
were in flight: a call that succeeded is never made again.

A run that timed out (its flow's timeout: passed) resumes only with
--extend DURATION, the time the resumed run gets (journalled); without
it resume refuses rather than run with no bound or time out again at
once. --extend on another run replaces the flow's timeout for this resume.

The flow's finally steps run again at the end of the resumed run; calls
they completed before (with the same arguments) are not made again. A
run that succeeded but whose finally steps failed or were killed can be
resumed to finish them.

One process runs a run at a time: a resume of a run that another live
process is running (or resuming) exits 2 naming that process's pid.

Resume refuses when the flow file changed since the run started (its
SHA-256 is journalled): restore the file or start a new run.

Under engine: temporal a run is not resumed: it goes on by itself while
its workflow lives, and the workflow sends a lost worker's call again when
the retry rule allows. A call it may not send again blocks the run (` + "`mediator runs show`" + `
lists it); --rerun STEP and --mark-done STEP settle it there, and the run
goes on on its workers. --extend does not apply.

Output and exit codes are those of ` + "`mediator run`" + `; a resume that needs a
decision, of a run that is finished or unknown, or whose run another
process holds, exits 2 (see ` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator resume 20260501T073000-1a2b3c
  mediator resume 20260501T073000-1a2b3c --mark-done 'remind[3]'
  mediator resume 20260501T073000 --rerun remind
  mediator resume 20260501T073000-1a2b3c --extend 10m`,
		Args:              cmdutil.ExactArgs(1, "ID"),
		ValidArgsFunction: flowrun.CompleteRunIDs(opts.Env, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.RunID = args[0]
			if cmd.Flags().Changed("extend") && opts.Extend <= 0 {
				return cmdutil.UsageErrorf("--extend %s: give a positive duration such as 10m or 1h", opts.Extend)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return resumeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Rerun, "rerun", nil, "call STEP again although it was in flight and may have taken effect (repeatable; never a call that succeeded)")
	cmd.Flags().StringArrayVar(&opts.MarkDone, "mark-done", nil, "accept STEP as done without calling it (repeatable)")
	cmd.Flags().DurationVar(&opts.Extend, "extend", 0, "give the resumed run this much time (required to resume a run that timed out), e.g. 10m")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print {run_id, status, outputs, steps, error, finally} as JSON")
	return cmd
}

func resumeRun(ctx context.Context, opts *Options) error {
	cfg, err := opts.Env.Config()
	if err != nil {
		return err
	}
	if flowrun.EngineOf("", cfg) == config.EngineTemporal {
		return resumeRemote(ctx, opts, cfg)
	}
	j, err := flowrun.OpenJournal(cfg, flowrun.CurrentRedactor(opts.Env.Redactor))
	if err != nil {
		return err
	}
	defer j.Close()
	rec, err := j.Run(ctx, opts.RunID)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	pol := flowrun.PolicyOf(opts.Env, cfg)
	f, err := flowrun.LoadFlow(ctx, opts.Env, cfg, rec.FlowPath)
	if err != nil {
		return err
	}
	o, err := flowrun.Connect(ctx, opts.Env, cfg, f, rec.Inputs)
	if err != nil {
		return err
	}
	defer o.Close()
	red := opts.Env.Redactor()
	rt := o.Runtime()
	res, runErr := flowrun.Execute(ctx, opts.Env, f, red, func(ctx context.Context, progress func(workflows.Event)) (*workflows.RunResult, error) {
		return workflows.Resume(ctx, f, rec.ID, workflows.RunOptions{
			Runtime: rt, Journal: j, FlowPath: rec.FlowPath,
			PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations, Progress: progress,
		}, workflows.ResumeOptions{Rerun: opts.Rerun, MarkDone: opts.MarkDone, Extend: opts.Extend})
	})
	runErr = flowrun.WithAuditLoss(ctx, o, runErr)
	if res == nil && runErr != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: runErr}
	}
	return flowrun.Report(opts.Env, red, res, runErr, opts.JSON)
}
