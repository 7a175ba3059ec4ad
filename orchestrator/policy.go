package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Flow is one cross-server data flow: data from server From may be sent to
// server To. It is written "from -> to", as in the config's policy.flows
// and a flow file's flows:.
type Flow struct {
	From, To string
}

func (f Flow) String() string { return f.From + " -> " + f.To }

// Policy is the data-flow policy every caller obeys: the config's
// policy.flows. A server's own data may always go back to it.
type Policy struct {
	Flows []Flow
}

// Approval is an Approver's answer to a FlowRequest.
type Approval int

const (
	// ApprovalDeny refuses the request; nothing is sent.
	ApprovalDeny Approval = iota
	// ApprovalOnce allows this one request.
	ApprovalOnce
	// ApprovalSession allows the request and every later one of the
	// caller's Session with the same flows to the same target (the same
	// tool, resource, prompt or skill of the same server): never the flow
	// for every target.
	ApprovalSession
)

// FlowRequest asks an Approver whether data from the servers From may be
// sent to server To, which neither the policy nor the caller's session
// allows: by the request Method ("tools/call", "resources/read", ...)
// naming Target (the tool, resource URI, prompt or skill). It carries no
// value of the data.
type FlowRequest struct {
	From   []string
	To     string
	Method string
	Target string
}

// Approver decides flows the policy does not allow, for the front end
// that supplies it: a chat asks its user; a daemon or a one-shot command
// supplies none, and such flows are refused. An error refuses the request
// too. ApproveFlow may be called from many goroutines.
type Approver interface {
	ApproveFlow(ctx context.Context, req FlowRequest) (Approval, error)
}

// ApproverFunc adapts a function to Approver.
type ApproverFunc func(ctx context.Context, req FlowRequest) (Approval, error)

func (f ApproverFunc) ApproveFlow(ctx context.Context, req FlowRequest) (Approval, error) {
	return f(ctx, req)
}

// Session is one caller's standing under the data-flow policy: the flows
// it allows besides the config's policy (a flow file's flows:), the
// approver that asks its user, and the flows approved for the rest of the
// session. A chat keeps one per conversation and `mediator serve` one per
// connected host session; a flow run derives one (With) per call that
// adds the file's flows:. Requests find their session on the context
// (WithSession); without one they use the orchestrator's own, whose
// approver is Options.Approver and whose approvals last as long as the
// Orchestrator. Make one with NewSession; a Session is safe for
// concurrent use.
type Session struct {
	flows    []Flow
	flowFile string
	approver Approver
	approved *approvals // shared with the sessions derived by With
}

// SessionOptions configures NewSession and Session.With.
type SessionOptions struct {
	// Flows are allowed in this session besides the config's policy.
	Flows []Flow
	// FlowFile is the flow file that declares Flows, if any: a refusal then
	// tells the user to declare the flow in that file's flows:, rather
	// than in the config.
	FlowFile string
	// Approver decides the flows neither the policy nor Flows allow; nil
	// means Options.Approver (and none there refuses them).
	Approver Approver
}

// NewSession returns a session with no approvals yet.
func NewSession(opts SessionOptions) *Session {
	return &Session{flows: slices.Clone(opts.Flows), flowFile: opts.FlowFile, approver: opts.Approver, approved: &approvals{}}
}

// With returns a session that allows opts.Flows besides s's flows, with
// opts' flow file and approver where they are set, and that shares s's
// approvals: what is approved for the session in one is approved in both.
func (s *Session) With(opts SessionOptions) *Session {
	d := &Session{flows: append(slices.Clone(s.flows), opts.Flows...), flowFile: s.flowFile, approver: s.approver, approved: s.approved}
	if opts.FlowFile != "" {
		d.flowFile = opts.FlowFile
	}
	if opts.Approver != nil {
		d.approver = opts.Approver
	}
	return d
}

func (s *Session) allows(f Flow) bool { return slices.Contains(s.flows, f) }

// approvals are the flows approved for a session, each for one request
// method and target. A nil *approvals (a Session not made by NewSession)
// remembers nothing.
type approvals struct {
	mu    sync.Mutex
	flows map[approvedFlow]bool
}

// approvedFlow is what a session approval covers: one flow into one
// target of its server.
type approvedFlow struct {
	Flow
	method, target string
}

func (a *approvals) has(f Flow, method, target string) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flows[approvedFlow{f, method, target}]
}

func (a *approvals) add(fs []Flow, method, target string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.flows == nil {
		a.flows = map[approvedFlow]bool{}
	}
	for _, f := range fs {
		a.flows[approvedFlow{f, method, target}] = true
	}
}

// Approved lists the session's approvals, each as "from -> to method
// target" (e.g. "weather -> calendar tools/call create_event"), sorted.
func (s *Session) Approved() []string {
	a := s.approved
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.flows))
	for f := range a.flows {
		out = append(out, f.Flow.String()+" "+f.method+" "+f.target)
	}
	slices.Sort(out)
	return out
}

type sessionKey struct{}

// WithSession returns a context whose requests are decided under s.
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// Session returns the session ctx's requests are decided under: the one
// WithSession put there, else the orchestrator's own.
func (o *Orchestrator) Session(ctx context.Context) *Session {
	if s, ok := ctx.Value(sessionKey{}).(*Session); ok && s != nil {
		return s
	}
	return o.session
}

