package orchestrator

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// Host is the front end's side of what servers ask of mediator and tell
// it. Every field is optional; a feature a front end leaves out is not
// offered to any server (see connectors.Host, which also applies each
// server's sampling, elicitation and roots settings). The orchestrator
// wraps each handler: a sampling or elicitation request is audited and
// carries its server's provenance, and tools/list_changed refreshes the
// server's catalogue (checked against its pins) before ToolsChanged is
// told.
type Host struct {
	// Sample answers a server's sampling request (see
	// connectors.Host.Sample). What the model is sent came from the
	// server: req.Provenance says so.
	Sample func(ctx context.Context, req *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error)
	// Elicit asks the user on a server's behalf (see
	// connectors.Host.Elicit); ElicitURL says it handles URL mode.
	Elicit    func(ctx context.Context, req *ElicitationRequest) (*mcp.ElicitResult, error)
	ElicitURL bool

	// ToolsChanged is told once a server's tools/list_changed has been
	// handled: its tools listed again and checked against the pins (a
	// changed tool is refused until accepted, a new one listed as new).
	// err says why the new listing is unusable, or is nil.
	ToolsChanged func(server string, err error)
	// PromptsChanged, ResourcesChanged and ResourceUpdated pass the
	// server's notifications on; they must not block.
	PromptsChanged   func(server string)
	ResourcesChanged func(server string)
	ResourceUpdated  func(server, uri string)
	// Log is handed each notifications/message of a server, after
	// mediator's log took it (masked); see connectors.Host.Log. The
	// message is that server's data. It must not block.
	Log func(server string, msg *mcp.LoggingMessageParams)
}

// SamplingRequest is a server's sampling request as the front end gets
// it: the server's settings applied, and the provenance of its content.
type SamplingRequest struct {
	*connectors.SamplingRequest
	// Provenance is the server the request came from: a model's answer
	// built from it carries this provenance too.
	Provenance Provenance
}

// ElicitationRequest is a server's elicitation request with the
// provenance of its message.
type ElicitationRequest struct {
	*connectors.ElicitationRequest
	Provenance Provenance
}

// Audit methods of the requests servers send to the client.
const (
	MethodSampling    = "sampling/createMessage"
	MethodElicitation = "elicitation/create"
)

// OutcomeDeclined is the audit outcome of a request the user declined
// or canceled (an elicitation, a sampling request).
const OutcomeDeclined = "declined"

// connectorHost is the connectors.Host every connector gets: the front
// end's handlers wrapped as Host describes.
func (o *Orchestrator) connectorHost() connectors.Host {
	h := o.opts.Host
	ch := connectors.Host{
		ElicitURL:        h.ElicitURL,
		PromptsChanged:   h.PromptsChanged,
		ResourcesChanged: h.ResourcesChanged,
		ResourceUpdated:  h.ResourceUpdated,
		Log:              h.Log,
		ToolsChanged:     o.toolsChanged,
	}
	if h.Sample != nil {
		ch.Sample = o.sample
	}
	if h.Elicit != nil {
		ch.Elicit = o.elicit
	}
	return ch
}

