package serve

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but servers behind mediator may still ask for it

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// anyServer stands for every server in inflight: a workflow's run may
// call any of them.
const anyServer = ""

// inflight tracks, per backend server, the host sessions with a request
// to it in flight: a server's sampling or elicitation request is made on
// behalf of one of them, and goes to it only when it is the only one.
type inflight struct {
	mu sync.Mutex
	m  map[string]map[*state][]*inflightRequest
}

// inflightRequest is one host request in flight; ctx is its handler's context
// (nil for a workflow's run), which ties a notification to the request.
type inflightRequest struct{ ctx context.Context }

// enter records a request of st to server, and returns its end.
func (f *inflight) enter(server string, st *state) func() {
	return f.add(server, st, &inflightRequest{})
}

// enterRequest records the host request on ctx of st to server, and
// returns its end.
func (f *inflight) enterRequest(ctx context.Context, server string, st *state) func() {
	return f.add(server, st, &inflightRequest{ctx: ctx})
}

func (f *inflight) add(server string, st *state, r *inflightRequest) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]map[*state][]*inflightRequest{}
	}
	if f.m[server] == nil {
		f.m[server] = map[*state][]*inflightRequest{}
	}
	f.m[server][st] = append(f.m[server][st], r)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		rs := slices.DeleteFunc(f.m[server][st], func(x *inflightRequest) bool { return x == r })
		if len(rs) == 0 {
			delete(f.m[server], st)
		} else {
			f.m[server][st] = rs
		}
	}
}

// owner is the one host session with a request to server (or a workflow
// run) in flight, or nil when there is none or more than one.
func (f *inflight) owner(server string) *state {
	st, _ := f.ownerRequest(server)
	return st
}

// ownerRequest is owner, and the context of its latest request to server
// that has one (else context.Background()).
func (f *inflight) ownerRequest(server string) (*state, context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		found *state
		ctx   = context.Background()
	)
	for _, key := range []string{server, anyServer} {
		for st, rs := range f.m[key] {
			if found != nil && found != st {
				return nil, nil
			}
			found = st
			if key == server {
				for _, r := range rs {
					if r.ctx != nil {
						ctx = r.ctx
					}
				}
			}
		}
	}
	return found, ctx
}

// Host is the orchestrator.Host to build the orchestrator with: it
// forwards a server's sampling and elicitation requests to the host
// session on whose behalf that server is working, tagged with the
// server's name, and passes the servers' list changes on to the host
// (after the orchestrator's pin check). A request mediator cannot place
// (no host session, or several, with a request to that server in flight)
// or that the host did not declare it can handle is declined. The
// servers' own sampling: and elicitation: settings were applied before.
func (s *Server) Host() orchestrator.Host {
	return orchestrator.Host{
		Sample:    s.sample,
		Elicit:    s.elicit,
		ElicitURL: true,
		ToolsChanged: func(server string, _ error) {
			go s.refreshLater(server, kindTools)
		},
		PromptsChanged: func(server string) {
			go s.refreshLater(server, kindPrompts)
		},
		ResourcesChanged: func(server string) {
			go s.refreshLater(server, kindResources)
		},
		ResourceUpdated: s.resourceUpdated,
		Log:             s.serverLog,
	}
}

// serverLog passes a server's log message on to the host session with a
// request to that server in flight (when it is the only one, as for
// sampling), its logger prefixed with the server's name, at the level the
// session set with logging/setLevel (none until it sets one). The
// message counts as data that server gave the session.
func (s *Server) serverLog(server string, msg *mcp.LoggingMessageParams) {
	st, ctx := s.inflight.ownerRequest(server)
	if st == nil || st.ss == nil {
		return
	}
	p := *msg
	p.Meta = nil
	p.Logger = server
	if msg.Logger != "" {
		p.Logger = server + "/" + msg.Logger
	}
	st.returned(orchestrator.ProvenanceOf(server))
	// On the request's context the message goes with its answer (on its
	// stream over HTTP), ahead of it.
	_ = st.ss.Log(ctx, &p)
}

func (s *Server) refreshLater(server string, k kind) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	s.refresh(ctx, server, k)
}

// declined is the answer to a sampling request mediator does not forward.
func declined(why string) error {
	return &jsonrpc.Error{Code: connectors.ErrUserRejected.Code, Message: "mediator declined the request: " + why}
}

func (s *Server) sample(ctx context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
	st := s.inflight.owner(req.Server)
	switch {
	case st == nil:
		return nil, declined("it cannot be placed with one host session (none, or several, have a request to this server in flight)")
	case !canSample(st.ss):
		return nil, declined("the host does not offer sampling")
	}
	if req.Ask {
		// The server's setting wants the user's approval before anything
		// goes to a model: the host's user is asked first.
		if !canElicit(st.ss, "form") {
			return nil, declined(fmt.Sprintf("server %q's sampling setting is ask, and the host cannot ask its user (no elicitation)", req.Server))
		}
		res, err := st.ss.Elicit(ctx, &mcp.ElicitParams{
			Mode:    "form",
			Message: fmt.Sprintf("[%s] server %q asks to send a request to your model (at most %d tokens). Allow it?", req.Server, req.Server, req.Params.MaxTokens),
			RequestedSchema: map[string]any{
				"type":       "object",
				"properties": map[string]any{"allow": map[string]any{"type": "boolean", "title": "Allow"}},
				"required":   []string{"allow"},
			},
		})
		if err != nil || res.Action != "accept" || res.Content["allow"] != true {
			return nil, connectors.ErrUserRejected
		}
	}
	p := *req.Params
	tag := fmt.Sprintf("[This request comes from MCP server %q, through mediator.]", req.Server)
	if p.SystemPrompt != "" {
		p.SystemPrompt = tag + "\n" + p.SystemPrompt
	} else {
		p.SystemPrompt = tag
	}
	p.Meta = fromServer(p.Meta, req.Server)
	return st.ss.CreateMessageWithTools(ctx, &p)
}

// metaServer names, in the _meta of a forwarded request, the server it
// came from.
const metaServer = "mediator/server"

// fromServer is a copy of meta naming server as the request's origin.
func fromServer(meta mcp.Meta, server string) mcp.Meta {
	out := mcp.Meta{}
	for k, v := range meta {
		out[k] = v
	}
	out[metaServer] = server
	return out
}

func (s *Server) elicit(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
	st := s.inflight.owner(req.Server)
	mode := req.Params.Mode
	if mode == "" && req.Params.URL != "" {
		mode = "url"
	}
	if mode == "" {
		mode = "form"
	}
	if st == nil || !canElicit(st.ss, mode) {
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	p := *req.Params
	p.Message = fmt.Sprintf("[%s] %s", req.Server, p.Message)
	p.Meta = fromServer(p.Meta, req.Server)
	return st.ss.Elicit(ctx, &p)
}
