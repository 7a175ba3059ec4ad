package temporalcli

import (
	"context"
	"os"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/worker"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/daemon/temporalruns"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// DaemonRuns opens the daemon's run service under engine: temporal
// (cmdutil.Temporal.DaemonRuns): a client of cfg's cluster that starts
// the runs of deps.Catalog as workflows on the flow workers' queue, with
// the config's policy, trusted servers and server timeouts in their
// input. The client's identity is "mediator-daemon@HOST".
func DaemonRuns(ctx context.Context, f *cmdutil.Factory, cfg *config.Config, deps cmdutil.DaemonRunsDeps) (cmdutil.DaemonRunService, error) {
	o, err := ClientOptions(ctx, f, cfg)
	if err != nil {
		return nil, err
	}
	o.Identity = "mediator-daemon"
	if host, err := os.Hostname(); err == nil {
		o.Identity += "@" + host
	}
	if deps.Logger != nil {
		o.Logger = deps.Logger
	}
	c, err := dialWith(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	trust := deps.TrustAnnotations
	if trust == nil {
		trust = flowrun.TrustAnnotations
	}
	trusted, timeouts := flowrun.ServerSettings(cfg, trust)
	svc, err := temporalruns.New(temporalruns.Options{
		Runs:    &temporal.Runs{Client: c, Codec: o.Codec, FollowProgress: true, Limits: worker.Limits(cfg)},
		Catalog: deps.Catalog,
		Validate: flow.ValidateOptions{PolicyFlows: deps.PolicyFlows, TrustAnnotations: trust, RetryAtRunTime: true,
			Server: flowrun.ServerCheck(cfg)},
		PolicyFlows: deps.PolicyFlows, TrustedServers: trusted, ServerTimeouts: timeouts,
		Redactor: deps.Redactor, Logger: deps.Logger, Close: c.Close,
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	return svc, nil
}
