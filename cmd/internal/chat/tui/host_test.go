package tui

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
)

// askerServer asks the client, during its tools' calls, for input
// (tool "signup": a form) or for a sampling (tool "summarize"), and
// returns what it got. It speaks 2025-11-25, where servers send such
// requests.
func askerServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	mcp.AddTool(s, &mcp.Tool{Name: "signup"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Who are you?", RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string", "title": "Name"}}, "required": []any{"name"}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("signup %s %v", res.Action, res.Content["name"])}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "summarize"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize the asker's notes"}}}})
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no summary: " + err.Error()}}}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "summary: " + res.Content.(*mcp.TextContent).Text}}}, nil, nil
	})
	return s
}

func asker() orchestrator.ServerConfig {
	return orchestrator.ServerConfig{Config: connectors.Config{Name: "asker", Timeout: 10 * time.Second,
		Sampling: connectors.SamplingConfig{Mode: connectors.SamplingAsk}}, NewTransport: orchestrator.InProcess(askerServer())}
}

// A server's elicitation during the model's tool call is a form in the
// TUI; the user's answer reaches the server, whose result the model
// reads.
func TestElicitationFromServerDuringTurn(t *testing.T) {
	w := newWorld(t, worldOptions{
		extra:     []orchestrator.ServerConfig{asker()},
		approvals: agent.Approvals{Allow: []string{"asker.*"}},
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "s", Name: "asker__signup", Args: `{}`}}},
			{Text: "You are signed up."},
		},
	})
	s := run(t, w.ui.Model(), 100, 40)
	s.send("sign me up")
	s.waitFor("Server asker asks for input", "Who are you?")
	s.key('a')
	s.waitFor("Name (required)")
	s.typeText("Grace")
	s.waitFor("> Grace")
	s.enter()
	s.waitFor("signup accept Grace", "You are signed up.")
}

// A server's sampling request, with sampling: ask, is shown with the
// server and its messages; allowed, the model answers it and the server
// gets the answer; denied, it does not.
func TestSamplingFromServerDuringTurn(t *testing.T) {
	w := newWorld(t, worldOptions{
		extra:     []orchestrator.ServerConfig{asker()},
		approvals: agent.Approvals{Allow: []string{"asker.*"}},
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "a", Name: "asker__summarize", Args: `{}`}}},
			{Text: "Notes are fine."}, // the sampling request's answer
			{Text: "Summarized."},
			{ToolCalls: []fakellm.ToolCall{{ID: "b", Name: "asker__summarize", Args: `{}`}}},
			{Text: "No summary this time."},
		},
	})
	s := run(t, w.ui.Model(), 100, 40)
	s.send("summarize")
	s.waitFor("Server asker asks the model to answer (sampling)", "user: Summarize the asker's notes", "maxTokens: 50")
	s.key('a')
	s.waitFor("summary: Notes are fine.", "Summarized.")
	s.send("again")
	s.waitFor("Server asker asks the model to answer (sampling)")
	s.key('d')
	s.waitFor("No summary this time.")
	if !strings.Contains(s.flat(), "no summary:") {
		t.Errorf("the denied sampling reached the server as an answer:\n%s", s.flat())
	}
}
