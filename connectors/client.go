package connectors

import "github.com/modelcontextprotocol/go-sdk/mcp"

// newClient builds the go-sdk client of one connect attempt: mediator's
// identity, the client capabilities this connector advertises, and the
// handlers behind them. A feature is advertised only when it has a handler.
func (c *Connector) newClient() *mcp.Client {
	// No roots capability: a server that asks for roots (server-everything
	// does after a call) otherwise delays its exit on close by 5 s.
	caps := &mcp.ClientCapabilities{}
	declareTasks(caps)
	client := mcp.NewClient(c.opts.ClientInfo, &mcp.ClientOptions{Capabilities: caps})
	addTaskMethods(client)
	return client
}
