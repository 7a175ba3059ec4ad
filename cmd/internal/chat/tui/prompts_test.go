package tui

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

func sampling(u *UI, ctx context.Context, server string) <-chan bool {
	got := make(chan bool, 1)
	go func() {
		ok, _ := u.ApproveSampling(ctx, &orchestrator.SamplingRequest{SamplingRequest: &connectors.SamplingRequest{
			Server: server, Params: &mcp.CreateMessageWithToolsParams{MaxTokens: 7,
				Messages: []*mcp.SamplingMessageV2{{Role: "user", Content: []mcp.Content{&mcp.TextContent{Text: "hi from " + server}}}}}}})
		got <- ok
	}()
	return got
}

// Prompts asked at once wait in turn; the status bar counts them.
func TestPromptsWaitInTurn(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 30)
	s.waitFor("direct mode")
	first := sampling(u, testContext(t), "one")
	s.waitFor("hi from one")
	second := sampling(u, testContext(t), "two")
	s.waitFor("(1 more waiting)", "2 waiting for you")
	s.key('a')
	if !<-first {
		t.Error("the first was not allowed")
	}
	s.waitFor("hi from two", "1 waiting for you")
	s.key('d')
	if <-second {
		t.Error("the second was not denied")
	}
	s.waitGone("waiting for you")
}

// An asker that gives up (its context is done: the call was cancelled)
// takes its prompt down.
func TestPromptWithdrawnWhenAskerGivesUp(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 30)
	s.waitFor("direct mode")
	ctx, cancel := context.WithCancel(testContext(t))
	got := sampling(u, ctx, "quitter")
	s.waitFor("hi from quitter")
	cancel()
	if <-got {
		t.Error("allowed without an answer")
	}
	s.waitGone("hi from quitter", "waiting for you")
}

// A form's booleans, enums and optional strings start at the schema's
// defaults; confirming each field sends them.
func TestElicitationFormDefaults(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 40)
	s.waitFor("direct mode")
	got := make(chan *mcp.ElicitResult, 1)
	go func() {
		res, _ := u.Elicit(testContext(t), &orchestrator.ElicitationRequest{ElicitationRequest: &connectors.ElicitationRequest{
			Server: "shop", Params: &mcp.ElicitParams{Message: "Options", RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"gift": map[string]any{"type": "boolean", "title": "Gift wrap", "default": true},
					"note": map[string]any{"type": "string", "title": "Note", "default": "none"},
					"size": map[string]any{"type": "string", "title": "Size", "enum": []any{"S", "M", "L"}, "default": "M"},
				},
			}}}})
		got <- res
	}()
	s.waitFor("Server shop asks for input")
	s.key('a')
	s.waitFor("┃ Gift wrap")
	s.enter()
	s.waitFor("┃ Note")
	s.enter()
	s.waitFor("┃ Size")
	s.enter()
	res := <-got
	if res.Action != "accept" || res.Content["gift"] != true || res.Content["note"] != "none" || res.Content["size"] != "M" {
		t.Errorf("got %+v", res)
	}
}
