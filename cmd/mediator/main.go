// Command mediator talks to many MCP servers safely. See `mediator --help`.
package main

import "github.com/mediatorhq/mediator/cmd/internal/commands"

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() { commands.Main(version, nil) }
