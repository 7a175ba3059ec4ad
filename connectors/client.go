package connectors

import "github.com/modelcontextprotocol/go-sdk/mcp"

// newClient builds the go-sdk client of one connect attempt: mediator's
// identity, the client capabilities this connector advertises, and the
// handlers behind them. A feature is advertised only when it has a handler
// (see Host): the capabilities start empty, since nil would advertise
// roots.
func (c *Connector) newClient() *mcp.Client {
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	roots := mcpRoots(c.roots)
	opts := &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}
	c.hostOptions(opts, roots)
	declareTasks(opts.Capabilities)
	opts.ResourceUpdatedHandler = c.resourceUpdated
	client := mcp.NewClient(c.opts.ClientInfo, opts)
	client.AddReceivingMiddleware(c.refuseUnoffered(len(roots) > 0))
	client.AddRoots(roots...)
	c.client = client
	addSkillMethods(client)
	addTaskMethods(client)
	return client
}
