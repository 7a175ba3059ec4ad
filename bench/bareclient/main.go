// Command bareclient is the baseline of the one-shot benchmark
// (TestOneShotRatio): a bare go-sdk client, as a command-line MCP client
// without mediation is. It starts a stdio server, initializes, lists the
// tools (with -list; mediator must, to check pins and arguments), calls one
// tool, prints the result and exits without waiting for the server to exit:
// the server sees EOF on its stdin when this process's end closes.
//
//	bareclient [-list] -tool NAME -args JSON -- COMMAND [ARG...]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	list := flag.Bool("list", false, "list the tools before the call")
	tool := flag.String("tool", "", "the tool to call")
	argsJSON := flag.String("args", "{}", "the call's arguments as a JSON object")
	flag.Parse()
	if flag.NArg() == 0 || *tool == "" {
		fmt.Fprintln(os.Stderr, "usage: bareclient [-list] -tool NAME -args JSON -- COMMAND [ARG...]")
		os.Exit(2)
	}
	if err := run(*list, *tool, *argsJSON, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "bareclient:", err)
		os.Exit(1)
	}
	// No session Close: go-sdk's would wait for the server to exit.
	os.Exit(0)
}

func run(list bool, tool, argsJSON string, command []string) error {
	ctx := context.Background()
	var args map[string]any
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		return fmt.Errorf("-args: %w", err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "bareclient"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(command[0], command[1:]...)}, nil)
	if err != nil {
		return err
	}
	if list {
		if _, err := cs.ListTools(ctx, nil); err != nil {
			return err
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}
