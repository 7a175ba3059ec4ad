package connectors

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/reaper"
)

// stdioServerEnv makes the test binary run as a go-sdk stdio MCP server
// instead of running tests. It has to reach the child through the server's
// own Env, since the connector passes nothing else of the parent's
// environment.
const stdioServerEnv = "MEDIATOR_TEST_STDIO_SERVER"

// stdioRefuseFileEnv names a file whose existence makes the stdio test
// server exit at once, as a server that cannot start.
const stdioRefuseFileEnv = "MEDIATOR_TEST_REFUSE_FILE"

func TestMain(m *testing.M) {
	switch {
	case reaper.Invoked(): // Shutdowns.Detach starts this binary again
		os.Exit(reaper.Main())
	case os.Getenv(stdioServerEnv) == "1":
		os.Exit(runStdioTestServer())
	case os.Getenv(stdioServerEnv) == "fail-start":
		os.Exit(hostile.FailStart(os.Stderr, os.Getenv("API_TOKEN")))
	case os.Getenv(stdioServerEnv) == "shutdown":
		os.Exit(hostile.RunShutdownServer())
	}
	os.Exit(m.Run())
}

// runStdioTestServer serves tools that let tests look inside a real child
// process: its environment, its pid, and a crash in the middle of a call.
func runStdioTestServer() int {
	// A test makes reconnects fail by creating this file.
	if f := os.Getenv(stdioRefuseFileEnv); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintln(os.Stderr, "stdio test server: refusing to start")
			return 3
		}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "returns the process environment"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return textResult(strings.Join(os.Environ(), "\n")), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "returns the process id"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return textResult(fmt.Sprint(os.Getpid())), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "exits the process in the middle of the call"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			os.Exit(1)
			return nil, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "stdio test server:", err)
		return 1
	}
	return 0
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// secretMap is a SecretSource holding one server's values in memory: a
// source of values for tests, standing in for nothing that could run here
// (the keyring store is tested in credentials).
type secretMap map[string]string

func (m secretMap) Secret(ctx context.Context, name string) (credentials.Secret, error) {
	v, ok := m[name]
	if !ok {
		return credentials.Secret{}, fmt.Errorf("secret %q: %w", name, credentials.ErrNotFound)
	}
	return credentials.NewSecret(v), nil
}

// testCtx bounds a test so that nothing can hang it.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustNew builds a connector and closes it when the test ends.
func mustNew(t *testing.T, opts Options) *Connector {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// stdioTestConfig starts this test binary as the stdio test server.
func stdioTestConfig(t *testing.T, name string) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Name:    name,
		Command: exe,
		Args:    []string{"-test.run=^$"},
		Env:     map[string]string{stdioServerEnv: "1"},
		Timeout: 20 * time.Second,
	}
}

func resultText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// kindOf returns the Kind of a connector error, failing the test for any
// other error type.
func kindOf(t *testing.T, err error) Kind {
	t.Helper()
	ce, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	return ce.Kind
}
