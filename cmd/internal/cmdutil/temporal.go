package cmdutil

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/config"
)

// Temporal is what the mediator-temporal binary adds to the command tree
// (engine: temporal, docs/scale.md); nil in mediator, which keeps
// Temporal's SDK out of every command's start-up and hands a command
// line that needs it to mediator-temporal.
type Temporal struct {
	// Commands are added to the root command (`mediator worker`).
	Commands []func(f *Factory) *cobra.Command
	// Runs opens the engine `run` and `runs` use under engine: temporal.
	Runs func(ctx context.Context, f *Factory, cfg *config.Config) (RemoteRuns, error)
	// DaemonRuns opens the daemon's run service over Temporal.
	DaemonRuns func(ctx context.Context, f *Factory, cfg *config.Config, deps DaemonRunsDeps) (DaemonRunService, error)
}
