package commands_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// stdioServerEnv makes the test binary run as a stdio MCP server instead
// of running tests, as in the connectors tests. It reaches the child
// through the server's env in the config, since mediator passes nothing
// else of its own environment. Its value picks the server's behaviour.
const stdioServerEnv = "MEDIATOR_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(stdioServerEnv) {
	case "":
		os.Exit(m.Run())
	case "silent":
		os.Exit(runSilentServer())
	case "fail-start":
		os.Exit(hostile.FailStart(os.Stderr, os.Getenv("API_TOKEN")))
	case termServerMode:
		if err := hostile.RunTermServer(context.Background()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	default:
		os.Exit(runStdioTestServer())
	}
}

// runStdioTestServer is a go-sdk server that logs its API_TOKEN to stderr,
// as a careless server logging its environment would: at start, split
// over two writes, and in a last line with no newline as it exits. Its
// tools echo and crash in the middle of a call.
func runStdioTestServer() int {
	token := os.Getenv("API_TOKEN")
	fmt.Fprintf(os.Stderr, "starting with API_TOKEN=%s\n", token)
	half := len(token) / 2
	fmt.Fprintf(os.Stderr, "split: API_TOKEN=%s", token[:half])
	fmt.Fprintf(os.Stderr, "%s (done)\n", token[half:])

	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			fmt.Fprintf(os.Stderr, "echo called; my token is %s\n", token)
			return nil, echoOut{Echo: in.Text}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "Exits in the middle of the call."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			os.Exit(1)
			return nil, nil, nil
		})
	err := s.Run(context.Background(), &mcp.StdioTransport{})
	fmt.Fprintf(os.Stderr, "bye, API_TOKEN=%s", token)
	if err != nil && !strings.Contains(err.Error(), "EOF") {
		return 1
	}
	return 0
}

// runSilentServer never answers: it reads requests until mediator closes
// its stdin, then exits.
func runSilentServer() int {
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// stdioServerYAML configures this test binary as a stdio server.
func stdioServerYAML(t *testing.T, name, mode, extra string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("  %s:\n    command: %q\n    args: [\"-test.run=^$\"]\n    env: {%s: %s}\n%s", name, exe, stdioServerEnv, mode, extra)
}
