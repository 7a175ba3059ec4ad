package validate

import (
	"context"
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// validateOnTemporal is --connect under engine: temporal: the servers'
// sessions and credentials are on the domain workers, not here, so the
// file is checked offline against the config and the cluster is asked
// whether a worker polls every queue a run of it needs (the flow
// workers', each server's domain's). An idle queue is a problem (exit 3):
// a run would wait there until temporal.schedule_to_start_timeout.
func validateOnTemporal(ctx context.Context, opts *Options, cfg *config.Config, data []byte, vopts flow.ValidateOptions) error {
	vopts.Server = flowrun.ServerCheck(cfg)
	fl, all := flow.Check(ctx, opts.File, data, vopts)
	probs, warnings := all.Errors(), all.Warnings()
	var idle []string
	if fl != nil && len(probs) == 0 {
		rr, err := opts.Remote(ctx, cfg)
		if err != nil {
			return err
		}
		defer rr.Close()
		if idle, err = rr.Idle(ctx, fl.Servers()); err != nil {
			return cmdutil.Errorf(cmdutil.ExitConnect, "checking the workers on Temporal: %v", err)
		}
	}
	if opts.JSON {
		r := report{File: opts.File, Valid: len(probs) == 0 && len(idle) == 0, Connect: true, Problems: problemsJSON(opts.File, probs), Warnings: problemsJSON(opts.File, warnings)}
		for _, msg := range idle {
			r.Problems = append(r.Problems, problemJSON{Message: msg})
		}
		out, err := cmdutil.MarshalJSON(r)
		if err != nil {
			return err
		}
		if _, err := opts.IO.Out.Write(out); err != nil {
			return err
		}
	} else {
		writeProblems(opts.IO.ErrOut, opts.File, data, opts.ReadFile, all)
		for _, msg := range idle {
			fmt.Fprintln(opts.IO.ErrOut, msg)
		}
	}
	switch {
	case len(probs) > 0:
		if !opts.JSON {
			fmt.Fprintf(opts.IO.ErrOut, "%d %s in %s\n", len(probs), plural(len(probs), "problem", "problems"), opts.File)
		}
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: probs, Silent: true}
	case len(idle) > 0:
		return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: fmt.Errorf("%d queue(s) without a worker", len(idle)), Silent: true}
	}
	if opts.JSON {
		return nil
	}
	_, err := fmt.Fprintf(opts.IO.Out, "OK: %s, %d %s%s calling %s%s, checked against the config; a worker polls every queue it needs on Temporal\n",
		opts.File, len(fl.AllSteps()), plural(len(fl.AllSteps()), "step", "steps"), finallyNote(fl), strings.Join(fl.Servers(), ", "), timeoutNote(fl))
	return err
}
