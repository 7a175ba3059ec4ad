package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The gateway offers each served server's allowed, pinned tools, its
// allowed prompts and resources to the host, and routes the host's
// requests back by what it offered: a tool or prompt by the name it was
// offered under (server__name, or the server's own name with NoPrefix), a
// resource by its URI, which is the server's own (a URI names no server,
// so each offered URI and template is owned by the one server that listed
// it; a URI another server lists too is offered for the first only;
// skill:// resources are offered only as skills, see skills.go). The
// go-sdk server answers a name or URI not offered with an error, so
// nothing the host sends reaches a server, a tool or a credential outside
// what the config lets the gateway offer.

// offering is what the gateway offers of one server, as the host sees it.
type offering struct {
	tools     map[string]string // host's name -> the definition offered, as JSON
	prompts   map[string]string // host's name -> the prompt's definition, as JSON
	resources map[string]string // URI -> the resource's definition, as JSON
	templates map[string]string // URI template -> its definition, as JSON
}

// What refresh lists again.
type kind int

const (
	kindTools kind = 1 << iota
	kindPrompts
	kindResources
	kindAll = kindTools | kindPrompts | kindResources
)

// hostName is the name the host sees for server's tool or prompt name.
func (s *Server) hostName(server, name string, tool bool) string {
	switch {
	case s.opts.NoPrefix:
		return name
	case tool:
		return orchestrator.LLMName(server, name)
	}
	return server + "__" + name
}

// refresh lists what of server kinds says again and brings what the host
// is offered in line: it adds new and changed definitions and removes the
// rest (go-sdk tells the host's sessions the lists changed). A listing
// that fails offers nothing of its kind, so a tool whose pin broke is not
// offered while it is broken.
func (s *Server) refresh(ctx context.Context, server string, k kind) {
	o := s.orchestrator()
	if o == nil || !s.opts.Gateway || !s.serves(server) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	off := s.offered[server]
	if off == nil {
		off = &offering{tools: map[string]string{}, prompts: map[string]string{}, resources: map[string]string{}, templates: map[string]string{}}
		s.offered[server] = off
	}
	if k&kindTools != 0 {
		s.refreshTools(ctx, o, server, off)
	}
	if k&kindPrompts != 0 {
		s.refreshPrompts(ctx, o, server, off)
	}
	if k&kindResources != 0 {
		s.refreshResources(ctx, o, server, off)
	}
	s.routes.set(server, off, s.ownPrompt(server))
}

// drop stops offering anything of server, which is no longer served.
func (s *Server) drop(server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off := s.offered[server]
	if off == nil {
		return
	}
	reconcile(off.tools, map[string]*mcp.Tool{}, s.mcp.RemoveTools, nil, nil)
	reconcile(off.prompts, map[string]*mcp.Prompt{}, s.mcp.RemovePrompts, nil, nil)
	reconcile(off.resources, map[string]*mcp.Resource{}, s.mcp.RemoveResources, nil, nil)
	reconcile(off.templates, map[string]*mcp.ResourceTemplate{}, s.mcp.RemoveResourceTemplates, nil, nil)
	delete(s.offered, server)
	s.routes.set(server, off, s.ownPrompt(server))
}

func (s *Server) refreshTools(ctx context.Context, o *orchestrator.Orchestrator, server string, off *offering) {
	infos, err := o.Tools(ctx, server)
	if err != nil {
		s.log.Warn("serve: not offering the server's tools: listing them failed", "server", server, "error", err)
	}
	want := map[string]*mcp.Tool{}
	own := map[string]string{}
	for _, ti := range infos {
		if !ti.Allowed || ti.Pin != orchestrator.PinPinned || ti.Tool == nil {
			continue
		}
		name := s.hostName(server, ti.Name, true)
		if s.isWorkflow(name) {
			s.log.Warn("serve: a workflow has the name of a server's tool; offering the workflow", "server", server, "tool", ti.Name, "name", name)
			continue
		}
		def := *ti.Tool
		def.Name = name
		want[name] = &def
		own[name] = ti.Name
	}
	reconcile(off.tools, want, s.mcp.RemoveTools, func(name string, def *mcp.Tool) error {
		return addTool(s.mcp, def, s.toolHandler(server, own[name], name))
	}, func(name string, err error) {
		s.log.Warn("serve: not offering a tool", "server", server, "tool", name, "error", err)
	})
}

