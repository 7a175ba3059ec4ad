// Command weather-server runs the example weather MCP server. Its API key
// comes from the WEATHER_API_KEY environment variable, never from the
// command line, where other users could read it in the process list.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	path := flag.String("path", "/mcp", "URL path of the MCP endpoint")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	key := os.Getenv(weather.KeyEnv)
	if key == "" {
		fmt.Fprintf(os.Stderr, "weather-server: set %s to the API key clients must send in %s\n", weather.KeyEnv, weather.KeyHeader)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := weather.NewHandler(key, guard.NewRequestLog(logger))
	if err := guard.Serve(ctx, *addr, *path, h, logger); err != nil {
		logger.Error("weather-server stopped", "err", err)
		os.Exit(1)
	}
}
