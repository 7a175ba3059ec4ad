package orchestrator

import (
	"context"
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
// written whatever happened. It returns the request's call ID and time.
func (o *Orchestrator) send(ctx context.Context, req request, do func(ctx context.Context, conn *connectors.Connector) error) (string, time.Duration, error) {
	id := o.callID()
	if o.audit != nil {
		if err := o.audit.ready(ctx); err != nil {
			return id, 0, err
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
		if s.conn.Status().State != connectors.StateReady {
			cctx, cancel := context.WithTimeout(ctx, s.timeout())
			err := s.conn.Connect(cctx)
			cancel()
			if err != nil {
				return OutcomeError, o.connErr(req.server, req.tool, err)
			}
		}
		if o.audit != nil {
			if err := o.audit.before(ctx, req.server); err != nil {
				return OutcomeRefused, err
			}
		}
		if err := do(ctx, s.conn); err != nil {
			return OutcomeError, err
		}
		return OutcomeOK, nil
	}()
	d := time.Since(start)
	if o.audit != nil {
		e := auditEntry{
			start: start, callID: id, server: req.server, tool: req.tool, method: req.method, origin: callOriginOf(ctx),
			argsJSON: req.argsJSON, duration: d, flow: flow, outcome: outcome,
		}
		if err != nil {
			e.errClass = ErrorClass(err)
			e.errText = o.opts.Redactor.Redact(auditText(err, o.opts.AuditIncludeValues))
		}
		if aerr := o.audit.record(e); aerr != nil {
			o.log.Error("audit record not written", "call_id", id, "server", req.server, "method", req.method, "error", aerr)
			if err == nil {
				err = aerr
			}
		}
	}
	return id, d, err
}