// How a flow was allowed, as FlowDecision.AllowedBy names it after the
// flow: "a -> b (policy)".
const (
	allowedByPolicy          = "policy"           // the config's policy.flows
	allowedByFlows           = "flows"            // the caller's own flows (a flow file's flows:)
	allowedByApprovalOnce    = "approval:once"    // the approver, for this request
	allowedByApprovalSession = "approval:session" // the approver, for the session
)

// checkFlow is the one place the data-flow rule is decided: data of
// provenance prov may be sent to server to (by the request method, naming
// target, a tool, prompt, skill or resource) only if every other server
// in prov may flow to it: by the config's policy, the caller's session's
// flows or an approval. The decision is returned for the audit record
// whether or not the flow is allowed; the error, a KindFlowRefused *Error,
// says it is not. Call it before anything of the request is sent.
func (o *Orchestrator) checkFlow(ctx context.Context, to, method, target string, prov Provenance) (FlowDecision, error) {
	var (
		d       FlowDecision
		by      []string
		pending []Flow
	)
	sess := o.Session(ctx)
	for _, from := range prov.servers {
		if from == to {
			continue
		}
		d.Sources = append(d.Sources, from)
		f := Flow{From: from, To: to}
		switch {
		case slices.Contains(o.opts.Policy.Flows, f):
			by = append(by, f.String()+" ("+allowedByPolicy+")")
		case sess.allows(f):
			by = append(by, f.String()+" ("+allowedByFlows+")")
		case sess.approved.has(f, method, target):
			by = append(by, f.String()+" ("+allowedByApprovalSession+")")
		default:
			pending = append(pending, f)
		}
	}
	if len(pending) > 0 {
		how, err := o.approve(ctx, sess, to, method, target, pending)
		if err != nil {
			d.AllowedBy = strings.Join(by, ", ")
			return d, err
		}
		for _, f := range pending {
			by = append(by, f.String()+" ("+how+")")
		}
	}
	d.AllowedBy = strings.Join(by, ", ")
	return d, nil
}

// approve asks the session's approver about the flows pending, and
// returns how they were allowed or why they are refused.
func (o *Orchestrator) approve(ctx context.Context, sess *Session, to, method, target string, pending []Flow) (string, error) {
	approver := sess.approver
	if approver == nil {
		approver = o.opts.Approver
	}
	if approver == nil {
		return "", o.flowRefused(sess, to, method, target, pending, "", nil)
	}
	from := make([]string, len(pending))
	for i, f := range pending {
		from[i] = f.From
	}
	a, err := approver.ApproveFlow(ctx, FlowRequest{From: from, To: to, Method: method, Target: target})
	switch {
	case err != nil:
		return "", o.flowRefused(sess, to, method, target, pending, "asking for approval failed", err)
	case a == ApprovalOnce:
		return allowedByApprovalOnce, nil
	case a == ApprovalSession:
		sess.approved.add(pending, method, target)
		return allowedByApprovalSession, nil
	}
	return "", o.flowRefused(sess, to, method, target, pending, "approval was denied", nil)
}

// flowRefused is the refusal of the flows pending into a request to
// server to: it names them, the request, and the line that would allow
// them, in the flow file when the caller is a flow, else in the config.
// It quotes no data; its audit text does not name a non-tool target.
func (o *Orchestrator) flowRefused(sess *Session, to, method, target string, pending []Flow, why string, err error) *Error {
	from := make([]string, len(pending))
	edges := make([]string, len(pending))
	for i, f := range pending {
		from[i] = fmt.Sprintf("%q", f.From)
		edges[i] = fmt.Sprintf("%q", f.String())
	}
	who := "server " + from[0]
	if len(from) > 1 {
		who = "servers " + strings.Join(from, ", ")
	}
	// A tool's name is no value; a resource URI or a prompt's name may
	// be, so the audit log's text names only the method.
	tool, what, whatAudit := "", method+" of "+strconv.Quote(target), method
	if method == "" || method == methodToolsCall {
		tool = target
		what = "calling " + QualifiedName(to, target)
		whatAudit = what
	}
	list := "[" + strings.Join(edges, ", ") + "]"
	verb := "is"
	if len(edges) > 1 {
		verb = "are"
	}
	say := func(what string) string {
		msg := fmt.Sprintf("data from %s may not be sent to server %q (%s): %s %s not allowed", who, to, what, strings.Join(edges, ", "), verb)
		if why != "" {
			msg += ", and " + why
		}
		if sess.flowFile != "" {
			return msg + fmt.Sprintf("; to allow it, declare it in %s: flows: %s (or, for every caller, in the config: policy.flows: %s)", sess.flowFile, list, list)
		}
		return msg + fmt.Sprintf("; to allow it, add it to the config: policy.flows: %s", list)
	}
	// The audit text leaves out an approver's failure too: it is the
	// front end's text; the log records the refusal itself.
	return &Error{Kind: KindFlowRefused, Server: to, Tool: tool, Flows: pending, Msg: say(what), Err: err, audit: say(whatAudit)}
}

// methodToolsCall is the request method of a tool call.
const methodToolsCall = "tools/call"
