package workflows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// OrchestratorCaller makes a flow's calls through the orchestrator, so they
// get its data-flow policy, allow-lists, pinning, argument validation and
// audit log like every other call mediator makes. It decides the data-flow
// policy (FlowDecider): each call carries its sources as provenance, in a
// session derived from the context's (orchestrator.Session.With) that
// adds the flow file's flows:, so approvals land in the caller's session.
type OrchestratorCaller struct {
	O *orchestrator.Orchestrator
}

// DecidesFlows is true: the orchestrator decides every call's flows.
func (c OrchestratorCaller) DecidesFlows() bool { return true }

func (c OrchestratorCaller) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	ctx = c.requestContext(ctx, req.Run, req.Step, req.Flows, req.FlowFile)
	if req.OnTask != nil {
		ctx = connectors.WithTaskStarted(ctx, req.OnTask)
	}
	ctx = connectors.WithTaskResume(ctx, req.ResumeTaskID)
	opts := orchestrator.CallOptions{Meta: req.Meta, Provenance: orchestrator.ProvenanceOf(req.Sources...)}
	res, err := c.O.CallWith(ctx, req.Server, req.Tool, req.Args, opts)
	if err != nil {
		if res != nil && res.CallToolResult != nil {
			// The call happened but could not be audited: keep the result,
			// report the failure.
			return res.CallToolResult, classifyOrchestrator(err)
		}
		return nil, classifyOrchestrator(err)
	}
	return res.CallToolResult, nil
}

// requestContext is ctx for one request of a run: its audit origin (run
// and step), and a session adding the flow file's flows: to the
// orchestrator's policy.
func (c OrchestratorCaller) requestContext(ctx context.Context, run, step string, edges []flow.FlowEdge, file string) context.Context {
	ctx = orchestrator.WithCallOrigin(ctx, orchestrator.CallOrigin{Run: run, Step: step})
	if len(edges) == 0 && file == "" {
		return ctx
	}
	flows := make([]orchestrator.Flow, len(edges))
	for i, e := range edges {
		flows[i] = orchestrator.Flow{From: e.From, To: e.To}
	}
	return orchestrator.WithSession(ctx, c.O.Session(ctx).With(orchestrator.SessionOptions{Flows: flows, FlowFile: file}))
}

func (c OrchestratorCaller) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	infos, err := c.O.Tools(ctx, server)
	if err != nil {
		return nil, classifyOrchestrator(err)
	}
	names := make([]string, 0, len(infos))
	for _, ti := range infos {
		if ti.Name == tool {
			return ti.Tool, nil
		}
		names = append(names, ti.Name)
	}
	return nil, &CallError{Class: ClassRefused, Err: fmt.Errorf("server %q has no tool %q; its tools are: %s", server, tool, namesOrNone(names))}
}

// classifyOrchestrator maps the orchestrator's error kinds to retry classes.
func classifyOrchestrator(err error) error {
	var oe *orchestrator.Error
	if !errors.As(err, &oe) {
		return err
	}
	class := ClassRefused
	switch oe.Kind {
	case orchestrator.KindConnection, orchestrator.KindClosed:
		class = ClassTransport
		switch oe.ConnectorKind() {
		case connectors.KindTimeout:
			class = ClassTimeout
		case connectors.KindTooLarge:
			// The server answered, over max_result_bytes; asked again, it
			// would answer the same.
			class = ClassProtocol
		}
	case orchestrator.KindServer:
		class = ClassProtocol
	case orchestrator.KindFlowRefused:
		from := make([]string, len(oe.Flows))
		for i, f := range oe.Flows {
			from[i] = f.From
		}
		err = &FlowRefusedError{From: from, To: oe.Server, Err: err}
	}
	return &CallError{Class: class, Err: err}
}

// SessionCaller calls tools over go-sdk client sessions the caller opened
// itself, one per server name, without the orchestrator's registry. It
// suits embedding the engine where the sessions already exist (a worker of
// a distributed engine holding its own connections, tests, benchmarks).
// The flow's data-flow policy still applies (the engine decides it, under
// RunOptions.PolicyFlows); the orchestrator's allow-lists, pinning and
// audit do not, and neither do MCP tasks (a go-sdk session cannot run
// them): it cannot attach to a journalled task.
type SessionCaller struct {
	Sessions map[string]*mcp.ClientSession

	mu    sync.Mutex
	tools map[string]map[string]*mcp.Tool
}

func (c *SessionCaller) session(server string) (*mcp.ClientSession, error) {
	cs, ok := c.Sessions[server]
	if !ok {
		names := make([]string, 0, len(c.Sessions))
		for n := range c.Sessions {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &CallError{Class: ClassRefused, Err: fmt.Errorf("no server %q; servers are: %s", server, strings.Join(names, ", "))}
	}
	return cs, nil
}

func (c *SessionCaller) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	if req.ResumeTaskID != "" {
		return nil, &CallError{Class: ClassRefused, Err: fmt.Errorf("%s.%s: cannot attach to task %s over a plain go-sdk session", req.Server, req.Tool, req.ResumeTaskID)}
	}
	cs, err := c.session(req.Server)
	if err != nil {
		return nil, err
	}
	// Fresh params per call: the SDK writes into Meta.
	params := &mcp.CallToolParams{Name: req.Tool, Arguments: req.Args}
	if len(req.Meta) > 0 {
		params.Meta = make(mcp.Meta, len(req.Meta))
		for k, v := range req.Meta {
			params.Meta[k] = v
		}
	}
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", req.Server, req.Tool, err)
	}
	return res, nil
}

func (c *SessionCaller) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	cs, err := c.session(server)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tools == nil {
		c.tools = map[string]map[string]*mcp.Tool{}
	}
	list, ok := c.tools[server]
	if !ok {
		list = map[string]*mcp.Tool{}
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list tools of %s: %w", server, err)
			}
			list[t.Name] = t
		}
		c.tools[server] = list
	}
	t, ok := list[tool]
	if !ok {
		names := make([]string, 0, len(list))
		for n := range list {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &CallError{Class: ClassRefused, Err: fmt.Errorf("server %q has no tool %q; its tools are: %s", server, tool, namesOrNone(names))}
	}
	return t, nil
}
