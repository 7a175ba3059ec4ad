package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CyclicSchema is a tool inputSchema whose $ref chain leads back to itself
// without ever reaching into the value: a validator that follows it
// recurses until the stack overflows.
func CyclicSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"$ref": "#/$defs/a",
		"$defs": map[string]any{
			"a": map[string]any{"$ref": "#/$defs/b"},
			"b": map[string]any{"allOf": []any{map[string]any{"$ref": "#/$defs/a"}}},
		},
	}
}

// ExplosiveSchema is a tool inputSchema of depth levels of anyOf, each
// offering the next level twice: a validator that tries every alternative
// checks 2^depth schemas against any value.
func ExplosiveSchema(depth int) map[string]any {
	defs := map[string]any{fmt.Sprintf("l%d", depth): map[string]any{"type": "string"}}
	for i := depth - 1; i >= 0; i-- {
		next := map[string]any{"$ref": fmt.Sprintf("#/$defs/l%d", i+1)}
		defs[fmt.Sprintf("l%d", i)] = map[string]any{"anyOf": []any{next, next}}
	}
	return map[string]any{"type": "object", "$ref": "#/$defs/l0", "$defs": defs}
}

// DeepAlternativesSchema is a tool inputSchema that is harmless for flat
// arguments but doubles its work at every level of nesting of the
// argument "a": {"a":{"a":...}} nested 60 deep takes 2^60 checks.
func DeepAlternativesSchema() map[string]any {
	again := map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"$ref": "#/$defs/n"}}}
	return map[string]any{
		"type":  "object",
		"$ref":  "#/$defs/n",
		"$defs": map[string]any{"n": map[string]any{"anyOf": []any{again, again}}},
	}
}

// Nested returns {"a":{"a":...{}}} nested depth deep.
func Nested(depth int) map[string]any {
	v := map[string]any{}
	for range depth {
		v = map[string]any{"a": v}
	}
	return v
}

// SchemaServer is an MCP server whose tools carry hostile schemas, next to
// one harmless tool, "echo", which must keep working:
//
//   - "cyclic": a cyclic inputSchema ([CyclicSchema]);
//   - "explosive": a 60-level anyOf/$ref chain ([ExplosiveSchema]);
//   - "deep": alternatives that double at every level of the arguments
//     ([DeepAlternativesSchema]);
//   - "cyclic_output": a harmless inputSchema and a cyclic outputSchema; it
//     answers {"ok":true} as structured content;
//   - "stall": a harmless schema, and it never answers: it holds the call
//     until the client goes away or Release, so that a test can interrupt
//     the client in the middle of a call.
//
// The hostile tools must never be called: a client that validates its
// arguments cannot have validated them. Calls counts the calls that
// reached each tool anyway.
type SchemaServer struct {
	Server *mcp.Server

	mu      sync.Mutex
	calls   map[string]int
	release chan struct{} // closed by Release
	once    sync.Once
}

// NewSchemaServer returns a SchemaServer.
func NewSchemaServer() *SchemaServer {
	h := &SchemaServer{
		Server:  mcp.NewServer(&mcp.Implementation{Name: "hostile-schemas", Version: "1"}, nil),
		calls:   map[string]int{},
		release: make(chan struct{}),
	}
	add := func(name, desc string, in, out any, res *mcp.CallToolResult) {
		h.Server.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: in, OutputSchema: out},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				h.mu.Lock()
				h.calls[name]++
				h.mu.Unlock()
				if res != nil {
					return res, nil
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
			})
	}
	plain := map[string]any{
		"type":       "object",
		"properties": map[string]any{"text": map[string]any{"type": "string"}},
		"required":   []any{"text"},
	}
	add("echo", "Echoes its arguments.", plain, nil, nil)
	add("cyclic", "Its inputSchema is a $ref cycle.", CyclicSchema(), nil, nil)
	add("explosive", "Its inputSchema is a 60-level anyOf chain.", ExplosiveSchema(60), nil, nil)
	add("deep", "Its inputSchema doubles its work at every level of nesting.", DeepAlternativesSchema(), nil, nil)
	h.Server.AddTool(&mcp.Tool{Name: "stall", Description: "Never answers.", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			h.mu.Lock()
			h.calls["stall"]++
			h.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-h.release:
				return nil, errors.New("released")
			}
		})
	add("cyclic_output", "Its outputSchema is a $ref cycle.", plain, CyclicSchema(), &mcp.CallToolResult{
		StructuredContent: json.RawMessage(`{"ok":true}`),
		Content:           []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}},
	})
	return h
}

// Release ends the calls "stall" holds, now and later: an HTTP server
// cannot close while a handler still runs.
func (h *SchemaServer) Release() { h.once.Do(func() { close(h.release) }) }

// Calls is how many calls reached the tool.
func (h *SchemaServer) Calls(tool string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[tool]
}

// Handler serves the server over streamable HTTP, statelessly.
func (h *SchemaServer) Handler() http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return h.Server }, &mcp.StreamableHTTPOptions{Stateless: true})
}

// FanOutSchema is a schema of objects whose width properties each refer
// back to the whole: harmless to a validator, which follows the value, but
// a walker that expands the schema itself to depth d builds width^d parts.
func FanOutSchema(width int) map[string]any {
	props := map[string]any{}
	for i := range width {
		props[fmt.Sprintf("p%d", i)] = map[string]any{"$ref": "#/$defs/a"}
	}
	return map[string]any{
		"type":  "object",
		"$ref":  "#/$defs/a",
		"$defs": map[string]any{"a": map[string]any{"type": "object", "properties": props}},
	}
}
