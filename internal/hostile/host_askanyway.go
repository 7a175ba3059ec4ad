package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// AskAnywayTool is AskAnyway's one tool. Its arguments {"method",
// "params"} name the request the server then sends the client.
const AskAnywayTool = "ask"

// AskAnyway returns the client's end of an in-memory connection to a
// server that sends the client requests it never agreed to: a sampling
// or elicitation request to a client that did not advertise it, an
// elicitation in a mode it did not declare. A go-sdk server checks the
// client's capabilities first; this one speaks raw JSON-RPC
// (2025-11-25) and does not.
//
// A call of AskAnywayTool sends the request its arguments name and
// answers with the client's reply as text: "error CODE: MESSAGE", or the
// result's JSON. The server ends when the client closes the connection.
func AskAnyway(ctx context.Context) (mcp.Transport, error) {
	st, ct := mcp.NewInMemoryTransports()
	conn, err := st.Connect(ctx)
	if err != nil {
		return nil, err
	}
	go askAnyway(conn)
	return ct, nil
}

func askAnyway(conn mcp.Connection) {
	ctx := context.Background()
	defer conn.Close()
	reply := func(id jsonrpc.ID, result any, err error) error {
		resp := &jsonrpc.Response{ID: id}
		if err != nil {
			resp.Error = err
		} else {
			b, _ := json.Marshal(result)
			resp.Result = b
		}
		return conn.Write(ctx, resp)
	}
	asked := 0
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			return
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok || !req.IsCall() {
			continue
		}
		switch req.Method {
		case "initialize":
			err = reply(req.ID, map[string]any{
				"protocolVersion": "2025-11-25",
				"capabilities":    map[string]any{"tools": map[string]any{}},
				"serverInfo":      map[string]any{"name": "ask-anyway", "version": "1"},
			}, nil)
		case "tools/list":
			err = reply(req.ID, map[string]any{"tools": []any{map[string]any{
				"name": AskAnywayTool, "inputSchema": map[string]any{"type": "object"},
			}}}, nil)
		case "tools/call":
			var p struct {
				Arguments struct {
					Method string          `json:"method"`
					Params json.RawMessage `json:"params"`
				} `json:"arguments"`
			}
			_ = json.Unmarshal(req.Params, &p)
			asked++
			var text string
			text, err = askOnce(ctx, conn, asked, p.Arguments.Method, p.Arguments.Params)
			if err == nil {
				err = reply(req.ID, map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}}, nil)
			}
		case "ping":
			err = reply(req.ID, map[string]any{}, nil)
		default:
			err = reply(req.ID, nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found"})
		}
		if err != nil {
			return
		}
	}
}

// askOnce sends the client one request and reads until its reply.
func askOnce(ctx context.Context, conn mcp.Connection, n int, method string, params json.RawMessage) (string, error) {
	id, _ := jsonrpc.MakeID(fmt.Sprintf("ask-%d", n))
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: params}); err != nil {
		return "", err
	}
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			return "", err
		}
		resp, ok := msg.(*jsonrpc.Response)
		if !ok || resp.ID != id {
			continue
		}
		var we *jsonrpc.Error
		if errors.As(resp.Error, &we) {
			return fmt.Sprintf("error %d: %s", we.Code, we.Message), nil
		}
		if resp.Error != nil {
			return "error: " + resp.Error.Error(), nil
		}
		return string(resp.Result), nil
	}
}
