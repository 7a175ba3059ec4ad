package agent

import "github.com/modelcontextprotocol/go-sdk/mcp"

// ResultText is a tool result as the model reads it (and as a front end
// shows a call the user made): its text, a note for each content it
// cannot read as text, or the structured content.
func ResultText(r *mcp.CallToolResult) string { return resultText(r) }
