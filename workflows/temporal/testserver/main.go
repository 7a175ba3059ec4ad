// Command testserver runs Temporal's real server (go.temporal.io/server's
// temporaltest: in-process, on 127.0.0.1, an ephemeral SQLite store, one
// namespace) for mediator's tests, which start this binary and dial it.
//
// It prints one JSON line on stdout once the server is up,
//
//	{"host_port":"127.0.0.1:PORT","namespace":"temporaltest-N"}
//
// and stops when stdin closes (its parent went away) or on SIGTERM or
// SIGINT. It lives in a module of its own: no served server version
// builds in the same module as the SDK version mediator uses.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/server/temporaltest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ts, err := start()
	if err != nil {
		return err
	}
	defer stopServer(ts)

	line, err := json.Marshal(struct {
		HostPort  string `json:"host_port"`
		Namespace string `json:"namespace"`
	}{ts.GetFrontendHostPort(), ts.GetDefaultNamespace()})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", line); err != nil {
		return fmt.Errorf("writing the address: %w", err)
	}

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	return nil
}

// start starts the server; temporaltest panics on failure when it has no
// *testing.T, which is turned into an error here.
func start() (ts *temporaltest.TestServer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("starting the Temporal test server: %v", r)
		}
	}()
	return temporaltest.NewServer(), nil
}

// stopServer stops the server; temporaltest logs a failed stop through the
// *testing.T it does not have, so that is recovered and reported here.
func stopServer(ts *temporaltest.TestServer) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "testserver: stopping:", r)
		}
	}()
	ts.Stop()
}
