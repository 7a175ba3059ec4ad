package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// MethodComplete is the audit method of a completion request.
const MethodComplete = "completion/complete"

// Completion is a server's completion of one argument, asked through the
// orchestrator, with where its data came from.
type Completion struct {
	Server   string
	CallID   string
	Duration time.Duration
	*mcp.CompleteResult
	// Provenance is the server plus the provenance of the request: the
	// values may echo what the argument carried.
	Provenance Provenance
}

// Complete asks server for completions of argument arg of ref, a prompt
// ("ref/prompt", by the server's own name) or resource template
// ("ref/resource", by its URI template), given the arguments already
// resolved in cctx (may be nil). The server's prompts or resources
// filter must allow ref, and the data-flow policy must let data of
// provenance prov go to server: the values a host types may carry what
// other servers returned. Either refusal sends nothing. It is audited as
// MethodComplete, the values recorded as a call's arguments are (a digest
// unless AuditIncludeValues).
func (o *Orchestrator) Complete(ctx context.Context, server string, ref *mcp.CompleteReference, arg mcp.CompleteParamsArgument, cctx *mcp.CompleteContext, prov Provenance) (*Completion, error) {
	if ref == nil {
		return nil, &Error{Kind: KindInvalidArguments, Server: server, Msg: "completion/complete needs a ref (ref/prompt or ref/resource)"}
	}
	req := request{server: server, method: MethodComplete, prov: prov}
	switch ref.Type {
	case "ref/prompt":
		req.target, req.tool = ref.Name, ref.Name
		req.allowed = func(cfg ServerConfig) string { return cfg.Prompts.excludes("prompts", ref.Name) }
	case "ref/resource":
		req.target = ref.URI
		req.allowed = func(cfg ServerConfig) string { return cfg.Resources.excludes("resources", ref.URI) }
	default:
		return nil, &Error{Kind: KindInvalidArguments, Server: server,
			Msg: fmt.Sprintf("completion/complete: ref.type %q is neither ref/prompt nor ref/resource", ref.Type)}
	}
	params := &mcp.CompleteParams{Ref: ref, Argument: arg, Context: cctx}
	var err error
	if req.argsJSON, err = paramsJSON(map[string]any{"ref": ref, "argument": arg, "context": cctx}); err != nil {
		return nil, err
	}
	var res *mcp.CompleteResult
	id, d, _, err := o.send(ctx, req, func(ctx context.Context, conn *connectors.Connector) error {
		var err error
		if res, err = conn.Complete(ctx, params); err != nil {
			e := o.connErr(server, req.tool, err)
			e.Msg = fmt.Sprintf("completing argument %q of %s %q of server %q", arg.Name, ref.Type, req.target, server)
			e.audit = fmt.Sprintf("completing an argument on server %q", server)
			return e
		}
		return nil
	})
	if res == nil {
		return nil, err
	}
	return &Completion{Server: server, CallID: id, Duration: d, CompleteResult: res,
		Provenance: ProvenanceOf(server).Union(prov)}, err
}
