package temporal_test

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/mediatorhq/mediator/internal/temporaltest"
)

// The Temporal test server every test of the package dials
// (internal/temporaltest), started once in TestMain; serverErr says why
// there is none.
var (
	testServer    *temporaltest.Server
	testClient    client.Client
	testNamespace string
	testHostPort  string
	serverErr     error
)

// TestMain starts the test server named by MEDIATOR_TEMPORAL_TESTSERVER
// (the Makefile's test target sets it) and dials it, unless the binary
// runs as one of the tests' worker processes. Without a server the tests
// skip, or fail under CI=true.
func TestMain(m *testing.M) {
	if spec := os.Getenv(workerProcessEnv); spec != "" {
		os.Exit(workerProcess(spec))
	}
	if spec := os.Getenv(flowWorkerProcessEnv); spec != "" {
		os.Exit(flowWorkerProcess(spec))
	}
	serverErr = startTestServer()
	code := m.Run()
	if testClient != nil {
		testClient.Close()
	}
	if testServer != nil {
		testServer.Stop()
	}
	os.Exit(code)
}

func startTestServer() error {
	srv, err := temporaltest.Start()
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: srv.HostPort, Namespace: srv.Namespace, Logger: quietLogger()})
	if err != nil {
		srv.Stop()
		return fmt.Errorf("dial the Temporal test server at %s: %w", srv.HostPort, err)
	}
	testServer, testClient, testNamespace, testHostPort = srv, c, srv.Namespace, srv.HostPort
	return nil
}

// needServer skips t when there is no test server, or fails it under
// CI=true.
func needServer(t *testing.T) client.Client {
	t.Helper()
	temporaltest.Need(t, testServer, serverErr)
	return testClient
}

// quietLogger keeps the SDK's logs out of test output: the failures it
// logs are the ones the scenarios make on purpose, and the tests check
// every outcome themselves.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
