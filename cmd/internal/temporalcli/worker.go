package temporalcli

import (
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/worker"
)

// newCmdWorker is `mediator-temporal worker`, connecting with Dial.
func newCmdWorker(f *cmdutil.Factory) *cobra.Command {
	return worker.NewCmdWorker(f, Dial, nil)
}
