// Command mediator talks to many MCP servers safely. See `mediator --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/internal/reaper"
	"github.com/mediatorhq/mediator/internal/sandbox"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
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
	code := commands.Run(ctx, f, os.Args[1:])
	code = in.Stop(code)
	signal.Stop(sigs)
	os.Exit(code)
}
