package serve

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// SetOrchestrator called again (a config reload) keeps the host's
// session: its tool list follows the new servers (list_changed), its
// provenance still governs its calls, its resource subscription moves to
// the new orchestrator, and a call in flight finishes on the old one,
// which is reported unused only then.
func TestSetOrchestratorAgain(t *testing.T) {
	notes := mcp.NewServer(&mcp.Implementation{Name: "notes"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	textTool(notes, "read_note", "the note says: buy milk", nil)
	notes.AddResource(&mcp.Resource{URI: "note://a", Name: "a", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "note a"}}}, nil
	})
	started, release := make(chan struct{}), make(chan struct{})
	notes.AddTool(&mcp.Tool{Name: "block", InputSchema: object}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		close(started)
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "unblocked"}}}, nil
	})
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notes)}})
	toolsChanged := make(chan struct{}, 10)
	updated := make(chan string, 10)
	h := r.connect(t, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { toolsChanged <- struct{}{} },
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	h.call(t, "notes__read_note", nil) // the session has seen notes' data
	if err := h.cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	inflight := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, _ := h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "notes__block"})
		inflight <- res
	}()
	wait(t, started, "the call in flight")

	// The reload: notes again, and mail.
	newOrch := func(servers ...orchestrator.ServerConfig) *orchestrator.Orchestrator {
		o, err := orchestrator.New(orchestrator.Options{Servers: servers, Host: r.srv.Host(),
			PinDir: filepath.Join(r.dir, "pins"), AuditPath: filepath.Join(r.dir, "audit.jsonl")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = o.Close() })
		return o
	}
	second := newOrch(inProcess("notes", notes), inProcess("mail", mailServer(nil)))
	unused := r.srv.SetOrchestrator(second)
	for {
		wait(t, toolsChanged, "tools/list_changed")
		if slices.Contains(h.toolNames(t), "mail__send") {
			break
		}
	}
	select {
	case <-unused:
		t.Fatal("the first orchestrator was reported unused with a call in flight on it")
	default:
	}
	close(release)
	if res := wait(t, inflight, "the call in flight to end"); res == nil || res.IsError || text(res) != "unblocked" {
		t.Fatalf("the call in flight: %+v", res)
	}
	wait(t, unused, "the first orchestrator to be unused")
	_ = r.orch.Close()

	// The session's provenance from before still governs.
	if res := h.call(t, "mail__send", nil); !res.IsError {
		t.Fatal("after the reload the session sent notes' data to mail")
	}
	if res := r.connect(t, nil).call(t, "mail__send", nil); res.IsError {
		t.Fatalf("a fresh session's call to the new server: %s", text(res))
	}
	// The subscription was moved: the update comes through the second.
	if err := notes.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	if uri := wait(t, updated, "the resource update"); uri != "note://a" {
		t.Fatalf("updated %q", uri)
	}

	// Another reload without mail: its tools are no longer offered.
	unused = r.srv.SetOrchestrator(newOrch(inProcess("notes", notes)))
	for {
		wait(t, toolsChanged, "tools/list_changed")
		if !slices.Contains(h.toolNames(t), "mail__send") {
			break
		}
	}
	wait(t, unused, "the second orchestrator to be unused")
}
