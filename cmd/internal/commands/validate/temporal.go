package validate

import (
	"context"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// idleQueues asks the cluster of engine: temporal which queues a run of fl
// needs (the flow workers', each server's domain's) no worker polls: a
// run would wait there until temporal.schedule_to_start_timeout. One
// message each, naming the worker to start.
func idleQueues(ctx context.Context, opts *Options, cfg *config.Config, fl *flow.Flow) ([]string, error) {
	rr, err := opts.Remote(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	idle, err := rr.Idle(ctx, fl.Servers())
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitConnect, "checking the workers on Temporal: %v", err)
	}
	return idle, nil
}
