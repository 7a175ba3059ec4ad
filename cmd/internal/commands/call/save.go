package call

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
)

// binaryBlock is one block of binary content of a result: an image, audio,
// or an embedded resource holding a blob.
type binaryBlock struct {
	index int // in the result's content
	kind  string
	mime  string
	data  []byte
}

// binaryBlocks lists res's binary content, in order.
func binaryBlocks(res *mcp.CallToolResult) []binaryBlock {
	var out []binaryBlock
	for i, c := range res.Content {
		switch c := c.(type) {
		case *mcp.ImageContent:
			out = append(out, binaryBlock{i, "image", c.MIMEType, c.Data})
		case *mcp.AudioContent:
			out = append(out, binaryBlock{i, "audio", c.MIMEType, c.Data})
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Blob != nil {
				out = append(out, binaryBlock{i, "resource", c.Resource.MIMEType, c.Resource.Blob})
			}
		}
	}
	return out
}

// saveBinary writes the binary content of res where -o says: to the file
// path, or to stdout as it is for "-". A result with several blocks goes
// to numbered files (out-1.png, out-2.png); stdout takes exactly one, and
// never when it is a terminal. Bytes that hold a secret value mediator
// knows are not saved anywhere. It returns the path each block was saved
// to, by its index in the content.
func saveBinary(opts *Options, red *credentials.Redactor, res *mcp.CallToolResult) (map[int]string, error) {
	blocks := binaryBlocks(res)
	if len(blocks) == 0 {
		return nil, nil
	}
	for _, b := range blocks {
		if red != nil && !bytes.Equal(red.RedactBytes(b.data), b.data) {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "nothing saved: the result's %s holds a secret value from the keyring (the server echoed a credential)", b.kind)
		}
	}
	if opts.Output == "-" {
		if len(blocks) > 1 {
			return nil, cmdutil.UsageErrorf("-o -: the result holds %d binary blocks and stdout takes one; name a file, e.g. -o out%s, to save each", len(blocks), extension(blocks[0].mime))
		}
		_, err := opts.IO.RawOut.Write(blocks[0].data)
		return map[int]string{blocks[0].index: "stdout"}, err
	}
	saved := map[int]string{}
	for i, b := range blocks {
		path := opts.Output
		if len(blocks) > 1 {
			ext := filepath.Ext(path)
			path = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), i+1, ext)
		}
		if err := os.WriteFile(path, b.data, 0o600); err != nil {
			return saved, cmdutil.Errorf(cmdutil.ExitUsage, "-o: saving the result's %s: %v", b.kind, err)
		}
		saved[b.index] = path
	}
	return saved, nil
}

// extension suggests a file extension for a MIME type, for messages.
func extension(mime string) string {
	_, sub, ok := strings.Cut(mime, "/")
	if !ok || sub == "" || strings.ContainsAny(sub, "+;. ") {
		return ".bin"
	}
	return "." + sub
}
