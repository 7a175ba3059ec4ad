package runs

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/workflows"
)

func newCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List runs, newest first",
		Example: "  mediator runs list\n  mediator runs list --limit 5 --json",
		Args:    cmdutil.ExactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "show at most this many runs (0: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the run records as JSON")
	addEngineFlag(cmd, opts)
	return cmd
}

func listRun(ctx context.Context, opts *Options) error {
	rr, err := remote(ctx, opts)
	if err != nil {
		return err
	}
	if rr != nil {
		defer rr.Close()
		list, err := rr.List(ctx, opts.Limit)
		if err != nil {
			return err
		}
		return printList(opts, list)
	}
	j, err := openJournal(opts)
	if err != nil {
		return err
	}
	var list []*workflows.RunRecord
	if j != nil {
		defer j.Close()
		if list, err = j.Runs(ctx, opts.Limit); err != nil {
			return err
		}
	}
	for _, r := range list {
		r.Status = status(opts, r)
	}
	return printList(opts, list)
}

// printList prints runs as a table, or as JSON.
func printList(opts *Options, list []*workflows.RunRecord) error {
	red := opts.Env.Redactor()
	if opts.JSON {
		if list == nil {
			list = []*workflows.RunRecord{}
		}
		out, err := cmdutil.MarshalJSON(list)
		if err != nil {
			return err
		}
		return cmdutil.WriteRedacted(opts.Env.IO.Out, red, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(opts.Env.IO.ErrOut, "no runs yet")
		return nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFLOW\tSTATUS\tSTARTED\tDURATION\tRESUMES")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.ID, r.FlowName, r.Status, r.StartedAt.Local().Format("2006-01-02 15:04:05"), duration(r), r.Resumes)
	}
	tw.Flush()
	return cmdutil.WriteRedacted(opts.Env.IO.Out, red, []byte(b.String()))
}

func duration(r *workflows.RunRecord) string {
	if r.FinishedAt.IsZero() {
		return "-"
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
}
