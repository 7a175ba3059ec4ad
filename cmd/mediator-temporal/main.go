// Command mediator-temporal is mediator with engine: temporal: the same
// commands, the Temporal client behind run, runs and the daemon, and
// `mediator-temporal worker`. See docs/scale.md.
package main

import (
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/temporalcli"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() { commands.Main(version, temporalcli.Hooks()) }
