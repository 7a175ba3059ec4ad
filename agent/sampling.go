package agent

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it (2025-11-25 and the deprecation window)

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// Sample answers a server's sampling request with m: the server's system
// prompt and messages, and nothing else (not the chat's transcript, no
// tools), so the answer holds only what the server sent. A front end
// sets it as orchestrator.Host.Sample, after asking the user when
// req.Ask is set (the server's sampling: ask). Text only: a request with
// other content, or that offers tools, is refused.
func Sample(ctx context.Context, m Model, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
	p := req.Params
	if len(p.Tools) > 0 {
		return nil, fmt.Errorf("server %q asked for sampling with tools, which mediator does not offer", req.Server)
	}
	r := Request{System: p.SystemPrompt, MaxOutputTokens: p.MaxTokens}
	for i, msg := range p.Messages {
		var text strings.Builder
		for _, c := range msg.Content {
			t, ok := c.(*mcp.TextContent)
			if !ok {
				return nil, fmt.Errorf("server %q: sampling message %d holds %T; mediator passes text only", req.Server, i, c)
			}
			text.WriteString(t.Text)
		}
		role := RoleUser
		if msg.Role == "assistant" {
			role = RoleAssistant
		}
		r.Messages = append(r.Messages, Message{Role: role, Text: text.String()})
	}
	var (
		answer strings.Builder
		finish string
	)
	for ev, err := range m.Stream(ctx, r) {
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case EventText:
			answer.WriteString(ev.Text)
		case EventFinish:
			finish = ev.Finish
		}
	}
	if answer.Len() == 0 {
		return nil, errors.New("the model gave no text")
	}
	stop := "endTurn"
	if finish == "length" {
		stop = "maxTokens"
	}
	_, model, _ := strings.Cut(m.Name(), "/")
	return &mcp.CreateMessageWithToolsResult{Role: "assistant", Model: model, StopReason: stop,
		Content: []mcp.Content{&mcp.TextContent{Text: answer.String()}}}, nil
}
