package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Call checks that the tool exists and is allowed and pinned, validates args
// against its inputSchema before anything is sent, calls it, audits the call
// and returns the result with its provenance. A server that is not connected
// yet is connected first, and only that server.
//
// A tool that answers with IsError set yields a Result and a nil error; every
// failure is an *Error. The call's audit record is written behind it (see
// auditLog): before any later call to another server is sent, and by
// SyncAudit and Close at the latest. While records cannot be written, calls
// are refused before they are sent. If the record could not even be handed
// over (the log was closed meanwhile), both the Result and a KindAudit error
// are returned: the call has happened and cannot be undone.
func (o *Orchestrator) Call(ctx context.Context, server, tool string, args map[string]any) (*Result, error) {
	return o.CallWith(ctx, server, tool, args, CallOptions{})
}

// CallWithMeta is Call with a request _meta, e.g. the idempotency key a
// workflow step sends so a retried or resumed call is not acted on twice.
// meta is sent as given and never recorded in the audit log.
func (o *Orchestrator) CallWithMeta(ctx context.Context, server, tool string, args map[string]any, meta mcp.Meta) (*Result, error) {
	return o.CallWith(ctx, server, tool, args, CallOptions{Meta: meta})
}

// CallOptions are what a call carries besides its arguments.
type CallOptions struct {
	// Provenance is the servers whose data went into the arguments; the
	// zero value is data from no server (what the user typed). The call
	// is refused (KindFlowRefused) unless each of them may flow to the
	// called server under the policy, the context's Session or an approval.
	Provenance Provenance
	// Meta is sent as the request's _meta and never recorded in the audit
	// log.
	Meta mcp.Meta
}

// CallWith is Call with provenance and _meta (CallOptions). The data-flow
// decision is made after the call's other checks and before anything is
// sent, and is in the call's audit record; the Result's Provenance is the
// server's plus opts.Provenance.
func (o *Orchestrator) CallWith(ctx context.Context, server, tool string, args map[string]any, opts CallOptions) (*Result, error) {
	id := o.callID()
	// Fail closed: with auditing on, nothing is sent unless it can be recorded.
	var pre *loaded
	if o.audit != nil {
		var err error
		if pre, err = o.readyAudit(ctx, server); err != nil {
			return nil, err
		}
	}
	// Only now: the first call may wait for the keyring (a passphrase),
	// and a keyed log's records are dated after its key was made.
	start := time.Now()
	plain, argsJSON, err := jsonArgs(args)
	var (
		res     *mcp.CallToolResult
		outcome string
		flow    FlowDecision
	)
	if err != nil {
		msg := fmt.Sprintf("arguments for %s cannot be encoded as JSON (nothing was sent)", QualifiedName(server, tool))
		// encoding/json's reason may quote a value (NaN, +Inf).
		err = &Error{Kind: KindInvalidArguments, Server: server, Tool: tool, Msg: msg, Err: err, audit: msg}
		outcome = OutcomeRefused
	} else {
		res, outcome, flow, err = o.call(ctx, server, tool, plain, argsJSON, opts, pre)
	}
	d := time.Since(start)
	err = o.recordRequest(auditEntry{
		start: start, callID: id, server: server, tool: tool, origin: callOriginOf(ctx),
		argsJSON: argsJSON, duration: d, flow: flow, outcome: outcome,
	}, err)
	if res == nil {
		return nil, err
	}
	return &Result{Server: server, Tool: tool, CallID: id, Duration: d,
		Provenance: ProvenanceOf(server).Union(opts.Provenance), CallToolResult: res}, err
}

// CallOrigin says what made a call, for its audit record: the workflow run
// and the step in it. Calls made outside a workflow have none.
type CallOrigin struct {
	Run  string // the run's ID, as `mediator runs` lists it
	Step string // the step's journal path ("remind[3]")
}

type callOriginKey struct{}

// WithCallOrigin returns a context whose calls are recorded as made by
// origin.
func WithCallOrigin(ctx context.Context, origin CallOrigin) context.Context {
	return context.WithValue(ctx, callOriginKey{}, origin)
}

func callOriginOf(ctx context.Context) CallOrigin {
	o, _ := ctx.Value(callOriginKey{}).(CallOrigin)
	return o
}

// SyncAudit returns once the audit record of every call that has returned
// is on disk, or ctx ends, and reports a record that could not be written.
// Close does the same; a front end calls SyncAudit before it hands results
// somewhere mediator cannot see (an LLM provider, another process) while
// it goes on running. Without auditing it returns nil.
func (o *Orchestrator) SyncAudit(ctx context.Context) error {
	if o.audit == nil {
		return nil
	}
	return o.audit.sync(ctx)
}

// OpenAudit opens the audit log now rather than at the first call: it
// reads the log's key from the keyring (making it if there is none, which
// may prompt for the keyring's passphrase) and checks that the log can be
// continued. A front end that takes over the terminal once calls start
// calls it first. Without auditing it returns nil.
func (o *Orchestrator) OpenAudit(ctx context.Context) error {
	if o.audit == nil {
		return nil
	}
	return o.audit.ready(ctx)
}

