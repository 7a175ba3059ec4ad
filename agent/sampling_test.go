package agent_test

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A server's sampling request goes to the configured model with the
// server's own prompt and nothing of the conversation, within its
// maxTokens, and the answer goes back to the server.
func TestSampleAnswersAServer(t *testing.T) {
	for _, w := range []wire{wires[0], wires[3]} {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
			mcp.AddTool(srv, &mcp.Tool{Name: "summarize"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50, SystemPrompt: "Be brief.",
					Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize: the meeting moved to Friday."}}}})
				if err != nil {
					return nil, nil, err
				}
				return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
			})
			llm := fakellm.Start(apiKey, fakellm.Turn{Text: "Meeting: Friday."})
			defer llm.Close()
			base := llm.OpenAIURL()
			if w.provider == agent.ProviderAnthropic {
				base = llm.AnthropicURL()
			}
			model, err := agent.NewModel(ctx, agent.Config{Provider: w.provider, Model: "fake-model", BaseURL: base, APIKey: credentials.NewSecret(apiKey)})
			if err != nil {
				t.Fatal(err)
			}
			o, err := orchestrator.New(orchestrator.Options{
				Servers: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "notes", Timeout: 10 * time.Second,
					Sampling: connectors.SamplingConfig{Mode: connectors.SamplingAllow}}, NewTransport: orchestrator.InProcess(srv)}},
				Host: orchestrator.Host{Sample: func(ctx context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
					return agent.Sample(ctx, model, req)
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			res, err := o.Call(ctx, "notes", "summarize", map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Content[0].(*mcp.TextContent).Text; got != "Meeting: Friday." {
				t.Errorf("the server got %q", got)
			}
			reqs := llm.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d model requests", len(reqs))
			}
			body := string(reqs[0].Body)
			for _, want := range []string{"Be brief.", "Summarize: the meeting moved to Friday.", ":50"} {
				if !strings.Contains(body, want) {
					t.Errorf("the model request lacks %q: %s", want, body)
				}
			}
			if strings.Contains(body, "mediator") {
				t.Errorf("the chat's system prompt went along: %s", body)
			}
		})
	}
}
