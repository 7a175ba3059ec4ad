package tui

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Run draws on out, reads keys from in, and returns when the user types
// /quit; then the UI refuses what it would have asked.
func TestRunUntilQuit(t *testing.T) {
	u := New(Options{Commands: &commands{}, Advice: "Set llm: in the config."})
	in, keys := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- u.Run(testContext(t), in, out) }()
	for i := 0; !strings.Contains(out.String(), "Set llm: in the config."); i++ {
		if i == 1000 {
			t.Fatalf("the advice was not drawn: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	go func() { _, _ = io.WriteString(keys, "/quit\r") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after /quit")
	}
	if a, err := u.Approver().ApproveTool(testContext(t), agent.ToolRequest{Server: "s", Tool: "t"}); a != orchestrator.ApprovalDeny || err == nil {
		t.Errorf("after Run: %v, %v", a, err)
	}
}

// Cancelling Run's context ends it.
func TestRunEndsWithContext(t *testing.T) {
	u := New(Options{Commands: &commands{}})
	in, _ := io.Pipe()
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx, in, io.Discard) }()
	u.waitLive(t)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func (u *UI) waitLive(t *testing.T) {
	t.Helper()
	for range 500 {
		if _, live := u.running(); live {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the UI never went live")
}

// Every prompt, drawn at 40 columns or fewer, fits: no line is wider
// than the window, whatever the server or the model sent.
func TestPromptsFitNarrowWindows(t *testing.T) {
	long := strings.Repeat("a-very-long-value-without-spaces", 5)
	prompts := map[string]func() *prompt{
		"tool": func() *prompt {
			return toolPrompt(agent.ToolRequest{Server: "calendar", Tool: "create_event", Args: map[string]any{"title": long}, Reason: "the default: the tool is not annotated read-only", Provenance: orchestrator.ProvenanceOf("weather")})
		},
		"flow": func() *prompt {
			return flowPrompt(agent.FlowRequest{FlowRequest: orchestrator.FlowRequest{From: []string{"weather", "mail"}, To: "calendar", Method: "tools/call", Target: "create_event"},
				Args: map[string]any{"title": long, "notes": strings.Repeat("line\n", 40)}})
		},
		"sampling": func() *prompt {
			return samplingPrompt(&orchestrator.SamplingRequest{SamplingRequest: &connectors.SamplingRequest{Server: "everything",
				Params: &mcp.CreateMessageWithToolsParams{MaxTokens: 9, Messages: []*mcp.SamplingMessageV2{{Role: "user", Content: []mcp.Content{&mcp.TextContent{Text: long}}}}}}}, func(s string) string { return s })
		},
		"url": func() *prompt {
			return elicitPrompt(&connectors.ElicitationRequest{Server: "bank", Params: &mcp.ElicitParams{Mode: "url", Message: long, URL: "https://example.com/" + long}}, func(s string) string { return s })
		},
	}
	for name, mk := range prompts {
		for _, width := range []int{40, 24, 12} {
			u := New(Options{Commands: &commands{}})
			m := u.m
			m.Update(tea.WindowSizeMsg{Width: width, Height: 20})
			p := mk()
			p.reply = make(chan any, 1)
			m.handlePosted(p)
			m.handlePosted(showMarkdown{"# " + long})
			view := m.View().Content
			if !strings.Contains(ansi.Strip(view), "[d]") {
				t.Errorf("%s at %d: the options are not shown:\n%s", name, width, ansi.Strip(view))
			}
			for i, l := range strings.Split(view, "\n") {
				if w := ansi.StringWidth(l); w > width {
					t.Errorf("%s at %d: line %d is %d wide: %q", name, width, i, w, ansi.Strip(l))
				}
			}
			if got := strings.Count(view, "\n") + 1; got > 20 {
				t.Errorf("%s at %d: %d lines in a 20-line window", name, width, got)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer a program writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