// loaded is a server's catalogue as readyAudit found it for a call.
type loaded struct {
	cat *catalogue
	err error
}

// readyAudit opens the audit log for a call to server, unless it is open.
// The first call reads the audit key (with the file keyring, a key
// derivation of milliseconds) in the background while it starts the
// server and lists its tools, and hands that listing to the call (nil
// when it made none). Nothing is sent before the log is ready, and a log
// that cannot open is the error: it cancels the listing.
func (o *Orchestrator) readyAudit(ctx context.Context, server string) (*loaded, error) {
	if o.audit.isOpen() {
		return nil, o.audit.ready(ctx)
	}
	s, err := o.lookup(server)
	if err != nil {
		return nil, o.audit.ready(ctx)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan error, 1)
	go func() {
		err := o.audit.ready(ctx)
		if err != nil {
			cancel()
		}
		ready <- err
	}()
	cat, err := o.catalogueOf(lctx, s)
	if aerr := <-ready; aerr != nil {
		return nil, aerr
	}
	return &loaded{cat, err}, nil
}

// call is Call without the audit: every check, then the request. args is
// what gets validated; argsJSON, its encoding, is what gets sent.
//
// pre, when set, is the server's catalogue as readyAudit listed it.
func (o *Orchestrator) call(ctx context.Context, server, tool string, args map[string]any, argsJSON []byte, opts CallOptions, pre *loaded) (*mcp.CallToolResult, string, FlowDecision, error) {
	srv, outcome, err := o.checkCall(ctx, server, tool, args, pre)
	if err != nil {
		return nil, outcome, FlowDecision{}, err
	}
	// Last before sending: an approver may ask the user, who should be
	// asked only about a call that can be made.
	flow, err := o.checkFlow(ctx, server, methodToolsCall, tool, opts.Provenance)
	if err != nil {
		return nil, OutcomeRefused, flow, err
	}
	if o.audit != nil {
		if err := o.audit.before(ctx, server); err != nil {
			return nil, OutcomeRefused, flow, err
		}
	}
	res, err := srv.conn.CallToolJSON(ctx, tool, argsJSON, opts.Meta)
	if err != nil {
		e := o.connErr(server, tool, err)
		e.Msg = "calling " + QualifiedName(server, tool)
		return nil, OutcomeError, flow, e
	}
	if res.IsError {
		return res, OutcomeToolError, flow, nil
	}
	return res, OutcomeOK, flow, nil
}

// checkCall is every check of a call but the data-flow policy's: the
// server, the tool, its filter and pin, and the arguments. It returns the
// server, or the call's outcome and why it cannot be made.
func (o *Orchestrator) checkCall(ctx context.Context, server, tool string, args map[string]any, pre *loaded) (*server, string, error) {
	s, err := o.lookup(server)
	if err != nil {
		return nil, OutcomeRefused, err
	}
	var cat *catalogue
	if pre != nil {
		cat, err = pre.cat, pre.err
	} else {
		cat, err = o.catalogueOf(ctx, s)
	}
	if err != nil {
		return nil, outcomeOf(err), err
	}
	e, err := cat.tool(server, tool)
	if err != nil {
		return nil, OutcomeRefused, err
	}
	if e.denyReason != "" {
		return nil, OutcomeRefused, &Error{Kind: KindNotAllowed, Server: server, Tool: tool,
			Msg: fmt.Sprintf("%s is %s", e.info.Qualified, e.denyReason)}
	}
	switch e.info.Pin {
	case PinChanged:
		return nil, OutcomeRefused, &Error{Kind: KindToolChanged, Server: server, Tool: tool,
			Msg: fmt.Sprintf("the definition of %s changed since you accepted it (its title, description, schemas, annotations, _meta or icons); "+
				"see what changed with `mediator tools diff %s %s`, then accept it with `mediator tools accept %s %s`", e.info.Qualified, server, tool, server, tool)}
	case PinNew:
		return nil, OutcomeRefused, &Error{Kind: KindToolNew, Server: server, Tool: tool,
			Msg: fmt.Sprintf("%s appeared after you accepted server %q's tools; "+
				"review it with `mediator tools diff %s %s`, then accept it with `mediator tools accept %s %s`", e.info.Qualified, server, server, tool, server, tool)}
	}
	if verr := o.validateArgs(ctx, e, args); verr != nil {
		return nil, outcomeOf(verr), verr
	}
	return s, "", nil
}

// outcomeOf classifies a failure before sending: mediator's own refusals
// versus failures to reach the server.
func outcomeOf(err error) string {
	var oe *Error
	if errors.As(err, &oe) {
		switch oe.Kind {
		case KindConnection, KindServer:
			return OutcomeError
		}
		return OutcomeRefused
	}
	return OutcomeError
}

// callID is this process's prefix and the call's number.
func (o *Orchestrator) callID() string {
	var b [64]byte
	id := append(b[:0], o.callPrefix...)
	id = append(id, '-')
	return string(strconv.AppendUint(id, o.callSeq.Add(1), 10))
}
