package hostile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ManyTools is a server that offers far more tools than anyone reviews,
// each with a definition about as big as a real one (some 1.3 kB pinned),
// so that pinning them all makes a pin file of tens of megabytes. It
// answers tools/list itself, making each page as it is asked for, so a
// test pays only for the pages a client fetches.
type ManyTools struct {
	pinsServer
	n        int
	pageSize int
	pages    atomic.Int64
	sent     atomic.Int64
}

// NewManyTools returns a server offering n tools, tool00000 on, in pages
// of 1000 (go-sdk's default). Calling any of them answers "ok".
func NewManyTools(n int) *ManyTools {
	return NewManyToolsPaged(n, 1000)
}

// NewManyToolsPaged is NewManyTools with pages of pageSize tools: a
// server that sends all of them in one page passes n.
func NewManyToolsPaged(n, pageSize int) *ManyTools {
	m := &ManyTools{n: n, pageSize: pageSize, pinsServer: pinsServer{mcp.NewServer(&mcp.Implementation{Name: "manytools", Version: "1"},
		&mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})}}
	m.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "tools/list":
				return m.list(req.(*mcp.ListToolsRequest).Params)
			case "tools/call":
				name := req.(*mcp.CallToolRequest).Params.Name
				if i, ok := m.index(name); !ok || i >= m.n {
					return nil, fmt.Errorf("no tool %q", name)
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
			}
			return next(ctx, method, req)
		}
	})
	return m
}

// Tool is the definition of tool i.
func (m *ManyTools) Tool(i int) *mcp.Tool {
	props := map[string]any{}
	for _, p := range []string{"query", "limit", "cursor", "format", "locale"} {
		props[p] = map[string]any{"type": "string", "description": fmt.Sprintf("The %s for tool %d.", p, i)}
	}
	return &mcp.Tool{
		Name:        fmt.Sprintf("tool%05d", i),
		Title:       fmt.Sprintf("Tool number %d", i),
		Description: fmt.Sprintf("Tool %d. %s", i, strings.Repeat("It does what its name says, thoroughly and with care. ", 10)),
		InputSchema: map[string]any{"type": "object", "properties": props},
	}
}

func (m *ManyTools) index(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "tool")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

func (m *ManyTools) list(p *mcp.ListToolsParams) (*mcp.ListToolsResult, error) {
	from := 0
	if p != nil && p.Cursor != "" {
		i, err := strconv.Atoi(p.Cursor)
		if err != nil || i < 0 || i > m.n {
			return nil, fmt.Errorf("bad cursor %q", p.Cursor)
		}
		from = i
	}
	to := min(from+m.pageSize, m.n)
	res := &mcp.ListToolsResult{Tools: make([]*mcp.Tool, 0, to-from)}
	for i := from; i < to; i++ {
		res.Tools = append(res.Tools, m.Tool(i))
	}
	if to < m.n {
		res.NextCursor = strconv.Itoa(to)
	}
	m.pages.Add(1)
	m.sent.Add(int64(to - from))
	return res, nil
}

// Pages is how many tools/list pages the server answered; Sent is how
// many tool definitions they held.
func (m *ManyTools) Pages() int64 { return m.pages.Load() }
func (m *ManyTools) Sent() int64  { return m.sent.Load() }