func (s *Server) isWorkflow(name string) bool {
	for _, wt := range s.opts.Workflows {
		if wt.Tool.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) refreshPrompts(ctx context.Context, o *orchestrator.Orchestrator, server string, off *offering) {
	infos, err := o.Prompts(ctx, server)
	if err != nil {
		s.log.Warn("serve: not offering the server's prompts: listing them failed", "server", server, "error", err)
	}
	want := map[string]*mcp.Prompt{}
	own := map[string]string{}
	for _, pi := range infos {
		if !pi.Allowed || pi.Prompt == nil {
			continue
		}
		name := s.hostName(server, pi.Prompt.Name, false)
		p := *pi.Prompt
		p.Name = name
		want[name] = &p
		own[name] = pi.Prompt.Name
	}
	reconcile(off.prompts, want, s.mcp.RemovePrompts, func(name string, p *mcp.Prompt) error {
		s.mcp.AddPrompt(p, s.promptHandler(server, own[name], name))
		return nil
	}, nil)
}

func (s *Server) refreshResources(ctx context.Context, o *orchestrator.Orchestrator, server string, off *offering) {
	infos, temps, err := o.Resources(ctx, server)
	if err != nil {
		s.log.Warn("serve: not offering the server's resources: listing them failed", "server", server, "error", err)
	}
	want := map[string]*mcp.Resource{}
	for _, ri := range infos {
		if !ri.Allowed || ri.Resource == nil || ri.Resource.URI == "" || strings.HasPrefix(ri.Resource.URI, skillScheme) {
			continue // skill files go only through the skills' verification (skills.go)
		}
		if owner := s.ownerOf(ri.Resource.URI, server, false); owner != "" {
			s.log.Warn("serve: two servers list the same resource URI; offering the first's", "uri", ri.Resource.URI, "server", owner, "also", server)
			continue
		}
		want[ri.Resource.URI] = ri.Resource
	}
	wantT := map[string]*mcp.ResourceTemplate{}
	for _, ti := range temps {
		if ti.Template == nil || ti.Template.URITemplate == "" || strings.HasPrefix(ti.Template.URITemplate, skillScheme) {
			continue
		}
		if owner := s.ownerOf(ti.Template.URITemplate, server, true); owner != "" {
			s.log.Warn("serve: two servers list the same resource template; offering the first's", "template", ti.Template.URITemplate, "server", owner, "also", server)
			continue
		}
		wantT[ti.Template.URITemplate] = ti.Template
	}
	reconcile(off.resources, want, s.mcp.RemoveResources, func(_ string, r *mcp.Resource) error {
		return addResource(s.mcp, r, s.resourceHandler(server))
	}, func(uri string, err error) {
		s.log.Warn("serve: not offering a resource", "server", server, "uri", uri, "error", err)
	})
	reconcile(off.templates, wantT, s.mcp.RemoveResourceTemplates, func(_ string, t *mcp.ResourceTemplate) error {
		return addTemplate(s.mcp, t, s.resourceHandler(server))
	}, func(t string, err error) {
		s.log.Warn("serve: not offering a resource template", "server", server, "template", t, "error", err)
	})
}

// reconcile makes the go-sdk server offer exactly want, offered recording
// what it offers (name -> its JSON): what is gone is removed, what is new
// or changed is added. One that add refuses is reported to refused (nil:
// none can be) and no longer offered.
func reconcile[T any](offered map[string]string, want map[string]T, remove func(...string), add func(name string, v T) error, refused func(name string, err error)) {
	var gone []string
	for name := range offered {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
			delete(offered, name)
		}
	}
	if len(gone) > 0 {
		remove(gone...)
	}
	gone = gone[:0]
	for _, name := range slices.Sorted(maps.Keys(want)) {
		j := jsonOf(want[name])
		if offered[name] == j {
			continue
		}
		if err := add(name, want[name]); err != nil {
			refused(name, err)
			if _, had := offered[name]; had {
				gone = append(gone, name)
				delete(offered, name)
			}
			continue
		}
		offered[name] = j
	}
	if len(gone) > 0 {
		remove(gone...)
	}
}

// ownerOf is the server other than server that offers uri (a template
// when template is set), or "". s.mu is held.
func (s *Server) ownerOf(uri, server string, template bool) string {
	for name, off := range s.offered {
		if name == server {
			continue
		}
		m := off.resources
		if template {
			m = off.templates
		}
		if _, ok := m[uri]; ok {
			return name
		}
	}
	return ""
}

// addResource and addTemplate are the go-sdk's, which panic on a URI
// they cannot take: a server's listing must not take mediator down.
func addResource(srv *mcp.Server, r *mcp.Resource, h mcp.ResourceHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	srv.AddResource(r, h)
	return nil
}

func addTemplate(srv *mcp.Server, t *mcp.ResourceTemplate, h mcp.ResourceHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	srv.AddResourceTemplate(t, h)
	return nil
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %p", v)
	}
	return string(b)
}

