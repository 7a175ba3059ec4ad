// Command calendar-server runs the example calendar MCP server. Its token
// comes from the CALENDAR_TOKEN environment variable, never from the
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

	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	path := flag.String("path", "/mcp", "URL path of the MCP endpoint")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	key := os.Getenv(calendar.KeyEnv)
	if key == "" {
		fmt.Fprintf(os.Stderr, "calendar-server: set %s to the token clients must send as Authorization: Bearer\n", calendar.KeyEnv)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := calendar.NewHandler(key, guard.NewRequestLog(logger))
	if err := guard.Serve(ctx, *addr, *path, h, logger); err != nil {
		logger.Error("calendar-server stopped", "err", err)
		os.Exit(1)
	}
}
