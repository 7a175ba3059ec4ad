package serve

//lint:file-ignore SA1019 logging and sampling are deprecated from protocol 2026-07-28 on, but mediator passes them between hosts and servers that use them (2025-11-25 and the deprecation window)

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Server is mediator as one MCP server: New builds it, Host gives the
// orchestrator its handling of the servers' requests, SetOrchestrator
// hands it the orchestrator, and MCPServer is what a transport serves
// (stdio, or the HTTP face's streamable handler). Safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	mcp  *mcp.Server

	orch atomic.Pointer[orchestrator.Orchestrator]
	// mu guards offered, what the gateway offers the host per backend
	// server, and is held while a server's lists are brought in line with
	// it (never by a request's handler, so a slow listing holds no call).
	mu      sync.Mutex
	offered map[string]*offering

	sessions sessions
	inflight inflight
	routes   routes        // the gateway's prompts and resources, by server
	subs     subscriptions // the host sessions' resource subscriptions
	key      []byte        // this process's key for approval questions' requestState
	tasks    *taskStore
	stop     context.CancelFunc // ends the runs of tasks (Close)
	uses     uses               // the requests and tasks on each orchestrator
}

// listTimeout bounds listing a server's tools, prompts and resources
// again after it said they changed.
const listTimeout = time.Minute