// toolHandler calls tool of server, offered as name, for the host
// session of each call: under its orchestrator.Session, carrying the
// provenance of all the session was given, its progress reported to the
// host's call and canceled with it. Every refusal (the policy, pins,
// arguments, Authorize) is a tool error saying why.
func (s *Server) toolHandler(server, tool, name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if err := s.authorize(ctx, name); err != nil {
			return toolError(err), nil
		}
		o := s.orchestrator()
		if o == nil {
			return toolError(fmt.Errorf("tool %q: mediator is not ready yet", name)), nil
		}
		args, err := arguments(req.Params.Arguments, name)
		if err != nil {
			return toolError(err), nil
		}
		st := s.sessions.of(s, req.Session)
		ctx = st.context(ctx, pendingRequest{method: "tools/call", name: name, args: req.Params.Arguments})
		a := &ask{caps: req.ClientCapabilities, responses: req.Params.InputResponses, state: req.Params.RequestState,
			request: "tools/call\x00" + name + "\x00" + jsonOf(args)}
		ctx = withAsk(ctx, a)
		if p := progressTo(ctx, req.Session, req.Params.GetProgressToken()); p != nil {
			ctx = connectors.WithProgress(ctx, p)
		}
		defer s.inflight.enterRequest(ctx, server, st)()
		res, err := o.CallWith(ctx, server, tool, args, orchestrator.CallOptions{Provenance: st.provenance()})
		if res != nil {
			st.returned(res.Provenance)
		}
		if err != nil {
			switch {
			case a.asking(err):
				// Nothing was sent; the host retries with the answer.
				return &mcp.CallToolResult{InputRequests: a.inputRequests(), RequestState: a.wantState}, nil
			case ctx.Err() != nil:
				return nil, ctx.Err()
			}
			return toolError(err), nil
		}
		return res.CallToolResult, nil
	}
}

// promptHandler gets prompt of server, offered as name, for the host
// session of each request, as toolHandler calls a tool; a refusal is a
// JSON-RPC error with its reason.
func (s *Server) promptHandler(server, prompt, name string) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if err := s.authorize(ctx, name); err != nil {
			return nil, requestError(err)
		}
		o := s.orchestrator()
		if o == nil {
			return nil, requestError(fmt.Errorf("prompt %q: mediator is not ready yet", name))
		}
		st := s.sessions.of(s, req.Session)
		args, _ := json.Marshal(req.Params.Arguments)
		ctx = st.context(ctx, pendingRequest{method: "prompts/get", name: name, args: args})
		a := &ask{caps: req.ClientCapabilities, responses: req.Params.InputResponses, state: req.Params.RequestState,
			request: "prompts/get\x00" + name + "\x00" + string(args)}
		ctx = withAsk(ctx, a)
		defer s.inflight.enterRequest(ctx, server, st)()
		pm, err := o.GetPrompt(ctx, server, prompt, req.Params.Arguments, st.provenance())
		if pm != nil {
			st.returned(pm.Provenance)
		}
		if a.asking(err) {
			return &mcp.GetPromptResult{InputRequests: a.inputRequests(), RequestState: a.wantState}, nil
		}
		if err != nil {
			return nil, requestError(err)
		}
		res := *pm.GetPromptResult
		return &res, nil
	}
}

// resourceHandler reads a resource of server, by the URI the host sent
// (one server offered, or that matches one of its templates).
func (s *Server) resourceHandler(server string) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		uri := req.Params.URI
		if err := s.authorize(ctx, uri); err != nil {
			return nil, requestError(err)
		}
		o := s.orchestrator()
		if o == nil {
			return nil, requestError(fmt.Errorf("resource %q: mediator is not ready yet", uri))
		}
		st := s.sessions.of(s, req.Session)
		ctx = st.context(ctx, pendingRequest{method: "resources/read", name: uri})
		a := &ask{caps: req.ClientCapabilities, responses: req.Params.InputResponses, state: req.Params.RequestState,
			request: "resources/read\x00" + uri}
		if roundTrips(req.Session) {
			// go-sdk v1.8.0 refuses a read's input-required result for a
			// host on an older protocol instead of asking it: such a host
			// is asked directly (see approve).
			ctx = withAsk(ctx, a)
		}
		defer s.inflight.enterRequest(ctx, server, st)()
		rc, err := o.ReadResource(ctx, server, uri, st.provenance())
		if rc != nil {
			st.returned(rc.Provenance)
		}
		if a.asking(err) {
			return &mcp.ReadResourceResult{InputRequests: a.inputRequests(), RequestState: a.wantState}, nil
		}
		if err != nil {
			return nil, requestError(err)
		}
		return rc.ReadResourceResult, nil
	}
}
