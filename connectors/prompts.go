package connectors

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ListPrompts returns the server's prompts, following pagination, up to
// max (max <= 0: no limit; more says the server offered more). The
// server's timeout bounds the whole listing unless ctx is shorter.
func (c *Connector) ListPrompts(ctx context.Context, max int) (prompts []*mcp.Prompt, more bool, err error) {
	return listPages(ctx, c, "list prompts", max, func(ctx context.Context, cs *mcp.ClientSession, cursor string) ([]*mcp.Prompt, string, error) {
		res, err := cs.ListPrompts(ctx, &mcp.ListPromptsParams{Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		return res.Prompts, res.NextCursor, nil
	})
}

// GetPrompt gets one prompt with its arguments filled in. The server's
// timeout applies unless ctx is shorter.
func (c *Connector) GetPrompt(ctx context.Context, name string, args map[string]string) (*mcp.GetPromptResult, error) {
	return request(ctx, c, func() string { return fmt.Sprintf("get prompt %q", name) }, nil,
		func(ctx context.Context, cs *mcp.ClientSession) (*mcp.GetPromptResult, error) {
			return cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name, Arguments: args})
		})
}