// New checks opts and returns a Server offering opts.Workflows at once and
// the gateway's lists once SetOrchestrator is called.
func New(opts Options) (*Server, error) {
	if opts.NoPrefix && len(opts.Servers) != 1 {
		return nil, fmt.Errorf("serve: serving without the server__ prefix (prefix: false) needs exactly one server in serve.servers, not %d", len(opts.Servers))
	}
	if opts.NoPrefix && !opts.Gateway {
		return nil, errors.New("serve: prefix: false applies to the gateway's tools, but the gateway is off (serve.tools: workflows)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	impl := opts.Implementation
	if impl == nil {
		impl = &mcp.Implementation{Name: "mediator", Title: "mediator: a policy-enforcing MCP gateway", Version: buildVersion()}
	}
	caps := &mcp.ServerCapabilities{
		Logging: &mcp.LoggingCapabilities{},
		Tools:   &mcp.ToolCapabilities{ListChanged: true},
	}
	if opts.Gateway {
		caps.Prompts = &mcp.PromptCapabilities{ListChanged: true}
		caps.Resources = &mcp.ResourceCapabilities{ListChanged: true}
		caps.AddExtension(connectors.SkillsExtension, nil)
	}
	if len(opts.Workflows) > 0 {
		caps.AddExtension(connectors.TasksExtension, map[string]any{})
	}
	s := &Server{opts: opts, log: opts.Logger, offered: map[string]*offering{}, key: make([]byte, 32)}
	_, _ = rand.Read(s.key)
	life, stop := context.WithCancel(context.Background())
	s.tasks, s.stop = newTaskStore(life), stop
	s.sessions.m = map[*mcp.ServerSession]*state{}
	sopts := &mcp.ServerOptions{Logger: opts.Logger, Capabilities: caps}
	if opts.Gateway {
		caps.Completions = &mcp.CompletionCapabilities{}
		caps.Resources.Subscribe = true
		sopts.CompletionHandler, sopts.SubscribeHandler, sopts.UnsubscribeHandler = s.complete, s.subscribe, s.unsubscribe
	}
	s.mcp = mcp.NewServer(impl, sopts)
	s.mcp.AddReceivingMiddleware(s.countUses)
	if opts.Redactor != nil {
		maskSecrets(s.mcp, opts.Redactor)
	}
	if len(opts.Workflows) > 0 {
		s.addTasks()
	}
	if opts.Gateway {
		if err := s.addSkills(); err != nil {
			return nil, fmt.Errorf("serve: offering skills: %w", err)
		}
	}
	seen := map[string]bool{}
	for i, wt := range opts.Workflows {
		if wt.Tool == nil || wt.Run == nil {
			return nil, fmt.Errorf("serve: workflow tool %d has no Tool or no Run", i)
		}
		if seen[wt.Tool.Name] {
			return nil, fmt.Errorf("serve: two workflows are offered as tool %q; rename one", wt.Tool.Name)
		}
		seen[wt.Tool.Name] = true
		if err := addTool(s.mcp, wt.Tool, s.workflowHandler(wt)); err != nil {
			return nil, fmt.Errorf("serve: workflow tool %q: %w", wt.Tool.Name, err)
		}
	}
	return s, nil
}

// buildVersion is the version the go command stamped on the binary's
// main module (a tag, or a pseudo-version from the VCS), or "dev": a
// host is told a version, as the spec's serverInfo wants one.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// MCPServer is the one go-sdk server every transport serves.
func (s *Server) MCPServer() *mcp.Server { return s.mcp }

// Close cancels the workflow runs still going as tasks and waits for
// them to end (journalled as cancelled, so they can be resumed).
func (s *Server) Close() error {
	s.stop()
	s.tasks.close()
	return nil
}

// SetOrchestrator hands the Server the orchestrator built with Host, and
// builds the gateway's lists (connecting the servers served). A server
// that cannot be listed is logged and left out until it says its lists
// changed.
//
// Called again (a config reload that changed the servers or the policy,
// not the Server's options), it replaces the orchestrator without ending
// the host sessions: each keeps its provenance and its standing with the
// policy, the lists offered are brought in line with the new servers
// (the hosts are told they changed), and resource subscriptions move to
// the new orchestrator. Requests and workflow tasks begun before keep the
// orchestrator they started on; the channel returned is closed once none
// is left, when the caller may close the previous orchestrator (at once
// for the first call).
func (s *Server) SetOrchestrator(o *orchestrator.Orchestrator) (previousUnused <-chan struct{}) {
	prev := s.orch.Swap(o)
	unused := s.uses.swap()
	if !s.opts.Gateway {
		return unused
	}
	ctx := context.Background()
	servers := s.servers()
	o.Connect(ctx, servers...)
	var wg sync.WaitGroup
	for _, name := range servers {
		wg.Go(func() { s.refresh(ctx, name, kindAll) })
	}
	wg.Wait()
	if prev != nil {
		s.mu.Lock()
		var gone []string
		for name := range s.offered {
			if !slices.Contains(servers, name) {
				gone = append(gone, name)
			}
		}
		s.mu.Unlock()
		for _, name := range gone {
			s.drop(name)
		}
		s.resubscribe(o)
	}
	return unused
}

// uses counts the requests and workflow tasks under way per orchestrator
// generation: a replaced orchestrator is unused once every one begun
// before it was replaced has ended.
type uses struct {
	mu  sync.Mutex
	cur *generation
}

type generation struct {
	n       int
	retired bool
	unused  chan struct{}
}

// enter records a request or task beginning, and returns its end.
func (u *uses) enter() func() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cur == nil {
		u.cur = &generation{unused: make(chan struct{})}
	}
	g := u.cur
	g.n++
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if g.n--; g.n == 0 && g.retired {
			close(g.unused)
		}
	}
}

// swap starts a generation and returns when the last one is unused.
func (u *uses) swap() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	g := u.cur
	u.cur = &generation{unused: make(chan struct{})}
	if g == nil {
		g = &generation{unused: make(chan struct{})}
	}
	g.retired = true
	if g.n == 0 {
		close(g.unused)
	}
	return g.unused
}

// countUses is the receiving middleware counting every request the
// host sessions make into s.uses.
func (s *Server) countUses(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		defer s.uses.enter()()
		return next(ctx, method, req)
	}
}

// Orchestrator is the orchestrator new requests use, or nil before
// SetOrchestrator.
func (s *Server) Orchestrator() *orchestrator.Orchestrator { return s.orch.Load() }

// orchestrator is the orchestrator, or nil before SetOrchestrator.
func (s *Server) orchestrator() *orchestrator.Orchestrator { return s.orch.Load() }

// servers are the names of the servers the gateway offers.
func (s *Server) servers() []string {
	if s.opts.Servers != nil {
		return s.opts.Servers
	}
	o := s.orchestrator()
	if o == nil {
		return nil
	}
	var names []string
	for _, st := range o.Servers() {
		names = append(names, st.Name)
	}
	return names
}

// serves reports whether the gateway offers server.
func (s *Server) serves(server string) bool {
	for _, n := range s.servers() {
		if n == server {
			return true
		}
	}
	return false
}

