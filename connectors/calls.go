package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ListTools returns every tool the server offers, following pagination. The
// server's timeout bounds the whole listing unless ctx is shorter.
func (c *Connector) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	tools, _, err := c.ListToolsUpTo(ctx, 0)
	return tools, err
}

// ListToolsUpTo is ListTools for a caller that takes at most max tools
// (max <= 0: no limit). It stops asking for pages as soon as the server has
// offered more than max, and then returns the first max with more set: the
// rest of a huge listing is never fetched.
func (c *Connector) ListToolsUpTo(ctx context.Context, max int) (tools []*mcp.Tool, more bool, err error) {
	return listPages(ctx, c, "list tools", max, func(ctx context.Context, cs *mcp.ClientSession, cursor string) ([]*mcp.Tool, string, error) {
		res, err := cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		return res.Tools, res.NextCursor, nil
	})
}

// CallTool calls one tool. meta is sent as the request's _meta and may be nil.
// A result with IsError set is returned without a Go error.
//
// The server's timeout applies unless ctx is shorter, or ctx carries a
// call timeout ([WithCallTimeout]), which replaces it. Canceling ctx ends the
// call at once and go-sdk tells the server (notifications/cancelled); for
// a stdio server CallTool returns once that notice is written, so that a
// Close right after does not overtake it. A call
// made while the connector reconnects waits for the new session within the
// same bound. A call whose session dies under it fails with KindTransport
// and is never retried: the tool may have run, and tools need not be
// idempotent.
//
// A tool that runs as a task (MCP tasks; see tasks.go) is called, waited
// for and returned the same way, within the same bound; canceling ctx or
// running out of time then sends tasks/cancel instead. [WithTaskStarted]
// learns the task's id, and [WithTaskResume] attaches to a running task
// instead of calling.
func (c *Connector) CallTool(ctx context.Context, name string, args map[string]any, meta mcp.Meta) (*mcp.CallToolResult, error) {
	if args == nil {
		args = map[string]any{}
	}
	return c.callTool(ctx, name, args, meta)
}

// CallToolJSON is CallTool with the arguments already encoded as a JSON
// object, sent as they are: a caller that has encoded them anyway (to
// validate or digest them) spares go-sdk encoding them again.
func (c *Connector) CallToolJSON(ctx context.Context, name string, args json.RawMessage, meta mcp.Meta) (*mcp.CallToolResult, error) {
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	return c.callTool(ctx, name, args, meta)
}

func (c *Connector) callTool(ctx context.Context, name string, args any, meta mcp.Meta) (*mcp.CallToolResult, error) {
	// The operation's name goes only into errors; building it costs a
	// formatted string per call.
	op := func() string { return fmt.Sprintf("call tool %q", name) }
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout(ctx))
	defer cancel()
	cs, st, err := c.await(ctx, op)
	if err != nil {
		return nil, err
	}
	if id := taskResumeID(ctx); id != "" {
		return c.attach(ctx, cs, st, name, id)
	}
	// Fresh params for every call: go-sdk writes into Meta, and a reused
	// value would carry one session's protocol details into the next.
	params := &mcp.CallToolParams{Name: name, Arguments: args, Meta: c.logMeta(cs, maps.Clone(meta))}
	if c.tasks.unlisted(name) {
		// Whether the tool must run as a task is in its listing: a caller
		// that never listed (the orchestrator always has) gets one first.
		if _, _, err := c.ListToolsUpTo(ctx, 0); err != nil {
			return nil, err
		}
	}
	token := ""
	if mode := c.taskMode(ctx, name); mode != plainCall {
		if c.tasks.wire(cs) == nil {
			return nil, c.newError(KindProtocol, fmt.Errorf("%s: the tool runs as a task, which this transport cannot carry", op()))
		}
		// The mark has the session's wire add the task parameter (and
		// take the mark out), and hand over a task the server answers.
		token = c.tasks.expect()
		if params.Meta == nil {
			params.Meta = mcp.Meta{}
		}
		params.Meta[taskMark] = token
		if mode == taskCall {
			params.Meta[taskMark+"-ttl"] = max(c.callTimeout(ctx), taskTTLMin).Milliseconds()
		}
	}
	defer c.progress.track(ctx, params)()
	p := c.newProbe(st)
	res, err := cs.CallTool(ctx, params)
	c.noticesSettled(ctx)
	var (
		created *taskInfo
		ext     bool
	)
	if token != "" {
		created, ext = createdTask(c.tasks.take(token))
	}
	if err != nil {
		c.told(ctx, err)
		return nil, c.failed(cs, c.classify(ctx, op(), err, p))
	}
	if created != nil {
		return c.runTask(ctx, cs, p, name, created, ext)
	}
	return res, nil
}

// failed returns an operation's error, ending its session first when the
// error leaves the session unusable.
func (c *Connector) failed(cs *mcp.ClientSession, err *Error) *Error {
	if err.Kind == KindTooLarge {
		c.endSession(cs, err)
	}
	return err
}

// await returns the live session, waiting (bounded by ctx) while a connect
// or reconnect is under way. Any other state fails at once with the reason;
// op names the operation for those errors only.
func (c *Connector) await(ctx context.Context, op func() string) (*mcp.ClientSession, *httpStack, error) {
	c.mu.Lock()
	for {
		switch c.status.State {
		case StateReady:
			cs, st := c.session, c.stack
			c.mu.Unlock()
			return cs, st, nil
		case StateConnecting:
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, nil, c.waitError(ctx, op())
			}
			c.mu.Lock()
		case StateIdle:
			c.mu.Unlock()
			return nil, nil, c.newError(KindNotConnected, fmt.Errorf("%s: not connected (Connect was not called)", op()))
		case StateClosed:
			c.mu.Unlock()
			return nil, nil, c.newError(KindNotConnected, fmt.Errorf("%s: the connector is closed", op()))
		default: // failed, auth-required
			reason, kind := c.status.Err, KindNotConnected
			if c.status.State == StateAuthRequired {
				kind = KindAuth
			}
			c.mu.Unlock()
			var ce *Error
			if errors.As(reason, &ce) {
				reason = ce.Err
			}
			return nil, nil, c.newError(kind, fmt.Errorf("%s: not connected: %w", op(), reason))
		}
	}
}

// waitError reports giving up on a connect that did not finish within ctx.
func (c *Connector) waitError(ctx context.Context, op string) *Error {
	st := c.Status()
	msg := fmt.Errorf("%s: still connecting to the server: %w", op, ctx.Err())
	if st.Err != nil {
		var ce *Error
		reason := st.Err
		if errors.As(reason, &ce) {
			reason = ce.Err
		}
		msg = fmt.Errorf("%s: still connecting to the server (last problem: %v): %w", op, reason, ctx.Err())
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return c.newError(KindCanceled, msg)
	}
	return c.newError(KindTimeout, msg)
}
