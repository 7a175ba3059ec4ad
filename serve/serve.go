// Package serve is mediator as an MCP server (`mediator serve`): an agent
// host (Claude Desktop, Claude Code, Cursor, VS Code, goose, crush) sees
// one MCP server, and mediator, behind it, holds the credentials, pins
// tools, audits every call and enforces the data-flow policy across the
// host's whole session.
//
// It offers the configured servers' allowed tools as server__tool
// (gateway), their resources, prompts and skills, and workflow files as
// tools. Each host session is one context: once a result from server A has
// been returned to the host, a call to server B carries A's provenance, and
// is refused unless A -> B is allowed, or (where the host supports
// elicitation) the user allows it. The design is in docs/serve.md.
package serve

import (
	"context"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Options configures New. The orchestrator is set later (SetOrchestrator):
// it is built with the Server's Host, which forwards the servers'
// sampling and elicitation requests to the host.
type Options struct {
	// Gateway offers the servers' tools, resources, prompts and skills.
	Gateway bool
	// Servers are the servers the gateway offers; nil means all.
	Servers []string
	// NoPrefix names the tools, prompts and resources of the one server
	// served as that server names them, instead of server__tool. Only
	// with exactly one server.
	NoPrefix bool
	// Workflows are offered as tools.
	Workflows []WorkflowTool
	// Authorize, when set, is asked before every tool call, prompt get or
	// resource read with the request's context (the HTTP face puts the
	// bearer token's scope there) and the name the host used; an error
	// refuses the request with its text.
	Authorize func(ctx context.Context, name string) error
	// Redactor, when set, is read at each message to the host, and every
	// secret it knows is masked in what the host receives: results,
	// errors, and the requests and notifications mediator sends (a server
	// may echo a key). Opening the keyring replaces the redactor, hence a
	// func.
	Redactor func() *credentials.Redactor
	// Implementation is what the server says it is; nil means mediator's.
	Implementation *mcp.Implementation
	Logger         *slog.Logger
}

// WorkflowTool is one workflow file offered as a tool: its definition
// (input schema from the flow's inputs, output schema from its outputs)
// and how to run it. Run runs the flow under sess (the host session's
// standing with the data-flow policy, so the flow's flows: apply inside
// it and its approvals are the session's), reporting progress, and
// returns the tool's result (outputs as structuredContent) and the
// provenance of what it returns: every server whose output went into it.
type WorkflowTool struct {
	Tool *mcp.Tool
	Run  func(ctx context.Context, sess *orchestrator.Session, args map[string]any, progress func(connectors.Progress)) (*mcp.CallToolResult, orchestrator.Provenance, error)
}
