package orchestrator

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// InProcess connects each session of a server to srv, a go-sdk server in
// the same process, through an in-memory pipe: use it as
// ServerConfig.NewTransport to embed a server (or test one) with every
// check of a remote one and no network. The server's side of a session
// lives as long as the pipe, not as long as the connect context.
func InProcess(srv *mcp.Server) func(ctx context.Context) (mcp.Transport, error) {
	return func(ctx context.Context) (mcp.Transport, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := srv.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return ct, nil
	}
}
