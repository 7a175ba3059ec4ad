// Command stdioproxy is the floor TestServeRatio measures mediator serve
// against: a bare go-sdk stdio server that offers the tools of the server
// at the URL it is given and forwards each call to it with a go-sdk client
// over streamable HTTP, nothing in between. It serves until stdin closes.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: stdioproxy <backend URL>")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "stdioproxy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string) error {
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdioproxy", Version: "bench"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}, nil)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("list the tools of %s: %w", url, err)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "stdioproxy", Version: "bench"}, nil)
	for _, t := range tools.Tools {
		s.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return cs.CallTool(ctx, &mcp.CallToolParams{Name: req.Params.Name, Arguments: req.Params.Arguments})
		})
	}
	return s.Run(ctx, &mcp.StdioTransport{})
}
