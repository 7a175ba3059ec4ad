package serve_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

// Embedding mediator as an MCP server: build the Server, the orchestrator
// with the Server's Host, hand it over, and serve. Here two in-process
// servers stand behind it and a go-sdk client plays the agent host over
// an in-memory transport; `mediator serve --stdio` runs
// srv.MCPServer().Run(ctx, &mcp.StdioTransport{}) instead.
func Example() {
	ctx := context.Background()
	notes := mcp.NewServer(&mcp.Implementation{Name: "notes"}, nil)
	notes.AddTool(&mcp.Tool{Name: "read", Description: "Reads the note.", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "buy milk"}}}, nil
		})
	mail := mcp.NewServer(&mcp.Implementation{Name: "mail"}, nil)
	mail.AddTool(&mcp.Tool{Name: "send", Description: "Sends a mail.", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sent"}}}, nil
		})

	srv, err := serve.New(serve.Options{Gateway: true})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "mediator-serve-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "notes"}, NewTransport: orchestrator.InProcess(notes)},
			{Config: connectors.Config{Name: "mail"}, NewTransport: orchestrator.InProcess(mail)},
		},
		PinDir:    filepath.Join(dir, "pins"),
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		Host:      srv.Host(), // the servers' sampling and elicitation go to the host
	})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	srv.SetOrchestrator(o)

	st, ct := mcp.NewInMemoryTransports()
	if _, err := srv.MCPServer().Connect(ctx, st, nil); err != nil {
		log.Fatal(err)
	}
	host, err := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	tools, err := host.ListTools(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tools.Tools {
		fmt.Println(t.Name)
	}
	show := func(name string) {
		res, err := host.CallTool(ctx, &mcp.CallToolParams{Name: name})
		if err != nil {
			log.Fatal(err)
		}
		// A refusal goes on to say which flow, and the line to add.
		first, _, _ := strings.Cut(res.Content[0].(*mcp.TextContent).Text, ": ")
		fmt.Printf("%s: error=%v %s\n", name, res.IsError, first)
	}
	show("notes__read") // the host has now seen notes' data...
	show("mail__send")  // ...so mail gets nothing from it unless "notes -> mail" is allowed
	// Output:
	// mail__send
	// notes__read
	// notes__read: error=false buy milk
	// mail__send: error=true data from server "notes" may not be sent to server "mail" (calling mail.send)
}
