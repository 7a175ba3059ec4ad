package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/internal/reaper"
	"github.com/mediatorhq/mediator/internal/sandbox"
)

// Main is a mediator binary's main: it runs the command line in os.Args
// and exits. temporal is nil in mediator and Temporal's hooks in
// mediator-temporal.
func Main(version string, temporal *cmdutil.Temporal) {
	// Started again as the watchdog of stdio servers still exiting after
	// an earlier mediator returned (see cmdutil.Factory.DetachServers).
	if reaper.Invoked() {
		os.Exit(reaper.Main())
	}
	// Before any secret is read: no process of the same user may read
	// mediator's memory or environment (the keyring passphrase).
	if err := sandbox.Harden(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	in, ctx := cmdutil.WatchInterrupts(context.Background(), sigs, cmdutil.InterruptGrace, os.Exit, os.Stderr)
	f := cmdutil.New(iostreams.System(), version, os.LookupEnv)
	f.DetachServers = true
	f.Temporal = temporal
	code := Run(ctx, f, os.Args[1:])
	code = in.Stop(code)
	signal.Stop(sigs)
	os.Exit(code)
}
