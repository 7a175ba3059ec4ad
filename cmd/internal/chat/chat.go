// Package chat holds what the pieces of `mediator chat` share: the
// terminal UI (package tui) drives a conversation (agent.Session) and the
// slash commands (package slash) through the types here, and the chat
// command (cmd/internal/commands/chat) wires them together.
//
// The design is in docs/chat.md.
package chat

import (
	"context"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// Sink is where a slash command shows what it does. The TUI renders each
// piece in the transcript; a test collects them. Calls come from the
// command's goroutine, in order.
type Sink interface {
	// Markdown shows a block of output (a table, a result, help).
	Markdown(md string)
	// Call shows one tool call the command made (`/call`): a tool-call
	// block like the model's, built from the same CallInfo.
	Call(c *agent.CallInfo)
	// Progress shows a server's progress report for the running call.
	Progress(p connectors.Progress)
	// Flow shows a workflow run's event (`/run`): live step status.
	Flow(e workflows.Event)
}

// Action is what the TUI does after a command besides showing its
// output.
type Action int

const (
	ActionNone  Action = iota
	ActionQuit         // /quit
	ActionClear        // /clear: the transcript view is emptied too
)

// Result is a command's outcome for the TUI.
type Result struct {
	Action Action
	// Send, when not nil, is sent to the model as the user's turn
	// (`/server:prompt` sends the prompt's messages as attachments).
	Send *agent.Input
}

// CommandHelp is one line of /help and of the completion menu.
type CommandHelp struct {
	Name    string // "/tools", or "/weather:forecast" for a server's prompt
	Args    string // "[server]"
	Summary string
}

// Commands is what the TUI needs of the slash commands.
type Commands interface {
	// Complete returns completions of the input line so far (the whole
	// line each: "/tools weather"), best first; none for plain text.
	Complete(line string) []string
	// Help lists the commands, the servers' prompts included.
	Help() []CommandHelp
	// Run runs one line that starts with "/". Cancelling ctx (Esc)
	// cancels the running call (MCP cancellation, or tasks/cancel).
	Run(ctx context.Context, line string, out Sink) (Result, error)
	// Expand turns a plain message into the model's input, reading each
	// `@server:uri` it mentions as an attachment (through the
	// orchestrator, flow-checked with what the context holds).
	Expand(ctx context.Context, line string) (agent.Input, error)
}

// Status is what the status bar shows.
type Status struct {
	Model   string // "" in direct mode (no model configured)
	Servers []orchestrator.ServerStatus
	// Context is the servers whose output the model has seen.
	Context []string
	Usage   agent.Usage
}
