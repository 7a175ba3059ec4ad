// Command weather-server runs the example weather MCP server. Its API key
// comes from the WEATHER_API_KEY environment variable, never from the
// command line, where other users could read it in the process list.
package main

import (
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
)

func main() {
	guard.Main(guard.Command{
		Name: "weather-server", Addr: "127.0.0.1:8081",
		KeyEnv: weather.KeyEnv, KeyUse: "API key clients must send in " + weather.KeyHeader,
		NewHandler: weather.NewHandler,
	})
}
