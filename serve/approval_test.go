package serve

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

func notesAndMail(t *testing.T, mailCalls *atomic.Int32) *rig {
	return newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil)), inProcess("mail", mailServer(mailCalls))}})
}

// A host on the newest protocol (no server-to-client requests) is asked
// by a multi-round-trip result, which go-sdk's client answers with its
// elicitation handler.
func TestApprovalOnNewestProtocol(t *testing.T) {
	for _, tc := range []struct {
		answer string
		made   bool
	}{{answerOnce, true}, {answerDeny, false}} {
		t.Run(tc.answer, func(t *testing.T) {
			var mailCalls, asked atomic.Int32
			r := notesAndMail(t, &mailCalls)
			h := r.connectAt(t, "", &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked.Add(1)
				if !strings.Contains(req.Params.Message, `"notes"`) || !strings.Contains(req.Params.Message, `"send"`) {
					t.Errorf("question = %q", req.Params.Message)
				}
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": tc.answer}}, nil
			}})
			if h.cs.InitializeResult() != nil && h.cs.InitializeResult().ProtocolVersion < "2026-07-28" {
				t.Fatalf("the host speaks %s, not the newest protocol", h.cs.InitializeResult().ProtocolVersion)
			}
			h.call(t, "notes__read_note", nil)
			res := h.call(t, "mail__send", map[string]any{})
			if res.IsError == tc.made || asked.Load() != 1 {
				t.Fatalf("made = %v (want %v), asked %d times (want 1): %s", !res.IsError, tc.made, asked.Load(), text(res))
			}
			if want := map[bool]int32{true: 1, false: 0}[tc.made]; mailCalls.Load() != want {
				t.Fatalf("mail was called %d times, want %d", mailCalls.Load(), want)
			}
		})
	}
}

// An answer counts only for the request it was asked about, under the
// requestState mediator signed: a forged state, or the state of another
// request, is asked again, and nothing is sent meanwhile.
func TestApprovalAnswerBoundToItsRequest(t *testing.T) {
	var mailCalls atomic.Int32
	r := notesAndMail(t, &mailCalls)
	h := r.connectAt(t, "", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			t.Error("the client's handler was called with the round trips off")
			return nil, nil
		},
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
	})
	ctx := context.Background()
	h.call(t, "notes__read_note", nil)
	call := func(args map[string]any, state string, answer bool) *mcp.CallToolResult {
		p := &mcp.CallToolParams{Name: "mail__send", Arguments: args, RequestState: state}
		if answer {
			p.InputResponses = mcp.InputResponseMap{approvalInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": answerOnce}}}
		}
		res, err := h.cs.CallTool(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := call(map[string]any{"to": "a"}, "", false)
	if !first.NeedsInput() || first.RequestState == "" || first.InputRequests[approvalInput] == nil {
		t.Fatalf("the first call did not ask: %+v", first)
	}
	for _, tc := range []struct {
		name  string
		args  map[string]any
		state string
	}{
		{"a forged state", map[string]any{"to": "a"}, "0123"},
		{"another request's state", map[string]any{"to": "b"}, first.RequestState},
	} {
		if res := call(tc.args, tc.state, true); !res.NeedsInput() {
			t.Fatalf("%s: the answer was taken: %s", tc.name, text(res))
		}
	}
	if mailCalls.Load() != 0 {
		t.Fatal("mail was called before an answer counted")
	}
	if res := call(map[string]any{"to": "a"}, first.RequestState, true); res.NeedsInput() || res.IsError {
		t.Fatalf("the answer to the question asked: %+v %s", res, text(res))
	}
	if mailCalls.Load() != 1 {
		t.Fatalf("mail was called %d times, want 1", mailCalls.Load())
	}
}

// A prompt's get and a resource's read are asked about as a tool call
// is, on either protocol.
func TestApprovalOfPromptsAndResources(t *testing.T) {
	for _, version := range []string{"2025-11-25", ""} {
		t.Run("protocol "+version, func(t *testing.T) {
			r := notesAndMail(t, nil)
			var asked atomic.Int32
			h := r.connectAt(t, version, &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked.Add(1)
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": answerOnce}}, nil
			}})
			ctx := context.Background()
			h.call(t, "mail__send", nil) // the host has seen mail's data
			if _, err := h.cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "notes__summarize", Arguments: map[string]string{"topic": "x"}}); err != nil {
				t.Fatalf("prompt: %v", err)
			}
			if _, err := h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://a"}); err != nil {
				t.Fatalf("resource: %v", err)
			}
			if asked.Load() != 2 {
				t.Fatalf("asked %d times, want 2", asked.Load())
			}
		})
	}
}
