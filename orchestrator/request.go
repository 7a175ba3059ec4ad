package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediatorhq/mediator/connectors"
)

// request is one audited request other than tools/call that the
// orchestrator sends on a caller's behalf (resources/read, prompts/get):
// what the audit record says of it and what the flow check is told.
type request struct {
	server string
	method string // "resources/read", "prompts/get"
	// target names what is asked for in the flow check: the URI, the
	// prompt's name. tool is what the record's tool field names: the
	// prompt, or "" for a URI, which is a value.
	target, tool string
	argsJSON     []byte // canonical JSON of the params, recorded as a call's args are
	prov         Provenance
	// allowed says why the server's filter excludes the request, or "".
	allowed func(ServerConfig) string
}

// send runs req the way CallWithMeta runs a call: fail closed (nothing is
// sent unless the audit log is ready), the server's filter, the data-flow
// check, the server connected if it is not, then do; the record is
// written whatever happened (see recordRequest). An error of do is the
// outcome "error", or "refused" when do wraps it with refused (mediator
// turned down what the server answered). It returns the request's call ID,
// time and flow decision.
func (o *Orchestrator) send(ctx context.Context, req request, do func(ctx context.Context, conn *connectors.Connector) error) (string, time.Duration, FlowDecision, error) {
	id := o.callID()
	if o.audit != nil {
		if err := o.audit.ready(ctx); err != nil {
			return id, 0, FlowDecision{}, err
		}
	}
	start := time.Now()
	var flow FlowDecision
	outcome, err := func() (string, error) {
		s, err := o.lookup(req.server)
		if err != nil {
			return OutcomeRefused, err
		}
		if o.closed.Load() {
			return OutcomeRefused, &Error{Kind: KindClosed, Server: req.server, Msg: "orchestrator is closed"}
		}
		if why := req.allowed(s.cfg); why != "" {
			return OutcomeRefused, &Error{Kind: KindNotAllowed, Server: req.server, Tool: req.tool,
				Msg:   fmt.Sprintf("%s of %s on server %q is %s", req.method, req.target, req.server, why),
				audit: fmt.Sprintf("%s on server %q is %s", req.method, req.server, why)}
		}
		if flow, err = o.checkFlow(ctx, req.server, req.method, req.target, req.prov); err != nil {
			return OutcomeRefused, err
		}
		if err := o.connected(ctx, s, req.tool); err != nil {
			return OutcomeError, err
		}
		if o.audit != nil {
			if err := o.audit.before(ctx, req.server); err != nil {
				return OutcomeRefused, err
			}
		}
		if err := do(ctx, s.conn); err != nil {
			var r *refusal
			if errors.As(err, &r) {
				return OutcomeRefused, r.err
			}
			return OutcomeError, err
		}
		return OutcomeOK, nil
	}()
	d := time.Since(start)
	err = o.recordRequest(auditEntry{
		start: start, callID: id, server: req.server, tool: req.tool, method: req.method, origin: callOriginOf(ctx),
		argsJSON: req.argsJSON, duration: d, flow: flow, outcome: outcome,
	}, err)
	return id, d, flow, err
}

// refusal marks an error of send's do as mediator's refusal of what the
// server answered (the outcome "refused"); send returns err itself.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// recordRequest writes the audit record e of one request made through the
// orchestrator (a call, a read, a prompt or skill fetched, a server's
// request answered), err its failure or nil. A failure's class and text
// (masked, values only with AuditIncludeValues) are err's unless e's
// errClass was chosen already. A record that cannot be handed over is
// logged; recordRequest returns err, or the audit's error when the
// request succeeded. Without auditing it returns err.
func (o *Orchestrator) recordRequest(e auditEntry, err error) error {
	if o.audit == nil {
		return err
	}
	if err != nil && e.errClass == "" {
		e.errClass = ErrorClass(err)
		e.errText = o.opts.Redactor.Redact(auditText(err, o.opts.AuditIncludeValues))
	}
	if aerr := o.audit.record(e); aerr != nil {
		what, name := "method", e.method
		if e.method == "" {
			what, name = "tool", e.tool
		}
		o.log.Error("audit record not written", "call_id", e.callID, "server", e.server, what, name, "error", aerr)
		if err == nil {
			return aerr
		}
	}
	return err
}

// connected connects the server unless it is ready, within its timeout; a
// failure is a connection error about tool ("" for the server).
func (o *Orchestrator) connected(ctx context.Context, s *server, tool string) error {
	if o.closed.Load() {
		return &Error{Kind: KindClosed, Server: s.cfg.Name, Msg: "orchestrator is closed"}
	}
	if s.conn.Status().State == connectors.StateReady {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if err := s.conn.Connect(ctx); err != nil {
		return o.connErr(s.cfg.Name, tool, err)
	}
	return nil
}
