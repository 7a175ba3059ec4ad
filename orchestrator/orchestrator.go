// Package orchestrator is mediator's core: it holds one connector per
// server, keeps the tool catalogue, decides whether a call is allowed,
// validates its arguments, makes the call, and writes the audit log. Every
// cross-server data flow passes through here.
package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
)

// ServerConfig is one server as the orchestrator sees it: how to connect,
// plus which of its tools may be called.
type ServerConfig struct {
	connectors.Config
	Tools ToolFilter
	// NewTransport, when set, connects to an in-process server instead of
	// Config's URL or command (see connectors.Options.NewTransport).
	NewTransport func(ctx context.Context) (mcp.Transport, error)
}

// ToolFilter allows and denies tools by glob pattern (path.Match syntax).
// An empty Allow list allows every tool; Deny wins over Allow.
type ToolFilter struct {
	Allow []string
	Deny  []string
}

// SecretProvider hands out one server's secrets. *credentials.Store satisfies it.
type SecretProvider interface {
	ForServer(server string) *credentials.ServerSecrets
}

// Options configures New. Zero values are safe defaults except Servers.
type Options struct {
	Servers []ServerConfig
	Secrets SecretProvider
	// Redactor masks known secret values in audit records and errors.
	Redactor *credentials.Redactor
	// AuditPath is the JSON Lines audit file; empty disables auditing.
	AuditPath string
	// AuditIncludeValues records argument values (secrets still masked).
	AuditIncludeValues bool
	// PinPath is the JSON file of pinned tool definition hashes; empty keeps
	// pins in memory only.
	PinPath    string
	Logger     *slog.Logger
	ClientInfo *mcp.Implementation
	// Stderr receives stdio servers' stderr; nil discards it.
	Stderr interface{ Write([]byte) (int, error) }
}

// Orchestrator is safe for concurrent use.
type Orchestrator struct{}

// New checks the server set (unique names, names that cannot collide as
// qualified tool names) and returns an orchestrator with no connections yet.
func New(opts Options) (*Orchestrator, error) { return nil, errors.New("not implemented") }

// Connect connects the named servers (all when none are named)
// concurrently. One slow or broken server never blocks the others; their
// failures show in Servers(). It returns when every attempt has settled.
func (o *Orchestrator) Connect(ctx context.Context, servers ...string) {}

// ServerStatus is one row of `mediator servers`.
type ServerStatus struct {
	Name      string
	Transport string
	Endpoint  string // URL or command line (no secrets)
	connectors.Status
	Tools int
}

// Servers reports every configured server, in name order.
func (o *Orchestrator) Servers() []ServerStatus { return nil }

// ToolInfo is one catalogue entry.
type ToolInfo struct {
	Server string
	// Name is the tool's own name; Qualified is "server.tool"; LLMName is "server__tool".
	Name, Qualified, LLMName string
	Tool                     *mcp.Tool
	Allowed                  bool
	// Pin is "new", "pinned" or "changed" (calls refused until accepted).
	Pin string
}

// Tools lists the catalogue for one server, or for all connected servers when server is "".
func (o *Orchestrator) Tools(ctx context.Context, server string) ([]ToolInfo, error) {
	return nil, errors.New("not implemented")
}

// Result is a tool result together with where it came from.
type Result struct {
	Server   string
	Tool     string
	CallID   string
	Duration time.Duration
	*mcp.CallToolResult
}

// Call checks that the tool exists and is allowed and pinned, validates args
// against its inputSchema before anything is sent, calls it, audits the call
// and returns the result with its provenance.
func (o *Orchestrator) Call(ctx context.Context, server, tool string, args map[string]any) (*Result, error) {
	return nil, errors.New("not implemented")
}

// AcceptTools re-pins a server's current tool definitions.
func (o *Orchestrator) AcceptTools(ctx context.Context, server string) ([]string, error) {
	return nil, errors.New("not implemented")
}

// Close closes every connector.
func (o *Orchestrator) Close() error { return nil }
