// Package temporaltest starts the Temporal test server for tests: the
// binary scripts/temporal-testserver.sh builds from
// workflows/temporal/testserver (make test passes its path in
// MEDIATOR_TEMPORAL_TESTSERVER). See docs/scale.md.
package temporaltest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// EnvBinary names the environment variable holding the test server's path.
const EnvBinary = "MEDIATOR_TEMPORAL_TESTSERVER"

// Server is a running test server: a loopback frontend with an ephemeral
// SQLite store.
type Server struct {
	HostPort  string
	Namespace string

	cmd   *exec.Cmd
	stdin io.Closer
	once  sync.Once
}

// Start starts the binary named by EnvBinary and waits for its address.
func Start() (*Server, error) {
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		return nil, errors.New(EnvBinary + " is not set: run `make test`, or set it to the path scripts/temporal-testserver.sh prints")
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
	s := &Server{cmd: cmd, stdin: stdin}
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
		s.Stop()
		return nil, fmt.Errorf("the Temporal test server %s printed no address", bin)
	}
	s.HostPort, s.Namespace = a.HostPort, a.Namespace
	return s, nil
}

// Stop stops the server (it stops when its stdin closes) and waits for it.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		_ = s.cmd.Wait()
	})
}

// Need returns srv, or when err says there is none, skips t (fails it
// under CI=true, where the server must be there).
func Need(t testing.TB, srv *Server, err error) *Server {
	t.Helper()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return srv
}

// Shared is a test package's one server, started by its TestMain:
//
//	var server temporaltest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(server.Run(m)) }
//
// and in a test, srv := server.Need(t).
type Shared struct {
	srv *Server
	err error
}

// Run starts the server, runs the package's tests and stops it,
// returning m.Run's code.
func (s *Shared) Run(m *testing.M) int {
	s.srv, s.err = Start()
	code := m.Run()
	if s.srv != nil {
		s.srv.Stop()
	}
	return code
}

// Need returns the server, or skips t (fails it under CI=true) when
// there is none.
func (s *Shared) Need(t testing.TB) *Server {
	t.Helper()
	return Need(t, s.srv, s.err)
}
