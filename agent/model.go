package agent

import (
	"context"
	"iter"
)

// Model is a language model as the agent loop uses it: one streaming
// turn at a time. Stream sends req and yields what the model answers as
// it arrives: text deltas, then each tool call once its arguments are
// complete, and a finish event with the turn's usage last. An error ends
// the sequence. NewModel makes one from a Config; tests may supply their
// own.
type Model interface {
	Stream(ctx context.Context, req Request) iter.Seq2[Event, error]
	// Name is "provider/model", for a status bar.
	Name() string
}

// Request is everything the model is sent for one turn. It is built only
// from the session's transcript and tool list: whatever is in it reaches
// the provider.
type Request struct {
	System   string
	Messages []Message
	Tools    []ToolDef
	// MaxOutputTokens caps this answer; 0 leaves the Config's cap.
	MaxOutputTokens int64
}

// Role is who a Message is from.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool is a tool's result, answering the assistant's ToolCall of
	// the same ID.
	RoleTool Role = "tool"
)

// Message is one message of the conversation. An assistant message has
// Text, ToolCalls or both; a tool message has Result.
type Message struct {
	Role      Role        `json:"role"`
	Text      string      `json:"text,omitempty"`
	ToolCalls []ToolCall  `json:"tool_calls,omitempty"`
	Result    *ToolResult `json:"result,omitempty"`
}

// ToolCall is the model's request to run a tool: Name is the offered
// name ("server__tool"), Args its arguments as JSON text, as the model
// wrote them.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Args string `json:"args"`
}

// ToolResult is what the model is told a tool call gave: the result's
// text, or with IsError, why the call failed or was refused.
type ToolResult struct {
	CallID  string `json:"call_id"`
	Name    string `json:"name"`
	Text    string `json:"text"`
	IsError bool   `json:"is_error,omitempty"`
}

// ToolDef is a tool as offered to the model.
type ToolDef struct {
	Name        string
	Description string
	// InputSchema is the tool's JSON Schema object.
	InputSchema map[string]any
}

// EventKind tells what an Event carries.
type EventKind int

const (
	// EventText is a delta of the answer's text.
	EventText EventKind = iota + 1
	// EventToolCall is a complete tool call.
	EventToolCall
	// EventFinish ends the turn, with its usage and finish reason.
	EventFinish
)

// Event is one piece of a model's streamed turn.
type Event struct {
	Kind     EventKind
	Text     string   // EventText
	ToolCall ToolCall // EventToolCall
	Usage    Usage    // EventFinish
	// Finish is the provider's finish reason as fantasy names it
	// ("stop", "tool-calls", "length", ...); EventFinish.
	Finish string
}

// Usage counts a turn's tokens.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens}
}