func (o *Orchestrator) sample(ctx context.Context, req *connectors.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
	var res *mcp.CreateMessageWithToolsResult
	err := o.hostRequest(ctx, req.Server, MethodSampling, req.Params, func() (any, string, error) {
		var err error
		res, err = o.opts.Host.Sample(ctx, &SamplingRequest{SamplingRequest: req, Provenance: ProvenanceOf(req.Server)})
		switch {
		case err != nil && isRejection(err):
			return nil, OutcomeDeclined, err
		case err != nil:
			return nil, OutcomeError, err
		case res == nil:
			return nil, OutcomeError, errors.New("the front end gave no answer")
		}
		return res, OutcomeOK, nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (o *Orchestrator) elicit(ctx context.Context, req *connectors.ElicitationRequest) (*mcp.ElicitResult, error) {
	var res *mcp.ElicitResult
	err := o.hostRequest(ctx, req.Server, MethodElicitation, req.Params, func() (any, string, error) {
		var err error
		res, err = o.opts.Host.Elicit(ctx, &ElicitationRequest{ElicitationRequest: req, Provenance: ProvenanceOf(req.Server)})
		switch {
		case err != nil:
			return nil, OutcomeError, err
		case res == nil:
			return nil, OutcomeError, errors.New("the front end gave no answer")
		case res.Action != "accept":
			return res, OutcomeDeclined, nil
		}
		return res, OutcomeOK, nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// isRejection reports whether err is the user's refusal (JSON-RPC code -1).
func isRejection(err error) bool {
	var je *jsonrpc.Error
	return errors.As(err, &je) && je.Code == connectors.ErrUserRejected.Code
}

// hostRequest runs handle, the front end's answer to a request server
// sent, under the audit log's rules for calls: with auditing on, nothing
// is asked (nor sent to a model) unless it can be recorded, and the
// record (method, server, outcome; the request and answer only with
// AuditIncludeValues, masked) is handed over before the answer goes back
// to the server.
func (o *Orchestrator) hostRequest(ctx context.Context, server, method string, params any, handle func() (answer any, outcome string, err error)) error {
	if o.audit != nil {
		if err := o.audit.ready(ctx); err != nil {
			o.log.Error("refused a request from the server: the audit log is not writable", "server", server, "method", method, "error", o.redact(err.Error()))
			return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the client cannot handle " + method + " now"}
		}
	}
	id := o.callID()
	start := time.Now()
	answer, outcome, err := handle()
	if o.audit == nil {
		return err
	}
	e := auditEntry{start: start, callID: id, server: server, method: method, origin: callOriginOf(ctx),
		argsJSON: hostRequestJSON(params, answer), duration: time.Since(start), outcome: outcome}
	if err != nil {
		e.errClass = ErrorClass(err)
		if outcome == OutcomeDeclined {
			e.errClass = OutcomeDeclined
		}
		// The front end's message may quote what the user typed.
		var je *jsonrpc.Error
		switch {
		case o.opts.AuditIncludeValues:
			e.errText = o.redact(err.Error())
		case errors.As(err, &je):
			e.errText = fmt.Sprintf("JSON-RPC error %d", je.Code)
		}
	}
	// The record says nothing of a failure of the barrier: it is the
	// request's own outcome.
	failed := err != nil
	berr := o.audit.before(ctx, server)
	err = o.recordRequest(e, err)
	if berr != nil && !failed {
		err = berr
	}
	if err != nil && !isJSONRPC(err) {
		// The front end's or the log's reason stays in mediator.
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: method + " failed in the client"}
	}
	return err
}

func isJSONRPC(err error) bool {
	var je *jsonrpc.Error
	return errors.As(err, &je)
}

// hostRequestJSON is what the audit record digests (and, with
// AuditIncludeValues, holds masked): the request and the answer.
func hostRequestJSON(params, answer any) []byte {
	v := map[string]any{"request": params}
	if answer != nil {
		v["answer"] = answer
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// toolsChanged handles a server's tools/list_changed: it lists the tools
// again, off the session's reading goroutine, and tells the front end.
func (o *Orchestrator) toolsChanged(server string) {
	s, ok := o.servers[server]
	if !ok {
		return
	}
	o.bgMu.Lock()
	defer o.bgMu.Unlock()
	if o.closed.Load() {
		return
	}
	o.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
		defer cancel()
		_, err := o.relist(ctx, s)
		if o.closed.Load() {
			return
		}
		if err != nil {
			o.log.Warn("listing the tools again after the server said they changed", "server", server, "error", o.redact(err.Error()))
		} else {
			o.log.Info("the server's tools changed; listed them again", "server", server)
		}
		if f := o.opts.Host.ToolsChanged; f != nil {
			f(server, err)
		}
	})
}

// SetRoots replaces the directories a server is offered as roots
// (absolute paths of existing directories) and tells the server when
// they changed (see connectors.Connector.SetRoots): a front end calls it
// when the user changes them, e.g. after the config was edited.
func (o *Orchestrator) SetRoots(server string, dirs []string) error {
	s, err := o.lookup(server)
	if err != nil {
		return err
	}
	if err := s.conn.SetRoots(dirs); err != nil {
		return &Error{Kind: KindInvalidConfig, Server: server, Msg: "roots", Err: err}
	}
	return nil
}
