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
	"github.com/mediatorhq/mediator/internal/sandbox"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	// Before any secret is read: no process of the same user may read
	// mediator's memory or environment (the keyring passphrase).
	if err := sandbox.Harden(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Run(ctx, cmdutil.New(iostreams.System(), version, os.LookupEnv), os.Args[1:])
	stop()
	os.Exit(code)
}
