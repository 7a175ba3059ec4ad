package guard

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

// Command is what one example server's main names.
type Command struct {
	Name string // e.g. "weather-server"
	Addr string // the default listen address
	// KeyEnv holds the credential clients must present; KeyUse says how
	// they present it, for the error when KeyEnv is unset.
	KeyEnv, KeyUse string
	NewHandler     func(key string, log *RequestLog) http.Handler
}

// Main is an example server's whole main: flags, the key from the
// environment (never from the command line, where other users could read
// it in the process list), and Serve until SIGINT or SIGTERM. It exits the
// process.
func Main(c Command) {
	addr := flag.String("addr", c.Addr, "address to listen on")
	path := flag.String("path", "/mcp", "URL path of the MCP endpoint")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	key := os.Getenv(c.KeyEnv)
	if key == "" {
		fmt.Fprintf(os.Stderr, "%s: set %s to the %s\n", c.Name, c.KeyEnv, c.KeyUse)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, *addr, *path, c.NewHandler(key, NewRequestLog(logger)), logger); err != nil {
		logger.Error(c.Name+" stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
