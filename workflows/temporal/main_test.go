package temporal_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// testServer is the Temporal test server every test of the package dials:
// the binary scripts/temporal-testserver.sh builds, started once in
// TestMain. serverErr says why there is none.
var (
	testClient    client.Client
	testNamespace string
	testHostPort  string
	serverErr     error
)

// TestMain starts the test server named by MEDIATOR_TEMPORAL_TESTSERVER
// (the Makefile's test target sets it) and dials it. Without it the tests
// skip, or fail under CI=true.
func TestMain(m *testing.M) {
	if spec := os.Getenv(workerProcessEnv); spec != "" {
		os.Exit(workerProcess(spec))
	}
	stop, err := startTestServer()
	serverErr = err
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func startTestServer() (stop func(), err error) {
	bin := os.Getenv("MEDIATOR_TEMPORAL_TESTSERVER")
	if bin == "" {
		return nil, errors.New("MEDIATOR_TEMPORAL_TESTSERVER is not set: run `make test`, or set it to the path scripts/temporal-testserver.sh prints")
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the Temporal test server %s: %w", bin, err)
	}
	stop = func() {
		if testClient != nil {
			testClient.Close()
		}
		_ = stdin.Close() // the server stops when its stdin closes
		_ = cmd.Wait()
	}
	type addr struct {
		HostPort  string `json:"host_port"`
		Namespace string `json:"namespace"`
	}
	got := make(chan addr, 1)
	go func() {
		var a addr
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err == nil && json.Unmarshal(line, &a) == nil {
			got <- a
		}
		close(got)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var a addr
	select {
	case a = <-got:
	case <-time.After(2 * time.Minute):
	}
	if a.HostPort == "" {
		stop()
		return nil, fmt.Errorf("the Temporal test server %s printed no address", bin)
	}
	c, err := client.Dial(client.Options{HostPort: a.HostPort, Namespace: a.Namespace, Logger: quietLogger()})
	if err != nil {
		stop()
		return nil, fmt.Errorf("dial the Temporal test server at %s: %w", a.HostPort, err)
	}
	testClient, testNamespace, testHostPort = c, a.Namespace, a.HostPort
	return stop, nil
}

// needServer skips t when there is no test server, or fails it under
// CI=true.
func needServer(t *testing.T) client.Client {
	t.Helper()
	if serverErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(serverErr)
		}
		t.Skip(serverErr)
	}
	return testClient
}

// quietLogger keeps the SDK's logs out of test output: the failures it
// logs are the ones the scenarios make on purpose, and the tests check
// every outcome themselves.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
