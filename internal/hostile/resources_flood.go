package hostile

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewResourceFloodServer returns a go-sdk server whose resources can be
// made any size, to be served through a FloodWriter (see
// ResourceFloodHandler). Its resource templates:
//
//   - flood://text/{bytes}: a text of that many bytes of 'x';
//   - flood://blob/{bytes}: a blob whose base64 is that many bytes of 'x'
//     (so it decodes to 3/4 as many bytes when bytes is a multiple of 4).
//
// The server never holds the bytes; they are streamed as the answer is
// written.
func NewResourceFloodServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "hostile-resource-flood", Version: "1"}, nil)
	for _, kind := range []string{"text", "blob"} {
		s.AddResourceTemplate(&mcp.ResourceTemplate{Name: kind + "-flood", URITemplate: "flood://" + kind + "/{bytes}"},
			func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				uri := req.Params.URI
				n, err := strconv.ParseInt(strings.TrimPrefix(uri, "flood://"+kind+"/"), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad size in %q", uri)
				}
				rc := &mcp.ResourceContents{URI: uri, MIMEType: "text/plain", Text: Flood(n)}
				if kind == "blob" {
					// The marker goes where the base64 does: the text is
					// replaced below, after go-sdk has encoded the result.
					rc = &mcp.ResourceContents{URI: uri, MIMEType: "application/octet-stream", Blob: []byte(blobMark)}
				}
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{rc}}, nil
			})
	}
	return s
}

// blobMark is a blob whose base64 ("YmxvYg==" is "blob") the handler
// swaps for a flood marker of the requested size.
const blobMark = "blob"

// ResourceFloodHandler serves NewResourceFloodServer over streamable HTTP
// with application/json answers.
func ResourceFloodHandler() http.Handler {
	s := NewResourceFloodServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(blobFlood{floodResponse{w}}, r)
	})
}

// blobFlood turns the base64 of blobMark in a read's answer into a flood
// marker of the size the URI asks for, so a blob streams like a text.
type blobFlood struct{ floodResponse }

func (b blobFlood) Write(p []byte) (int, error) {
	const enc = `"blob":"YmxvYg=="`
	s := string(p)
	if i := strings.Index(s, enc); i >= 0 {
		j := strings.Index(s, "flood://blob/")
		if j >= 0 {
			rest := s[j+len("flood://blob/"):]
			k := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if k > 0 {
				n, _ := strconv.ParseInt(rest[:k], 10, 64)
				s = s[:i] + `"blob":"` + Flood(n) + `"` + s[i+len(enc):]
			}
		}
		if _, err := b.floodResponse.Write([]byte(s)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return b.floodResponse.Write(p)
}
