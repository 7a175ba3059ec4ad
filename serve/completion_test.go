package serve

//lint:file-ignore SA1019 server log messages (logging) are deprecated from protocol 2026-07-28 on, but servers behind mediator still send them

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// completingNotes is notesServer with completions and subscriptions,
// counting what reaches it, and a tool that logs while it runs.
type completingNotes struct {
	*mcp.Server
	completes, subscribes, unsubscribes atomic.Int32
	refs                                chan string
}

func newCompletingNotes() *completingNotes {
	n := &completingNotes{refs: make(chan string, 10)}
	n.Server = mcp.NewServer(&mcp.Implementation{Name: "notes"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			n.completes.Add(1)
			n.refs <- req.Params.Ref.Type + " " + req.Params.Ref.Name + req.Params.Ref.URI
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{req.Params.Argument.Value + "-done"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { n.subscribes.Add(1); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { n.unsubscribes.Add(1); return nil },
	})
	n.AddResource(&mcp.Resource{URI: "note://a", Name: "a"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "note a"}}}, nil
	})
	n.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "note://{id}", Name: "note"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "templated"}}}, nil
	})
	n.AddPrompt(&mcp.Prompt{Name: "summarize", Arguments: []*mcp.PromptArgument{{Name: "topic"}}}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	n.AddTool(&mcp.Tool{Name: "chatty", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for _, l := range []mcp.LoggingLevel{"debug", "info", "error"} {
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: l, Logger: "work", Data: "at " + string(l)})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	})
	return n
}

// overHTTP is a server config for s on loopback streamable HTTP
// (stateful: protocol 2025-11-25, where a subscription is
// resources/subscribe).
func overHTTP(t *testing.T, name string, s *mcp.Server) orchestrator.ServerConfig {
	t.Helper()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(hs.Close)
	return orchestrator.ServerConfig{Config: connectors.Config{Name: name, URL: hs.URL, Timeout: time.Minute}}
}

// completion/complete reaches the server offering the prompt or template
// by its own name, carries the session's provenance through the flow
// check (values typed after the host saw mail's data do not go to notes
// unless the policy allows it), and is refused for a ref not offered.
func TestCompletionThroughGateway(t *testing.T) {
	n := newCompletingNotes()
	var mailCalls atomic.Int32
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", n.Server), inProcess("mail", mailServer(&mailCalls))}})
	h := r.connect(t, nil)
	ctx := context.Background()
	if caps := h.cs.InitializeResult().Capabilities; caps.Completions == nil || caps.Resources == nil || !caps.Resources.Subscribe {
		t.Fatalf("capabilities %+v: want completions and resources.subscribe", caps)
	}
	complete := func(ref *mcp.CompleteReference) (*mcp.CompleteResult, error) {
		return h.cs.Complete(ctx, &mcp.CompleteParams{Ref: ref, Argument: mcp.CompleteParamsArgument{Name: "topic", Value: "mi"}})
	}
	res, err := complete(&mcp.CompleteReference{Type: "ref/prompt", Name: "notes__summarize"})
	if err != nil || !slices.Equal(res.Completion.Values, []string{"mi-done"}) {
		t.Fatalf("notes__summarize: %+v %v", res, err)
	}
	if got := wait(t, n.refs, "the completion"); got != "ref/prompt summarize" {
		t.Errorf("the server got %q, want its own prompt name", got)
	}
	if _, err := complete(&mcp.CompleteReference{Type: "ref/resource", URI: "note://{id}"}); err != nil {
		t.Fatalf("note://{id}: %v", err)
	}
	if got := wait(t, n.refs, "the completion"); got != "ref/resource note://{id}" {
		t.Errorf("the server got %q", got)
	}
	for _, ref := range []*mcp.CompleteReference{{Type: "ref/prompt", Name: "summarize"}, {Type: "ref/prompt", Name: "mail__summarize"}, {Type: "ref/resource", URI: "mail://{x}"}} {
		if _, err := complete(ref); err == nil || !strings.Contains(err.Error(), "not offered") {
			t.Errorf("%+v: %v, want refused as not offered", ref, err)
		}
	}

	// A completion's values are notes' data, as a prompt's messages are.
	if res := h.call(t, "mail__send", map[string]any{}); !res.IsError || !strings.Contains(text(res), `"notes -> mail"`) {
		t.Fatalf("mail__send after notes' completions: %s, want the flow refused", text(res))
	}
	// A session that holds mail's data: what it types may carry it.
	m := r.connect(t, nil)
	if res := m.call(t, "mail__send", map[string]any{}); res.IsError {
		t.Fatalf("mail__send: %s", text(res))
	}
	_, err = m.cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "notes__summarize"},
		Argument: mcp.CompleteParamsArgument{Name: "topic", Value: "x"}})
	if err == nil || !strings.Contains(err.Error(), `policy.flows: ["mail -> notes"]`) {
		t.Fatalf("completion after mail's data: %v, want the flow refused", err)
	}
	if got := n.completes.Load(); got != 2 {
		t.Errorf("%d completions reached notes, want 2", got)
	}
	if got := mailCalls.Load(); got != 1 {
		t.Errorf("%d calls reached mail, want 1", got)
	}
}

