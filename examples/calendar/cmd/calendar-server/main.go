// Command calendar-server runs the example calendar MCP server. Its token
// comes from the CALENDAR_TOKEN environment variable, never from the
// command line, where other users could read it in the process list.
package main

import (
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
)

func main() {
	guard.Main(guard.Command{
		Name: "calendar-server", Addr: "127.0.0.1:8082",
		KeyEnv: calendar.KeyEnv, KeyUse: "token clients must send as Authorization: Bearer",
		NewHandler: calendar.NewHandler,
	})
}
