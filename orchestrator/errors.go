package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mediatorhq/mediator/connectors"
)

// Kind classifies orchestrator failures so front ends can pick an exit code
// without parsing messages, and the audit log can record an error class.
type Kind string

const (
	// Usage-type kinds: the caller asked for something that cannot be done as asked.
	KindInvalidConfig    Kind = "invalid-config"    // the server set given to New is unusable
	KindUnknownServer    Kind = "unknown-server"    // no server of that name is configured
	KindUnknownTool      Kind = "unknown-tool"      // the server offers no tool of that name
	KindNotAllowed       Kind = "not-allowed"       // the server's tools filter excludes the tool
	KindInvalidArguments Kind = "invalid-arguments" // args do not match the tool's inputSchema

	// KindFlowRefused: the request would send data from another server
	// that the data-flow policy does not let reach this one, and no
	// approver approved it (Error.Flows says which flows). Nothing was sent.
	KindFlowRefused Kind = "flow-refused"

	// Pin kinds: the server's tool definitions differ from what the user accepted.
	KindToolChanged Kind = "tool-changed" // a pinned tool's definition changed
	KindToolNew     Kind = "tool-new"     // a tool appeared on an already pinned server
	KindCollision   Kind = "name-collision"
	// KindReviewStale: the tools differ from what the user reviewed, or no
	// review was named; nothing was accepted.
	KindReviewStale Kind = "review-stale"
	// KindTooManyTools: the server offers more tools than its cap.
	KindTooManyTools Kind = "too-many-tools"

	// KindBadSchema: the tool's own inputSchema cannot be checked safely
	// (a $ref cycle, alternatives nested into exponential work), so the
	// tool is refused. The server is at fault, not the caller.
	KindBadSchema Kind = "bad-schema"

	// KindUnknownSkill: the server lists no skill of that name (or several,
	// or offers no skills at all).
	KindUnknownSkill Kind = "unknown-skill"
	// KindSkillRejected: a skill's entry breaks the skills extension's
	// rules, or a file read for it does not match its entry (size, digest,
	// frontmatter); it is not loaded. The server is at fault.
	KindSkillRejected Kind = "skill-rejected"

	// Connection kinds: the server could not be reached or talked to. The
	// wrapped *connectors.Error tells auth, timeout and transport apart (see
	// [Error.ConnectorKind]).
	KindConnection Kind = "connection"
	// KindServer is a protocol-level (JSON-RPC) error answered by the server.
	KindServer Kind = "server"

	// Local failures of mediator's own state.
	KindPins   Kind = "pins"   // the pin file cannot be read or written
	KindAudit  Kind = "audit"  // the audit log cannot be written
	KindClosed Kind = "closed" // the orchestrator was closed
)

// Error is every failure the orchestrator reports. Use errors.As to reach it
// through wrapping.
type Error struct {
	Kind   Kind
	Server string
	Tool   string
	// Field is the argument path ("city", "stops[].name") for KindInvalidArguments.
	Field string
	// Suggestions are the closest known names for KindUnknownServer and KindUnknownTool.
	Suggestions []string
	// Flows are the refused flows (into Server) of KindFlowRefused.
	Flows []Flow
	// Msg says what went wrong, naming the server and tool, and what would
	// be valid; Err, if any, follows it.
	Msg string
	Err error

	// audit, when set, is the error's text for an audit log that leaves
	// argument values out: Msg may quote them.
	audit string
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "" && e.Err != nil:
		return e.Msg + ": " + e.Err.Error()
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		// Connector errors name their server already.
		return e.Err.Error()
	case e.Tool != "":
		return string(e.Kind) + ": " + QualifiedName(e.Server, e.Tool)
	}
	return string(e.Kind) + ": server " + strconv.Quote(e.Server)
}

func (e *Error) Unwrap() error { return e.Err }

// ConnectorKind is the connector's classification (auth, timeout,
// transport, ...) of a KindConnection or KindServer error, or "".
func (e *Error) ConnectorKind() connectors.Kind {
	var ce *connectors.Error
	if errors.As(e.Err, &ce) {
		return ce.Kind
	}
	return ""
}

// Usage reports whether the error is the caller's mistake (unknown names,
// filtered tools, bad arguments, bad server config), which a CLI reports
// with its usage exit code rather than as a connection failure.
func (e *Error) Usage() bool {
	switch e.Kind {
	case KindInvalidConfig, KindUnknownServer, KindUnknownTool, KindNotAllowed, KindInvalidArguments, KindUnknownSkill:
		return true
	}
	return false
}

// Class is the error class the audit log records: the kind, refined by the
// connector's kind for connection errors ("connection/auth").
func (e *Error) Class() string {
	if ck := e.ConnectorKind(); ck != "" {
		return string(e.Kind) + "/" + string(ck)
	}
	return string(e.Kind)
}

// ErrorClass is the audit error class of any error: an *Error's Class, a
// bare connector error's kind, "canceled" or "deadline", else "internal".
func ErrorClass(err error) string {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Class()
	}
	var ce *connectors.Error
	switch {
	case errors.As(err, &ce):
		return string(KindConnection) + "/" + string(ce.Kind)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "internal"
}

// auditText is err's text for the audit log. With values included it is
// the whole message. Without, it is a text that quotes no argument value:
// a refusal names arguments and rules only, and a server's own error
// message, which may echo what it was sent, is left out for its JSON-RPC
// code.
func auditText(err error, includeValues bool) string {
	var oe *Error
	if includeValues || !errors.As(err, &oe) {
		return err.Error()
	}
	switch {
	case oe.audit != "":
		return oe.audit
	case oe.Kind == KindServer:
		var rpc *jsonrpc.Error
		what := "the server answered with a JSON-RPC error"
		if errors.As(err, &rpc) {
			what = fmt.Sprintf("the server answered with a JSON-RPC error (code %d)", rpc.Code)
		}
		head := oe.Msg
		if head == "" {
			head = fmt.Sprintf("server %q", oe.Server)
		}
		return head + ": " + what + " (its message is recorded only with audit.include_values)"
	}
	return err.Error()
}

// connectionError wraps a connector failure, keeping the connector's kind
// reachable for exit codes and audit classes.
func connectionError(server, tool string, err error) *Error {
	kind := KindConnection
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Kind == connectors.KindProtocol {
		kind = KindServer
	}
	return &Error{Kind: kind, Server: server, Tool: tool, Err: err}
}