// resources/subscribe subscribes the server offering the URI, passes its
// updates on to the subscribed host sessions only, goes through the flow
// check, and the server is unsubscribed when the last session
// unsubscribes or ends.
func TestSubscriptionsThroughGateway(t *testing.T) {
	n := newCompletingNotes()
	var mailCalls atomic.Int32
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{overHTTP(t, "notes", n.Server), inProcess("mail", mailServer(&mailCalls))}})
	ctx := context.Background()
	updates := map[string]chan string{"a": make(chan string, 10), "b": make(chan string, 10)}
	hostFor := func(name string) *host {
		return r.connect(t, &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updates[name] <- req.Params.URI
		}})
	}
	a, b := hostFor("a"), hostFor("b")
	if err := a.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	if err := a.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "note://a"}); err != nil { // again: one subscription
		t.Fatal(err)
	}
	if err := a.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "mail://x"}); err == nil || !strings.Contains(err.Error(), "not offered") {
		t.Errorf("a URI not offered: %v", err)
	}
	if err := n.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, updates["a"], "the update"); got != "note://a" {
		t.Errorf("update %q", got)
	}

	// b has seen mail's data: subscribing may carry it to notes.
	if res := b.call(t, "mail__send", map[string]any{}); res.IsError {
		t.Fatalf("mail__send: %s", text(res))
	}
	if err := b.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "note://a"}); err == nil || !strings.Contains(err.Error(), `"mail -> notes"`) {
		t.Fatalf("b's subscription after mail's data: %v, want the flow refused", err)
	}
	if got := n.subscribes.Load(); got != 1 {
		t.Errorf("%d subscribes reached notes, want 1", got)
	}
	// Only a, subscribed, gets the next update.
	if err := n.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	wait(t, updates["a"], "the second update")
	if strings.Contains(b.wire.String(), "notifications/resources/updated") {
		t.Errorf("b, not subscribed, got an update:\n%s", b.wire)
	}

	if err := a.cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	if got := n.unsubscribes.Load(); got != 1 {
		t.Errorf("%d unsubscribes reached notes, want 1", got)
	}
	// A session that ends unsubscribes.
	if err := a.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "note://a"}); err != nil {
		t.Fatal(err)
	}
	_ = a.cs.Close()
	deadline := time.Now().Add(hangLimit)
	for n.unsubscribes.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := n.unsubscribes.Load(); got != 2 {
		t.Errorf("%d unsubscribes reached notes after the session ended, want 2", got)
	}
}

// A server's log messages during a call reach the host session whose
// call it is, ahead of the call's result, with the server's name on the
// logger and at the level that session set; a session that set none gets
// none.
func TestServerLogsReachTheCallingSession(t *testing.T) {
	n := newCompletingNotes()
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{overHTTP(t, "notes", n.Server)}})
	ctx := context.Background()
	var (
		mu   sync.Mutex
		logs = map[string][]string{}
	)
	hostFor := func(name string) *host {
		return r.connect(t, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			logs[name] = append(logs[name], string(req.Params.Level)+" "+req.Params.Logger+" "+req.Params.Data.(string))
		}})
	}
	a, b := hostFor("a"), hostFor("b")
	if err := a.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}
	if res := a.call(t, "notes__chatty", map[string]any{}); res.IsError {
		t.Fatalf("notes__chatty: %s", text(res))
	}
	// On the wire the messages come before the result (go-sdk's client,
	// the host here, may hand the result over before it handled them).
	wire := a.wire.String()
	info, errLog, result := strings.Index(wire, `"data":"at info"`), strings.Index(wire, `"data":"at error"`), strings.Index(wire, `"text":"done"`)
	if info < 0 || errLog < info || result < errLog || strings.Contains(wire, `"data":"at debug"`) {
		t.Errorf("a's wire: info log at %d, error log at %d, result at %d, debug log sent: %v; want the info and error logs, then the result:\n%s",
			info, errLog, result, strings.Contains(wire, "at debug"), wire)
	}
	deadline := time.Now().Add(hangLimit)
	for {
		mu.Lock()
		got := slices.Clone(logs["a"])
		mu.Unlock()
		if want := []string{"info notes/work at info", "error notes/work at error"}; slices.Equal(got, want) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a's logs: %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res := b.call(t, "notes__chatty", map[string]any{}); res.IsError {
		t.Fatalf("notes__chatty: %s", text(res))
	}
	if strings.Contains(b.wire.String(), "notifications/message") || strings.Count(a.wire.String(), "notifications/message") != 2 {
		t.Errorf("b, which set no level, got log messages, or a got those of b's call:\n%s\n%s", b.wire, a.wire)
	}
}
