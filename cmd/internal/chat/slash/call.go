package slash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/commands/call"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

const callUsage = `/call server.tool {"name": "value"}`

// call calls a tool with what the user typed: no provenance, the
// orchestrator's checks and policy, shown as a tool-call block; the model
// never sees it.
func (c *Commands) call(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	target, rest := cutSpace(args)
	if target == "" {
		return chat.Result{}, fmt.Errorf("/call needs a tool: %s", callUsage)
	}
	server, tool, ok := strings.Cut(target, ".")
	if !ok || server == "" || tool == "" {
		return chat.Result{}, fmt.Errorf("/call %s: name the tool as server.tool, e.g. %s", target, callUsage)
	}
	if err := c.checkServer("/call", server); err != nil {
		return chat.Result{}, err
	}
	toolArgs, err := parseArgs(rest)
	if err != nil {
		return chat.Result{}, fmt.Errorf("/call %s: %w", target, err)
	}
	info := &agent.CallInfo{ID: "user", Server: server, Tool: tool, Args: toolArgs}
	var res *orchestrator.Result
	start := time.Now()
	err = pump(func(emit func(func())) error {
		pctx := connectors.WithProgress(ctx, func(p connectors.Progress) {
			p.Message = c.env.Redactor.Redact(p.Message)
			emit(func() { out.Progress(p) })
		})
		var err error
		res, err = c.env.Orchestrator.CallWith(pctx, server, tool, toolArgs, orchestrator.CallOptions{})
		return err
	})
	if res != nil {
		info.Duration, info.Provenance = res.Duration, res.Provenance
		info.Result = &agent.ToolResult{CallID: res.CallID, Name: orchestrator.LLMName(server, tool),
			Text: c.env.Redactor.Redact(agent.ResultText(res.CallToolResult)), IsError: res.IsError}
	}
	if err != nil {
		var oe *orchestrator.Error
		isOE := errors.As(err, &oe)
		switch {
		case res != nil:
			// The call was made; its result shows, and so does the error
			// (its audit record could not be handed over).
			out.Call(info)
			return chat.Result{}, err
		case isOE && oe.Usage():
			// Nothing was called: the user's mistake, said as such.
			return chat.Result{}, fmt.Errorf("/call %s: %s", target, c.toolHint(err))
		case isOE && (oe.Kind == orchestrator.KindAudit || oe.Kind == orchestrator.KindClosed), !isOE && ctx.Err() == nil:
			return chat.Result{}, fmt.Errorf("/call %s: %w", target, err)
		}
		// A refusal (pins, the data-flow policy) sent nothing; a failure
		// of the server or its connection may have sent it.
		info.Duration = time.Since(start)
		info.Refused = isOE && oe.Kind != orchestrator.KindConnection && oe.Kind != orchestrator.KindServer
		info.Result = &agent.ToolResult{CallID: "user", Name: orchestrator.LLMName(server, tool),
			Text: c.env.Redactor.Redact(err.Error()), IsError: true}
	}
	out.Call(info)
	return chat.Result{}, nil
}

// toolHint is err's text, with the server's tools listed when the tool is
// unknown and nothing close was found.
func (c *Commands) toolHint(err error) string {
	var oe *orchestrator.Error
	if !errors.As(err, &oe) || oe.Kind != orchestrator.KindUnknownTool || len(oe.Suggestions) > 0 {
		return err.Error()
	}
	var names []string
	for _, t := range c.cache.toolsOf(oe.Server) {
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		return err.Error()
	}
	return err.Error() + "; its tools: " + suggest.List(names)
}

// parseArgs reads a tool's arguments: a JSON object, or nothing for {}.
// A syntax error names its offset.
func parseArgs(text string) (map[string]any, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return map[string]any{}, nil
	}
	v, err := call.DecodeJSON([]byte(text))
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("the arguments are not valid JSON at byte %d (marked ▶ in %s): %v; give an object such as {\"city\": \"Oslo\"}", se.Offset, marked(text, se.Offset), err)
		}
		return nil, fmt.Errorf("the arguments are not valid JSON: %v; give an object such as {\"city\": \"Oslo\"}", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the arguments must be a JSON object such as {\"city\": \"Oslo\"}, got %s", text)
	}
	return obj, nil
}

// marked is text with ▶ before the byte at offset (1-based, as
// encoding/json counts), cut to a few bytes either side.
func marked(text string, offset int64) string {
	i := int(min(max(offset-1, 0), int64(len(text))))
	from, to := max(0, i-20), min(len(text), i+20)
	pre, post := text[from:i], text[i:to]
	if from > 0 {
		pre = "…" + pre
	}
	if to < len(text) {
		post += "…"
	}
	return pre + "▶" + post
}

// read reads a resource for the user to see: the URI is what they typed,
// so the read carries no provenance; the model never sees it.
func (c *Commands) read(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	fields := strings.Fields(args)
	if len(fields) != 2 {
		return chat.Result{}, fmt.Errorf("/read needs a server and a URI: /read server uri (got %q)", args)
	}
	server, uri := fields[0], fields[1]
	if err := c.checkServer("/read", server); err != nil {
		return chat.Result{}, err
	}
	res, err := c.env.Orchestrator.ReadResource(ctx, server, uri, orchestrator.Provenance{})
	if err != nil {
		return chat.Result{}, c.resourceHint(server, uri, err)
	}
	out.Markdown(c.env.Redactor.Redact(fmt.Sprintf("**%s** `%s`:\n\n%s", server, uri, fence(contentsText(res.ReadResourceResult), ""))))
	return chat.Result{}, nil
}

// resourceHint adds the server's known URIs to a failed read's error when
// one is close to uri.
func (c *Commands) resourceHint(server, uri string, err error) error {
	if h := suggest.Hint(uri, c.cache.resourcesOf(server)); h != "" {
		return fmt.Errorf("%w%s", err, h)
	}
	return err
}

// contentsText is a resource's contents as text: each text as it is, a
// note for each blob.
func contentsText(r *mcp.ReadResourceResult) string {
	var parts []string
	for _, c := range r.Contents {
		switch {
		case c == nil:
		case c.Text != "" || len(c.Blob) == 0:
			parts = append(parts, c.Text)
		default:
			parts = append(parts, fmt.Sprintf("[%s, %s, %d bytes]", c.URI, c.MIMEType, len(c.Blob)))
		}
	}
	return strings.Join(parts, "\n")
}
