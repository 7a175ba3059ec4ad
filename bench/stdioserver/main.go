// Command stdioserver is the Go stdio server of the one-shot benchmark
// (TestOneShotRatio): the bench's weather tool, served over stdin and
// stdout until stdin closes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type forecastIn struct {
	City string `json:"city"`
	Days int    `json:"days,omitempty"`
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "bench"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city."},
		func(ctx context.Context, req *mcp.CallToolRequest, in forecastIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny in " + in.City}}}, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "stdioserver:", err)
		os.Exit(1)
	}
}
