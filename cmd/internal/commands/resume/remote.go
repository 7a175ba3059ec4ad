package resume

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
)

// resumeRemote is resume under engine: temporal. A Temporal run is not
// resumed: it goes on by itself while its workflow lives, and the
// workflow sends a lost worker's call again when the retry rule allows.
// What is left to an operator is a call the rule may not send again: the
// run blocks on it, and --rerun and --mark-done settle it there.
func resumeRemote(ctx context.Context, opts *Options, cfg *config.Config) error {
	if opts.Extend > 0 {
		return cmdutil.UsageErrorf("--extend: a Temporal run's time cannot be extended; start a new run (engine: temporal in %s)", cfg.Path)
	}
	rr, err := flowrun.OpenRemote(ctx, opts.Env, cfg, "")
	if err != nil {
		return err
	}
	defer rr.Close()
	// Show first: it takes a unique prefix of the id, as the journal does.
	run, err := rr.Show(ctx, opts.RunID)
	if err != nil {
		return showError(err)
	}
	id := run.Record.ID
	if len(opts.Rerun) == 0 && len(opts.MarkDone) == 0 {
		if len(run.Blocked) == 0 {
			return cmdutil.Errorf(cmdutil.ExitUsage, "run %s is %s (engine: temporal in %s): a Temporal run is not resumed, it goes on by itself while its workflow lives "+
				"(the workflow sends a lost worker's call again when the flow's retry rule allows); see it with `mediator runs show %s`", id, run.Record.Status, cfg.Path, id)
		}
		var paths []string
		for _, c := range run.Blocked {
			paths = append(paths, c.Path+" ("+c.Server+"."+c.Tool+")")
		}
		return cmdutil.Errorf(cmdutil.ExitUsage, "run %s is blocked: whether these calls took effect is unknown (their worker was lost), and the retry rule may not send them again: %s; "+
			"check on the server, then settle each with --rerun STEP (send it again) or --mark-done STEP (it took effect)", id, strings.Join(paths, ", "))
	}
	for _, a := range []struct {
		action string
		calls  []string
	}{{workflows.ResolveMarkDone, opts.MarkDone}, {workflows.ResolveRerun, opts.Rerun}} {
		if len(a.calls) == 0 {
			continue
		}
		if err := rr.Resolve(ctx, id, a.action, a.calls); err != nil {
			return err
		}
		fmt.Fprintf(opts.Env.IO.ErrOut, "run %s: %s: %s\n", id, a.action, strings.Join(a.calls, ", "))
	}
	fmt.Fprintf(opts.Env.IO.ErrOut, "the run goes on on its workers; follow it with `mediator runs show %s`\n", id)
	return nil
}

// showError is a Show error as resume reports it: an unknown id names
// itself, exit 2.
func showError(err error) error {
	if errors.Is(err, workflows.ErrRunNotFound) && cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v (see `mediator runs list`)", err)
	}
	return err
}
