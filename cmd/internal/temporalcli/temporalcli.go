// Package temporalcli is what the mediator-temporal binary adds to
// mediator's commands: the Temporal client behind engine: temporal (run,
// runs, the daemon) and `mediator worker`. Only cmd/mediator-temporal
// imports it, so Temporal's SDK stays out of mediator's start-up
// (docs/scale.md).
package temporalcli

import (
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// Hooks returns the Factory's Temporal hooks.
func Hooks() *cmdutil.Temporal {
	return &cmdutil.Temporal{
		Runs:       OpenRuns,
		DaemonRuns: DaemonRuns,
		Commands: []func(f *cmdutil.Factory) *cobra.Command{
			newCmdWorker,
		},
	}
}
