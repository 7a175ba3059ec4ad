package serve

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// complete answers the host's completion/complete for a prompt (by the
// name the gateway offered it under) or resource template (by its URI
// template) the gateway offers, through the orchestrator as a prompt get
// goes: under the host session's standing with the policy, carrying the
// provenance of all the session was given (the values typed may hold
// it). A ref the gateway does not offer is refused; nothing is sent.
func (s *Server) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := *req.Params.Ref
	var server, name string
	switch ref.Type {
	case "ref/prompt":
		name = ref.Name
		server, ref.Name = s.routes.prompt(name)
	case "ref/resource":
		name = ref.URI
		server = s.routes.resource(name, true)
		if server == "" {
			server = s.routes.resource(name, false)
		}
	default:
		return nil, requestError(fmt.Errorf("completion/complete: ref.type must be ref/prompt or ref/resource, not %q", ref.Type))
	}
	if server == "" {
		return nil, requestError(fmt.Errorf("completion/complete: %s %q is not offered by mediator", ref.Type, name))
	}
	if err := s.authorize(ctx, name); err != nil {
		return nil, requestError(err)
	}
	o := s.orchestrator()
	if o == nil {
		return nil, requestError(fmt.Errorf("completion/complete of %q: mediator is not ready yet", name))
	}
	st := s.sessions.of(s, req.Session)
	args, _ := json.Marshal(map[string]any{"argument": req.Params.Argument, "context": req.Params.Context})
	ctx = st.context(ctx, pendingRequest{method: orchestrator.MethodComplete, name: name, args: args})
	defer s.inflight.enterRequest(ctx, server, st)()
	c, err := o.Complete(ctx, server, &ref, req.Params.Argument, req.Params.Context, st.provenance())
	if c != nil {
		st.returned(c.Provenance)
	}
	if err != nil {
		return nil, requestError(err)
	}
	res := *c.CompleteResult
	if res.Completion.Values == nil {
		res.Completion.Values = []string{} // the spec's values is required
	}
	return &res, nil
}