// addTool is mcp.Server.AddTool, which panics on a tool definition it
// cannot take (a schema that is not an object): a backend server's
// definition must not take mediator down, so that is an error here.
func addTool(srv *mcp.Server, t *mcp.Tool, h mcp.ToolHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the definition cannot be offered: %v", r)
		}
	}()
	srv.AddTool(t, h)
	return nil
}

// toolError is a tool result saying why the call failed: the host's model
// reads it, and a refusal says how to allow what was refused.
func toolError(err error) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
}

// arguments decodes a call's arguments; none is an empty object.
func arguments(raw json.RawMessage, tool string) (map[string]any, error) {
	args := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return args, nil
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("the arguments of tool %q must be a JSON object: %w", tool, err)
	}
	return args, nil
}

// progressTo returns a progress func that notifies the host of the
// progress of its request (ctx) under the request's progress token, or
// nil when the host sent none. A report after the request ended goes
// nowhere.
func progressTo(ctx context.Context, ss *mcp.ServerSession, token any) func(connectors.Progress) {
	if token == nil || ss == nil {
		return nil
	}
	return func(p connectors.Progress) {
		_ = ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: p.Progress, Total: p.Total, Message: p.Message})
	}
}

// authorize asks Options.Authorize about the name the host used.
func (s *Server) authorize(ctx context.Context, name string) error {
	if s.opts.Authorize == nil {
		return nil
	}
	return s.opts.Authorize(ctx, name)
}

// requestError is err as a JSON-RPC error for the host (prompts/get,
// resources/read): a refusal is invalid params, with err's text.
func requestError(err error) error {
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		return je
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
}

// workflowHandler runs wt for the host session of each call, under that
// session's standing with the data-flow policy: as a task when the host
// can take one (taskCall), else within the call.
func (s *Server) workflowHandler(wt WorkflowTool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		name := wt.Tool.Name
		if err := s.authorize(ctx, name); err != nil {
			return toolError(err), nil
		}
		args, err := arguments(req.Params.Arguments, name)
		if err != nil {
			return toolError(err), nil
		}
		st := s.sessions.of(s, req.Session)
		call := workflowCall{wt: wt, st: st, args: args, raw: req.Params.Arguments}
		if tc := taskCallOf(ctx); tc != nil {
			done := s.uses.enter() // the task outlives the request
			tc.started = s.tasks.start(st, tc.ext, func(ctx context.Context, progress func(connectors.Progress)) (*mcp.CallToolResult, error) {
				defer done()
				return s.runWorkflow(ctx, call, progress)
			})
			return &mcp.CallToolResult{}, nil // the middleware answers with the task
		}
		progress := progressTo(ctx, req.Session, req.Params.GetProgressToken())
		if progress == nil {
			progress = func(connectors.Progress) {}
		}
		return s.runWorkflow(ctx, call, progress)
	}
}

// workflowCall is a host's call of a workflow tool, its arguments checked.
type workflowCall struct {
	wt   WorkflowTool
	st   *state
	args map[string]any
	raw  json.RawMessage // as the host sent them
}

// runWorkflow runs c on ctx (the call's, or its task's), reporting its
// progress, and returns the tool's result: a failure is a tool error,
// and only ctx's end is an error. What it returns is counted into the
// session's provenance.
func (s *Server) runWorkflow(ctx context.Context, c workflowCall, progress func(connectors.Progress)) (*mcp.CallToolResult, error) {
	name := c.wt.Tool.Name
	ctx = c.st.context(ctx, pendingRequest{method: "tools/call", name: name, args: c.raw, workflow: true})
	// The arguments may carry anything the session was given.
	ctx = withHostProvenance(ctx, c.st.provenance())
	// A workflow calls servers mediator cannot name ahead: their
	// requests may reach this session if it is the only one in flight.
	defer s.inflight.enter(anyServer, c.st)()
	res, prov, err := c.wt.Run(ctx, c.st.sess, c.args, progress)
	c.st.returned(prov)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError(err), nil
	}
	if res == nil {
		return toolError(fmt.Errorf("workflow %q returned no result", name)), nil
	}
	return res, nil
}
