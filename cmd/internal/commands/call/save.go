package call

import (
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
)

// binaryBlocks lists res's binary content, in order.
func binaryBlocks(res *mcp.CallToolResult) []cmdutil.BinaryBlock {
	var out []cmdutil.BinaryBlock
	for i, c := range res.Content {
		switch c := c.(type) {
		case *mcp.ImageContent:
			out = append(out, cmdutil.BinaryBlock{Index: i, Kind: "result's image", MIME: c.MIMEType, Data: c.Data})
		case *mcp.AudioContent:
			out = append(out, cmdutil.BinaryBlock{Index: i, Kind: "result's audio", MIME: c.MIMEType, Data: c.Data})
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Blob != nil {
				out = append(out, cmdutil.BinaryBlock{Index: i, Kind: "result's resource", MIME: c.Resource.MIMEType, Data: c.Resource.Blob})
			}
		}
	}
	return out
}

// saveBinary writes the binary content of res where -o says (see
// cmdutil.SaveBinary). It returns the path each block was saved to, by
// its index in the content.
func saveBinary(opts *Options, red *credentials.Redactor, res *mcp.CallToolResult) (map[int]string, error) {
	return cmdutil.SaveBinary(opts.IO, red, opts.Output, binaryBlocks(res))
}
