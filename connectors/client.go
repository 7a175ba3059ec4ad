package connectors

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

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
