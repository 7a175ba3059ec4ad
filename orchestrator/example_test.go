package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// An in-process weather server stands in for a real one; a config-driven
// server would set connectors.Config's URL or Command instead of
// NewTransport.
func Example() {
	weather := mcp.NewServer(&mcp.Implementation{Name: "weather"}, nil)
	mcp.AddTool(weather, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city."},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			City string `json:"city"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny in " + in.City}}}, nil, nil
		})

	dir, err := os.MkdirTemp("", "mediator-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{{
			Config:       connectors.Config{Name: "weather"},
			NewTransport: orchestrator.InProcess(weather),
		}},
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		PinDir:    filepath.Join(dir, "pins"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()

	ctx := context.Background()
	o.Connect(ctx) // optional: Call connects a server on first use

	res, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Lisbon"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Server, res.Tool, res.Content[0].(*mcp.TextContent).Text)

	// Arguments are checked against the tool's inputSchema before sending.
	_, err = o.Call(ctx, "weather", "get_forecast", map[string]any{"city": 42})
	var oe *orchestrator.Error
	if errors.As(err, &oe) {
		fmt.Println(oe.Kind, oe.Field)
	}

	// Records are written behind the calls; SyncAudit (or Close) waits
	// for them.
	if err := o.SyncAudit(ctx); err != nil {
		log.Fatal(err)
	}
	rep, err := orchestrator.VerifyAuditFile(filepath.Join(dir, "audit.jsonl"), nil)
	fmt.Println(rep.Records, "audit records, chain intact:", err == nil)
	// Output:
	// weather get_forecast sunny in Lisbon
	// invalid-arguments city
	// 2 audit records, chain intact: true
}
