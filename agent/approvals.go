package agent

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/mediatorhq/mediator/orchestrator"
)

// Approvals are the config's approvals: rules on tool calls, globs
// (path.Match) on "server.tool", checked deny, then ask, then allow. A
// call no rule names is allowed when the tool is annotated read-only and
// pinned, and asked about otherwise. These rules decide whether the user
// is asked before a call; the data-flow policy is decided apart from
// them, by the orchestrator, for every call they let through.
type Approvals struct {
	Allow []string
	Ask   []string
	Deny  []string
}

// Validate reports the first malformed pattern, naming its field.
func (a Approvals) Validate() error {
	for _, l := range []struct {
		name string
		pats []string
	}{{"allow", a.Allow}, {"ask", a.Ask}, {"deny", a.Deny}} {
		for i, p := range l.pats {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("approvals.%s[%d]: %q is not a valid pattern (path.Match syntax on server.tool, e.g. \"weather.*\"): %w", l.name, i, p, err)
			}
		}
	}
	return nil
}

// Verdict is what the rules say about a tool call.
type Verdict int

const (
	VerdictAllow Verdict = iota + 1
	VerdictAsk
	VerdictDeny
)

func (v Verdict) String() string {
	switch v {
	case VerdictAllow:
		return "allow"
	case VerdictAsk:
		return "ask"
	case VerdictDeny:
		return "deny"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decide applies the rules to the tool t and says why: the rule that
// matched, or the default.
func (a Approvals) Decide(t orchestrator.ToolInfo) (Verdict, string) {
	for _, r := range []struct {
		v    Verdict
		name string
		pats []string
	}{{VerdictDeny, "deny", a.Deny}, {VerdictAsk, "ask", a.Ask}, {VerdictAllow, "allow", a.Allow}} {
		for _, p := range r.pats {
			if ok, _ := path.Match(p, t.Qualified); ok {
				return r.v, fmt.Sprintf("the rule %q in approvals.%s", p, r.name)
			}
		}
	}
	switch {
	case !readOnly(t):
		return VerdictAsk, "the default: the tool is not annotated read-only"
	case t.Pin != orchestrator.PinPinned:
		return VerdictAsk, "the default: the tool's definition is not pinned"
	}
	return VerdictAllow, "the default: a read-only tool with a pinned definition"
}

// readOnly reports whether t is annotated read-only (a hint from its
// server, pinned with its definition).
func readOnly(t orchestrator.ToolInfo) bool {
	return t.Tool != nil && t.Tool.Annotations != nil && t.Tool.Annotations.ReadOnlyHint
}

// ToolRequest asks the front end whether a tool call may be made: the
// rules say ask. Args are the arguments as the model wrote them (what
// would be sent); Provenance, the servers whose output the model had
// seen when it wrote them.
type ToolRequest struct {
	Server, Tool string
	Args         map[string]any
	Reason       string // the rule or the default that asks
	ReadOnly     bool   // the tool is annotated read-only
	Provenance   orchestrator.Provenance
}

// FlowRequest asks the front end whether data from the servers From may
// go to server To in this call, which neither the policy nor the
// session's flows allow: the orchestrator's request plus the arguments
// that would be sent, so the user sees exactly what goes where.
type FlowRequest struct {
	orchestrator.FlowRequest
	Args map[string]any
}

// Approver is the front end's side of approvals: a chat asks its user.
// ApproveTool answers a call the rules ask about; ApproveFlow a
// cross-server flow. orchestrator.ApprovalSession remembers the answer
// for the rest of the Session: for a tool, keyed on (server, tool); for
// a flow, on (sources -> server, tool), never the edge for every tool.
// An error refuses the call. Without an Approver, calls the rules ask
// about and undeclared flows are refused (fail closed).
type Approver interface {
	ApproveTool(ctx context.Context, req ToolRequest) (orchestrator.Approval, error)
	ApproveFlow(ctx context.Context, req FlowRequest) (orchestrator.Approval, error)
}

// ApproveMode is what OneShot approves of the calls the rules ask about.
type ApproveMode string

const (
	ApproveNone     ApproveMode = ""          // nothing: such calls are refused
	ApproveReadOnly ApproveMode = "read-only" // calls to tools annotated read-only
	ApproveAll      ApproveMode = "all"       // every call
)

// OneShot is the Approver of a front end with no one to ask (`mediator
// chat -p --approve MODE`): it approves tool calls per Mode, once each,
// and never a cross-server flow, so an undeclared flow is refused (fail
// closed) unless the config's policy.flows or the session's Flows
// (`--allow-flow`) allow it.
type OneShot struct {
	Mode ApproveMode
}

// ParseApproveMode checks an --approve value.
func ParseApproveMode(s string) (ApproveMode, error) {
	switch m := ApproveMode(s); m {
	case ApproveNone, ApproveReadOnly, ApproveAll:
		return m, nil
	}
	return "", fmt.Errorf("--approve: %q is not a mode (valid: read-only, all)", s)
}

func (o OneShot) ApproveTool(ctx context.Context, req ToolRequest) (orchestrator.Approval, error) {
	if o.Mode == ApproveAll || o.Mode == ApproveReadOnly && req.ReadOnly {
		return orchestrator.ApprovalOnce, nil
	}
	return orchestrator.ApprovalDeny, nil
}

func (OneShot) ApproveFlow(ctx context.Context, req FlowRequest) (orchestrator.Approval, error) {
	return orchestrator.ApprovalDeny, errors.New("no one can be asked here, and --approve never approves a cross-server flow")
}
