package hostile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	floodPrefix = "~~hostile-flood:"
	floodSuffix = "~~"
	floodChunk  = 64 << 10
)

// Flood returns a marker that a [FloodWriter] replaces by n bytes of 'x' as
// it writes. A server puts it in a text; the message carrying the text then
// grows by n bytes on the wire, streamed, without the server ever holding
// them.
func Flood(n int64) string { return floodPrefix + strconv.FormatInt(n, 10) + floodSuffix }

// FloodWriter writes through to W, replacing every [Flood] marker by its
// bytes in chunks of 64 KiB. It stops at W's first error (a client that hung
// up). The marker must arrive within one Write, as go-sdk writes a message.
type FloodWriter struct{ W io.Writer }

func (f FloodWriter) Write(p []byte) (int, error) {
	rest := p
	var fill []byte
	for {
		i := bytes.Index(rest, []byte(floodPrefix))
		if i < 0 {
			break
		}
		num := rest[i+len(floodPrefix):]
		j := bytes.Index(num, []byte(floodSuffix))
		n, err := strconv.ParseInt(string(num[:max(j, 0)]), 10, 64)
		if j < 0 || err != nil {
			return 0, fmt.Errorf("hostile: malformed flood marker")
		}
		if _, err := f.W.Write(rest[:i]); err != nil {
			return 0, err
		}
		if fill == nil {
			fill = bytes.Repeat([]byte{'x'}, floodChunk)
		}
		for n > 0 {
			k := min(n, floodChunk)
			if _, err := f.W.Write(fill[:k]); err != nil {
				return 0, err
			}
			n -= k
		}
		rest = num[j+len(floodSuffix):]
	}
	if _, err := f.W.Write(rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

// FloodOptions shapes a flood server.
type FloodOptions struct {
	// ToolListBytes, when positive, adds a tool "flooded" whose
	// description is that many bytes: every tools/list floods.
	ToolListBytes int64
	// InstructionsBytes, when positive, makes the server's instructions
	// that many bytes: the initialize result floods.
	InstructionsBytes int64
	// JSONResponse makes the streamable HTTP handler answer with
	// application/json bodies instead of event streams.
	JSONResponse bool
}

type floodIn struct {
	Bytes int64 `json:"bytes" jsonschema:"how many bytes of x the message carries"`
}

type echoIn struct {
	Message string `json:"message"`
}

// NewFloodServer returns a go-sdk server whose messages can be made any
// size, to be served through a FloodWriter. Its tools:
//
//   - flood {bytes}: a text result of that many bytes;
//   - flood_error {bytes}: a JSON-RPC error whose message is that long;
//   - flood_notify {bytes}: a progress notification that long, then "done";
//   - echo {message}: "echo: " and the message, an ordinary small result.
func NewFloodServer(opts FloodOptions) *mcp.Server {
	var so mcp.ServerOptions
	if opts.InstructionsBytes > 0 {
		so.Instructions = Flood(opts.InstructionsBytes)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "hostile-flood", Version: "1"}, &so)
	mcp.AddTool(s, &mcp.Tool{Name: "flood", Description: "Returns a text of the given size."},
		func(ctx context.Context, req *mcp.CallToolRequest, in floodIn) (*mcp.CallToolResult, any, error) {
			return text(Flood(in.Bytes)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "flood_error", Description: "Fails with a JSON-RPC error of the given size."},
		func(ctx context.Context, req *mcp.CallToolRequest, in floodIn) (*mcp.CallToolResult, any, error) {
			return nil, nil, &jsonrpc.Error{Code: -32001, Message: Flood(in.Bytes)}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "flood_notify", Description: "Sends a notification of the given size, then answers."},
		func(ctx context.Context, req *mcp.CallToolRequest, in floodIn) (*mcp.CallToolResult, any, error) {
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "hostile", Progress: 1, Message: Flood(in.Bytes)})
			if err != nil {
				return nil, nil, err
			}
			return text("done"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echoes the message."},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text("echo: " + in.Message), nil, nil
		})
	if opts.ToolListBytes > 0 {
		mcp.AddTool(s, &mcp.Tool{Name: "flooded", Description: Flood(opts.ToolListBytes)},
			func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				return text("flooded"), nil, nil
			})
	}
	return s
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// ServeFloodStdio serves a flood server over r and w (a process's stdin and
// stdout) until r ends.
func ServeFloodStdio(ctx context.Context, r io.ReadCloser, w io.WriteCloser, opts FloodOptions) error {
	return NewFloodServer(opts).Run(ctx, &mcp.IOTransport{Reader: r, Writer: floodCloser{FloodWriter{w}, w}})
}

type floodCloser struct {
	FloodWriter
	io.Closer
}

// FloodHandler serves a flood server over streamable HTTP.
func FloodHandler(opts FloodOptions) http.Handler {
	s := NewFloodServer(opts)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{JSONResponse: opts.JSONResponse})
	return flooding(h)
}

// FloodSSEHandler serves a flood server over the legacy SSE transport.
func FloodSSEHandler(opts FloodOptions) http.Handler {
	s := NewFloodServer(opts)
	return flooding(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil))
}

func flooding(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(floodResponse{w}, r)
	})
}

// floodResponse expands markers in everything the handler writes; Unwrap
// lets http.ResponseController reach the real writer's Flush.
type floodResponse struct{ http.ResponseWriter }

func (f floodResponse) Write(p []byte) (int, error) { return FloodWriter{f.ResponseWriter}.Write(p) }
func (f floodResponse) Unwrap() http.ResponseWriter { return f.ResponseWriter }
