package serve

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A server that echoes a key mediator holds (its own or another's): in a
// result, an error, a progress message and a log, the host gets it
// masked.
func TestSecretsMaskedToHost(t *testing.T) {
	const canary = "canary-7f3a9c51e2d84b6f"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(canary))

	leaky := mcp.NewServer(&mcp.Implementation{Name: "leaky"}, nil)
	leaky.AddTool(&mcp.Tool{Name: "echo", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Message: "using " + canary})
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: "the key is " + canary}},
			StructuredContent: map[string]any{"key": canary},
		}, nil
	})
	leaky.AddTool(&mcp.Tool{Name: "fail", InputSchema: object}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return nil, &jsonrpcError{msg: "bad key " + canary}
	})

	r := newRig(t, Options{Gateway: true, Redactor: func() *credentials.Redactor { return red }},
		orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("leaky", leaky)}})
	progress := 0
	h := r.connect(t, &mcp.ClientOptions{ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress++ }})
	params := &mcp.CallToolParams{Name: "leaky__echo", Arguments: map[string]any{}}
	params.SetProgressToken("p1")
	res, err := h.cs.CallTool(context.Background(), params)
	if err != nil {
		t.Fatalf("leaky__echo: %v", err)
	}
	if !strings.Contains(text(res), "the key is") {
		t.Fatalf("leaky__echo: %q, want the masked text", text(res))
	}
	_, _ = h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "leaky__fail", Arguments: map[string]any{}})
	if strings.Contains(h.wire.String(), canary) {
		t.Fatalf("the host received the canary:\n%s", h.wire.String())
	}
	if !strings.Contains(h.wire.String(), "the key is") {
		t.Fatalf("the recorder missed the result:\n%s", h.wire.String())
	}
}

type jsonrpcError struct{ msg string }

func (e *jsonrpcError) Error() string { return e.msg }
