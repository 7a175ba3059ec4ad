package flowrun

import (
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

// ServeWorkflows is serve.WorkflowOptions for the workflow files in dir
// under cfg, validated and run as `mediator run` validates and runs them:
// the config's policy.flows and servers, its trust in annotations, the
// run journal under its state directory (so `mediator runs` lists the
// runs and `mediator resume` finishes a failed one), env's redactor, and
// the orchestrator orch returns once `mediator serve` has built it. The
// caller sets Prefix and Logger.
func ServeWorkflows(env Env, cfg *config.Config, dir string, orch func() *orchestrator.Orchestrator) serve.WorkflowOptions {
	pol := PolicyOf(env, cfg)
	opts := serve.WorkflowOptions{
		Dir:              dir,
		Orchestrator:     orch,
		PolicyFlows:      pol.Flows,
		TrustAnnotations: pol.TrustAnnotations,
		Server:           ServerCheck(cfg),
		Redactor:         env.Redactor,
	}
	if cfg != nil && cfg.StateDir != "" {
		opts.JournalPath = JournalPath(cfg)
	}
	return opts
}
