// Command mediator talks to many MCP servers safely. See `mediator --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	in, ctx := cmdutil.WatchInterrupts(context.Background(), sigs, cmdutil.InterruptGrace, os.Exit, os.Stderr)
	code := commands.Run(ctx, cmdutil.New(iostreams.System(), version, os.LookupEnv), os.Args[1:])
	code = in.Stop(code)
	signal.Stop(sigs)
	os.Exit(code)
}
