package connectors

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Complete asks the server for completions of one argument of a prompt
// or resource template (params.Ref). The server's timeout applies unless
// ctx is shorter.
func (c *Connector) Complete(ctx context.Context, params *mcp.CompleteParams) (*mcp.CompleteResult, error) {
	return request(ctx, c, func() string { return fmt.Sprintf("complete argument %q", params.Argument.Name) }, nil,
		func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CompleteResult, error) {
			return cs.Complete(ctx, params)
		})
}
