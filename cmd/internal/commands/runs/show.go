package runs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

func newCmdShow(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run and every call attempt it made",
		Long: `Shows the run record (its inputs, and the outputs of a run that
succeeded) and its call attempts: path (remind[3]), attempt, state,
duration and error. ID may be a unique prefix. --json adds the argument
digests and the redacted results.`,
		Example:           "  mediator runs show 20260501T073000-1a2b3c\n  mediator runs show 20260501 --json",
		Args:              cmdutil.ExactArgs(1, "ID"),
		ValidArgsFunction: flowrun.CompleteRunIDs(opts.Env, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.RunID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return showRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the run and its attempts as JSON")
	addEngineFlag(cmd, opts)
	return cmd
}

func showRun(ctx context.Context, opts *Options) error {
	rr, err := remote(ctx, opts)
	if err != nil {
		return err
	}
	if rr != nil {
		defer rr.Close()
		return showRemote(ctx, opts, rr)
	}
	j, err := openJournal(opts)
	if err != nil {
		return err
	}
	if j == nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "run %q: %v: nothing has been run yet (start one with `mediator run FLOW`)", opts.RunID, workflows.ErrRunNotFound)
	}
	defer j.Close()
	r, err := j.Run(ctx, opts.RunID)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	atts, err := j.Attempts(ctx, r.ID)
	if err != nil {
		return err
	}
	red := opts.Env.Redactor()
	r.Status = status(opts, r)
	if opts.JSON {
		if atts == nil {
			atts = []*workflows.AttemptRecord{}
		}
		out, err := cmdutil.MarshalJSON(map[string]any{"run": r, "attempts": atts})
		if err != nil {
			return err
		}
		return cmdutil.WriteRedacted(opts.Env.IO.Out, red, out)
	}
	var b strings.Builder
	writeRun(&b, r)
	fmt.Fprintf(&b, "\n%d call attempt(s):\n", len(atts))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tCALL\tATTEMPT\tSTATE\tDURATION\tERROR")
	for _, a := range atts {
		d := "-"
		if !a.FinishedAt.IsZero() {
			d = a.FinishedAt.Sub(a.StartedAt).Round(time.Millisecond).String()
		}
		state := a.State
		if a.TaskID != "" {
			state += " (task " + a.TaskID + ")"
		}
		fmt.Fprintf(tw, "%s\t%s.%s\t%d\t%s\t%s\t%s\n", a.Path, a.Server, a.Tool, a.Attempt, state, d, flowrun.ErrorLine(a.Error, 100))
	}
	tw.Flush()
	return cmdutil.WriteRedacted(opts.Env.IO.Out, red, []byte(b.String()))
}

// showRemote shows a run of the remote engine: its record, and its steps
// as its events report them (it has no call attempts journalled here).
func showRemote(ctx context.Context, opts *Options, rr cmdutil.RemoteRuns) error {
	run, err := rr.Show(ctx, opts.RunID)
	if errors.Is(err, workflows.ErrRunNotFound) {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v (see `mediator runs list`)", err)
	}
	if err != nil {
		return err
	}
	red := opts.Env.Redactor()
	steps := run.Steps
	if steps == nil {
		steps = []cmdutil.RemoteStep{}
	}
	if opts.JSON {
		doc := map[string]any{"run": run.Record, "steps": steps}
		if len(run.Blocked) > 0 {
			doc["blocked"] = run.Blocked
		}
		if run.EventsError != "" {
			doc["events_error"] = run.EventsError
		}
		out, err := cmdutil.MarshalJSON(doc)
		if err != nil {
			return err
		}
		return cmdutil.WriteRedacted(opts.Env.IO.Out, red, out)
	}
	var b strings.Builder
	writeRun(&b, run.Record)
	if len(run.Blocked) > 0 {
		fmt.Fprintf(&b, "\n%d call(s) wait for a decision: their worker was lost and the retry rule may not send them again;\n"+
			"settle each with `mediator resume %s --rerun PATH` (send it again) or `--mark-done PATH` (it took effect):\n", len(run.Blocked), run.Record.ID)
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tCALL\tATTEMPT")
		for _, c := range run.Blocked {
			fmt.Fprintf(tw, "%s\t%s.%s\t%d\n", c.Path, c.Server, c.Tool, c.Attempt)
		}
		tw.Flush()
	}
	if run.EventsError != "" {
		fmt.Fprintf(&b, "\nIts steps could not be read: %s\n", run.EventsError)
		return cmdutil.WriteRedacted(opts.Env.IO.Out, red, []byte(b.String()))
	}
	fmt.Fprintf(&b, "\n%d step(s):\n", len(steps))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSTATUS\tRETRIES\tDURATION\tERROR")
	for _, s := range steps {
		d := "-"
		if !s.FinishedAt.IsZero() {
			d = s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
		}
		st := s.Status
		if s.Items > 0 {
			st += fmt.Sprintf(" (%d items)", s.Items)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.Path, st, s.Retries, d, flowrun.ErrorLine(s.Error, 100))
	}
	tw.Flush()
	return cmdutil.WriteRedacted(opts.Env.IO.Out, red, []byte(b.String()))
}

// writeRun writes the run record's lines of `runs show`.
func writeRun(b *strings.Builder, r *workflows.RunRecord) {
	fmt.Fprintf(b, "Run:      %s\nFlow:     %s (%s)\nSHA-256:  %s\nStatus:   %s\nStarted:  %s\n",
		r.ID, r.FlowName, r.FlowPath, r.FlowDigest, r.Status, r.StartedAt.Local().Format(time.RFC3339))
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(b, "Finished: %s (%s)\n", r.FinishedAt.Local().Format(time.RFC3339), duration(r))
	}
	if r.Resumes > 0 {
		fmt.Fprintf(b, "Resumes:  %d\n", r.Resumes)
	}
	if inputs, err := cmdutil.MarshalJSON(r.Inputs); err == nil {
		fmt.Fprintf(b, "Inputs:   %s\n", strings.ReplaceAll(strings.TrimSpace(string(inputs)), "\n", "\n          "))
	}
	if r.Outputs != nil {
		if outputs, err := cmdutil.MarshalJSON(r.Outputs); err == nil {
			fmt.Fprintf(b, "Outputs:  %s\n", strings.ReplaceAll(strings.TrimSpace(string(outputs)), "\n", "\n          "))
		}
	}
	if r.Error != "" {
		fmt.Fprintf(b, "Error:    %s\n", r.Error)
	}
	if r.Timeout > 0 {
		fmt.Fprintf(b, "Timeout:  %s", flow.FormatDuration(r.Timeout))
		if r.Extended > 0 {
			fmt.Fprintf(b, " (resume --extend gave %s in all)", flow.FormatDuration(r.Extended))
		}
		b.WriteString("\n")
	}
	if r.Finally != "" {
		fmt.Fprintf(b, "Finally:  %s\n", r.Finally)
		if r.FinallyError != "" {
			fmt.Fprintf(b, "          %s\n", r.FinallyError)
		}
	}
}
