package serve

//lint:file-ignore SA1019 the backends ask for sampling, deprecated from protocol 2026-07-28 on, which mediator still forwards

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// guard bounds a wait that must end in a passing test; it is no timing
// threshold, only a limit on a hang.
const hangLimit = 30 * time.Second

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangLimit):
		t.Fatalf("waited in vain for %s", what)
		panic("unreachable")
	}
}

var object = map[string]any{"type": "object"}

func textTool(s *mcp.Server, name, answer string, calls *atomic.Int32) {
	s.AddTool(&mcp.Tool{Name: name, Description: "answers " + answer, InputSchema: object}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if calls != nil {
			calls.Add(1)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: answer}}}, nil
	})
}

// notesServer offers a tool, a resource, a template and a prompt.
func notesServer(calls *atomic.Int32) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "notes"}, nil)
	textTool(s, "read_note", "the note says: buy milk", calls)
	s.AddResource(&mcp.Resource{URI: "note://a", Name: "a", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "note a"}}}, nil
	})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "note://{id}", Name: "note"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "templated " + req.Params.URI}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "summarize", Arguments: []*mcp.PromptArgument{{Name: "topic"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "summarize " + req.Params.Arguments["topic"]}}}}, nil
	})
	return s
}

func mailServer(calls *atomic.Int32) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mail"}, nil)
	textTool(s, "send", "sent", calls)
	return s
}

func TestNoPrefix(t *testing.T) {
	for _, servers := range [][]string{nil, {"a", "b"}} {
		if _, err := New(Options{Gateway: true, NoPrefix: true, Servers: servers}); err == nil || !strings.Contains(err.Error(), "exactly one server") {
			t.Errorf("New with NoPrefix and servers %v: err = %v, want it to say exactly one server", servers, err)
		}
	}
	r := newRig(t, Options{Gateway: true, NoPrefix: true, Servers: []string{"notes"}},
		orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil)), inProcess("mail", mailServer(nil))}})
	h := r.connect(t, nil)
	if got := h.toolNames(t); !slices.Equal(got, []string{"read_note"}) {
		t.Fatalf("tools = %v, want [read_note]: the one server's own names, and no other server's", got)
	}
	if res := h.call(t, "read_note", nil); res.IsError || !strings.Contains(text(res), "buy milk") {
		t.Fatalf("read_note: %s", text(res))
	}
	pr, err := h.cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "summarize", Arguments: map[string]string{"topic": "x"}})
	if err != nil || len(pr.Messages) != 1 {
		t.Fatalf("prompt summarize: %v %v", pr, err)
	}
}

// A tool whose definition changed since it was pinned, or that appeared
// since, is not offered; its unchanged siblings are.
func TestPinRefusedToolsNotOffered(t *testing.T) {
	pins := filepath.Join(t.TempDir(), "pins")
	v1 := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	textTool(v1, "a", "one", nil)
	textTool(v1, "b", "two", nil)
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", v1)}, PinDir: pins})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Tools(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	_ = o.Close()

	v2 := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	textTool(v2, "a", "one, changed", nil) // a changed description
	textTool(v2, "b", "two", nil)
	textTool(v2, "c", "new", nil)
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", v2)}, PinDir: pins})
	h := r.connect(t, nil)
	if got := h.toolNames(t); !slices.Equal(got, []string{"svc__b"}) {
		t.Fatalf("tools = %v, want only the pinned svc__b", got)
	}
	if res, err := h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "svc__a"}); err == nil && !res.IsError {
		t.Fatal("the changed tool svc__a could be called")
	}
}

// Tools offered carry the pinned definition: description, schemas and
// annotations as the server gave them.
func TestToolDefinitionsPassedThrough(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	in := map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}, "required": []any{"q"}}
	out := map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}}
	s.AddTool(&mcp.Tool{Name: "find", Title: "Find", Description: "finds", InputSchema: in, OutputSchema: out,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{StructuredContent: map[string]any{"n": 3}, Content: []mcp.Content{&mcp.TextContent{Text: `{"n":3}`}}}, nil
	})
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", s)}})
	h := r.connect(t, nil)
	res, err := h.cs.ListTools(context.Background(), nil)
	if err != nil || len(res.Tools) != 1 {
		t.Fatalf("tools/list: %v %v", res, err)
	}
	got := res.Tools[0]
	if got.Name != "svc__find" || got.Title != "Find" || got.Description != "finds" || got.Annotations == nil || !got.Annotations.ReadOnlyHint {
		t.Fatalf("tool = %+v", got)
	}
	if jsonOf(got.InputSchema) != jsonOf(in) || jsonOf(got.OutputSchema) != jsonOf(out) {
		t.Fatalf("schemas = %s %s, want %s %s", jsonOf(got.InputSchema), jsonOf(got.OutputSchema), jsonOf(in), jsonOf(out))
	}
	// The orchestrator checks the arguments against the pinned schema.
	cr := h.call(t, "svc__find", map[string]any{"q": 7})
	if !cr.IsError || !strings.Contains(text(cr), "q") {
		t.Fatalf("a call with a bad argument: %s", text(cr))
	}
	cr = h.call(t, "svc__find", map[string]any{"q": "x"})
	if cr.IsError || jsonOf(cr.StructuredContent) != `{"n":3}` {
		t.Fatalf("svc__find: %s %v", text(cr), cr.StructuredContent)
	}
}

// A server's list_changed reaches the host after the pin check: a tool
// it removed is no longer offered, a prompt it added is.
func TestListChangedPassedOn(t *testing.T) {
	backend := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	textTool(backend, "a", "one", nil)
	textTool(backend, "b", "two", nil)
	backend.AddPrompt(&mcp.Prompt{Name: "p1"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", backend)}})
	toolsChanged := make(chan struct{}, 10)
	promptsChanged := make(chan struct{}, 10)
	h := r.connect(t, &mcp.ClientOptions{
		ToolListChangedHandler:   func(context.Context, *mcp.ToolListChangedRequest) { toolsChanged <- struct{}{} },
		PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) { promptsChanged <- struct{}{} },
	})
	if got := h.toolNames(t); !slices.Equal(got, []string{"svc__a", "svc__b"}) {
		t.Fatalf("tools = %v", got)
	}
	backend.RemoveTools("b")
	for {
		wait(t, toolsChanged, "tools/list_changed")
		if got := h.toolNames(t); slices.Equal(got, []string{"svc__a"}) {
			break
		}
	}
	backend.AddPrompt(&mcp.Prompt{Name: "p2"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	for {
		wait(t, promptsChanged, "prompts/list_changed")
		res, err := h.cs.ListPrompts(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Prompts) == 2 && res.Prompts[1].Name == "svc__p2" {
			break
		}
	}
}

// A backend's progress reaches the host's call under the host's token,
// while the call runs.
func TestProgressPassedOn(t *testing.T) {
	got := make(chan *mcp.ProgressNotificationParams, 10)
	backend := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	backend.AddTool(&mcp.Tool{Name: "work", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for i := 1; i <= 2; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 2, Message: fmt.Sprintf("step %d", i)}); err != nil {
				return nil, err
			}
			// The host has it before the call goes on.
			p := wait(t, got, "progress")
			if p.ProgressToken != "host-token-7" || p.Progress != float64(i) || p.Total != 2 || p.Message != fmt.Sprintf("step %d", i) {
				return nil, fmt.Errorf("progress %d = %+v", i, p)
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	})
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", backend)}})
	h := r.connect(t, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
		got <- req.Params
	}})
	params := &mcp.CallToolParams{Name: "svc__work"}
	params.SetProgressToken("host-token-7")
	if res, err := h.cs.CallTool(context.Background(), params); err != nil || res.IsError {
		t.Fatalf("svc__work: %v %+v", err, res)
	}
}

// The host canceling its call cancels the backend's.
func TestCancelReachesBackend(t *testing.T) {
	started, canceled := make(chan struct{}), make(chan struct{})
	backend := mcp.NewServer(&mcp.Implementation{Name: "svc"}, nil)
	backend.AddTool(&mcp.Tool{Name: "block", InputSchema: object}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		close(started)
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	})
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("svc", backend)}})
	h := r.connect(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.cs.CallTool(ctx, &mcp.CallToolParams{Name: "svc__block"})
		errc <- err
	}()
	wait(t, started, "the backend call")
	cancel()
	wait(t, canceled, "the backend call to be canceled")
	if err := wait(t, errc, "the host's call to return"); err == nil {
		t.Fatal("the canceled call returned no error")
	}
}

// A resource read or a prompt got through the gateway is data from its
// server: the session's next request to another server carries it.
func TestResourcesAndPromptsCarryProvenance(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(t *testing.T, h *host)
	}{
		{"a resource", func(t *testing.T, h *host) {
			res, err := h.cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "note://a"})
			if err != nil || res.Contents[0].Text != "note a" {
				t.Fatalf("note://a: %v %v", res, err)
			}
		}},
		{"a templated resource", func(t *testing.T, h *host) {
			res, err := h.cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "note://zz"})
			if err != nil || res.Contents[0].Text != "templated note://zz" {
				t.Fatalf("note://zz: %v %v", res, err)
			}
		}},
		{"a prompt", func(t *testing.T, h *host) {
			res, err := h.cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "notes__summarize", Arguments: map[string]string{"topic": "milk"}})
			if err != nil || res.Messages[0].Content.(*mcp.TextContent).Text != "summarize milk" {
				t.Fatalf("notes__summarize: %v %v", res, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mailCalls atomic.Int32
			r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil)), inProcess("mail", mailServer(&mailCalls))}})
			h := r.connect(t, nil)
			lr, err := h.cs.ListResources(context.Background(), nil)
			if err != nil || len(lr.Resources) != 1 || lr.Resources[0].URI != "note://a" {
				t.Fatalf("resources/list: %v %v", lr, err)
			}
			tr, err := h.cs.ListResourceTemplates(context.Background(), nil)
			if err != nil || !slices.ContainsFunc(tr.ResourceTemplates, func(rt *mcp.ResourceTemplate) bool { return rt.URITemplate == "note://{id}" }) {
				t.Fatalf("resources/templates/list: %v %v, want note://{id} among them", tr, err)
			}
			tc.read(t, h)
			res := h.call(t, "mail__send", map[string]any{})
			if !res.IsError || !strings.Contains(text(res), `policy.flows: ["notes -> mail"]`) {
				t.Fatalf("mail__send after %s: %s", tc.name, text(res))
			}
			if mailCalls.Load() != 0 {
				t.Fatal("the refused call reached the mail server")
			}
		})
	}
}

// Nothing the host names reaches a server unless the gateway offered it.
func TestUnknownNamesRefused(t *testing.T) {
	var notesCalls, mailCalls atomic.Int32
	r := newRig(t, Options{Gateway: true, Servers: []string{"notes"}},
		orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(&notesCalls)), inProcess("mail", mailServer(&mailCalls))}})
	h := r.connect(t, nil)
	ctx := context.Background()
	for _, name := range []string{"mail__send", "send", "notes.read_note", "read_note", "notes__nope", "notes__read_note/../x"} {
		if res, err := h.cs.CallTool(ctx, &mcp.CallToolParams{Name: name}); err == nil && !res.IsError {
			t.Errorf("tool %q was called: %s", name, text(res))
		}
	}
	for _, name := range []string{"summarize", "mail__summarize", "notes__nope"} {
		if _, err := h.cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name}); err == nil {
			t.Errorf("prompt %q was got", name)
		}
	}
	for _, uri := range []string{"file:///etc/passwd", "mail://x", "keyring://notes/api-key"} {
		if _, err := h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri}); err == nil {
			t.Errorf("resource %q was read", uri)
		}
	}
	if notesCalls.Load() != 0 || mailCalls.Load() != 0 {
		t.Fatalf("calls reached the servers: notes %d, mail %d", notesCalls.Load(), mailCalls.Load())
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	var names []string
	authorize := func(_ context.Context, name string) error {
		names = append(names, name)
		if name == "notes__read_note" {
			return nil
		}
		return errors.New("this token may not use " + name)
	}
	var calls atomic.Int32
	r := newRig(t, Options{Gateway: true, Authorize: authorize}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(&calls))}})
	h := r.connect(t, &mcp.ClientOptions{})
	ctx := context.Background()
	if res := h.call(t, "notes__read_note", nil); res.IsError {
		t.Fatalf("an authorized call failed: %s", text(res))
	}
	r.srv.opts.Authorize = func(ctx context.Context, name string) error {
		names = append(names, name)
		return errors.New("this token may not use " + name)
	}
	if res := h.call(t, "notes__read_note", nil); !res.IsError || !strings.Contains(text(res), "may not use notes__read_note") {
		t.Fatalf("an unauthorized call: %s", text(res))
	}
	if _, err := h.cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "notes__summarize"}); err == nil || !strings.Contains(err.Error(), "may not use notes__summarize") {
		t.Fatalf("an unauthorized prompt: %v", err)
	}
	if _, err := h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "note://a"}); err == nil || !strings.Contains(err.Error(), "may not use note://a") {
		t.Fatalf("an unauthorized read: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("the server was called %d times, want 1 (the authorized call)", calls.Load())
	}
	if want := []string{"notes__read_note", "notes__read_note", "notes__summarize", "note://a"}; !slices.Equal(names, want) {
		t.Fatalf("Authorize was asked about %v, want %v", names, want)
	}
}

// askerServer's tools ask the client (mediator) for a sampling and an
// elicitation while the call runs. It speaks 2025-11-25, where servers
// send such requests.
func askerServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "asker"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	s.AddTool(&mcp.Tool{Name: "ask", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "your name?", RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s %v", res.Action, res.Content["name"])}}}, nil
	})
	s.AddTool(&mcp.Tool{Name: "sample", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50, SystemPrompt: "be brief",
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "model said " + res.Content.(*mcp.TextContent).Text}}}, nil
	})
	return s
}

func askerRig(t *testing.T) *rig {
	cfg := inProcess("asker", askerServer())
	cfg.Sampling = connectors.SamplingConfig{Mode: connectors.SamplingAllow}
	return newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{cfg}})
}

// A server's elicitation goes to the host session whose call it serves,
// tagged with the server's name; a host without elicitation has it
// declined.
func TestElicitationForwardedToItsSession(t *testing.T) {
	r := askerRig(t)
	var askedA, askedB atomic.Int32
	var messageA string
	a := r.connect(t, &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		askedA.Add(1)
		messageA = req.Params.Message
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
	}})
	b := r.connect(t, &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		askedB.Add(1)
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Bob"}}, nil
	}})
	plain := r.connect(t, nil)
	if got := text(a.call(t, "asker__ask", nil)); got != "accept Ada" {
		t.Fatalf("host A's call: %q", got)
	}
	if askedA.Load() != 1 || askedB.Load() != 0 {
		t.Fatalf("asked A %d times and B %d times, want 1 and 0", askedA.Load(), askedB.Load())
	}
	if messageA != "[asker] your name?" {
		t.Fatalf("message = %q, want it tagged with the server", messageA)
	}
	if got := text(plain.call(t, "asker__ask", nil)); got != "decline <nil>" {
		t.Fatalf("a host without elicitation: %q, want the request declined", got)
	}
	_ = b
}

// A server's sampling request goes to the host session whose call it
// serves, the server named in the system prompt; without the host's
// sampling capability it is declined.
func TestSamplingForwardedToItsSession(t *testing.T) {
	r := askerRig(t)
	var system string
	a := r.connect(t, &mcp.ClientOptions{CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		system = req.Params.SystemPrompt
		return &mcp.CreateMessageResult{Role: "assistant", Model: "host-model", Content: &mcp.TextContent{Text: "hello"}}, nil
	}})
	if got := text(a.call(t, "asker__sample", nil)); got != "model said hello" {
		t.Fatalf("sampling through the host: %q", got)
	}
	if !strings.Contains(system, `"asker"`) || !strings.HasSuffix(system, "be brief") {
		t.Fatalf("system prompt = %q, want the server named and its own prompt kept", system)
	}
	plain := r.connect(t, nil)
	if res := plain.call(t, "asker__sample", nil); !res.IsError {
		t.Fatalf("a host without sampling answered: %s", text(res))
	}
}

// A request is placed with a host session only when exactly one has a
// request to the server (or a workflow) in flight.
func TestInflightOwner(t *testing.T) {
	var f inflight
	a, b := &state{}, &state{}
	if f.owner("x") != nil {
		t.Fatal("an owner with nothing in flight")
	}
	endA := f.enter("x", a)
	if f.owner("x") != a || f.owner("y") != nil {
		t.Fatal("A's call to x is not placed")
	}
	endB := f.enter("x", b)
	if f.owner("x") != nil {
		t.Fatal("two sessions calling x: placed anyway")
	}
	endB()
	endW := f.enter(anyServer, b)
	if f.owner("y") != b || f.owner("x") != nil {
		t.Fatal("B's workflow is not placed, or A's call and B's workflow are not ambiguous")
	}
	endW()
	endA()
	if f.owner("x") != nil {
		t.Fatal("an owner after every request ended")
	}
}

// Two host sessions (as over HTTP) each have their own provenance, and
// a session's state goes when it ends.
func TestSessionsKeepSeparateProvenance(t *testing.T) {
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil)), inProcess("mail", mailServer(nil))}})
	a, b := r.connect(t, nil), r.connect(t, nil)
	a.call(t, "notes__read_note", nil)
	if res := b.call(t, "mail__send", nil); res.IsError {
		t.Fatalf("B's call carried A's provenance: %s", text(res))
	}
	if res := a.call(t, "mail__send", nil); !res.IsError {
		t.Fatal("A's call to mail after notes' data was made")
	}
	if n := r.srv.sessions.len(); n != 2 {
		t.Fatalf("%d session states, want 2", n)
	}
	_ = a.cs.Close()
	deadline := time.Now().Add(hangLimit)
	for r.srv.sessions.len() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the ended session's state was kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A workflow tool runs under the host session's orchestrator.Session,
// reports progress to the host, and what it returns counts in the
// session's provenance.
func TestWorkflowTool(t *testing.T) {
	var orch atomic.Pointer[orchestrator.Orchestrator]
	var gotSess atomic.Pointer[orchestrator.Session]
	wt := WorkflowTool{
		Tool: &mcp.Tool{Name: "morning", Description: "reads a note", InputSchema: map[string]any{"type": "object", "properties": map[string]any{"who": map[string]any{"type": "string"}}}},
		Run: func(ctx context.Context, sess *orchestrator.Session, args map[string]any, progress func(connectors.Progress)) (*mcp.CallToolResult, orchestrator.Provenance, error) {
			gotSess.Store(sess)
			progress(connectors.Progress{Progress: 1, Total: 2, Message: "reading"})
			res, err := orch.Load().CallWith(orchestrator.WithSession(ctx, sess), "notes", "read_note", nil, orchestrator.CallOptions{})
			if err != nil {
				return nil, orchestrator.Provenance{}, err
			}
			progress(connectors.Progress{Progress: 2, Total: 2, Message: "done"})
			return &mcp.CallToolResult{StructuredContent: map[string]any{"who": args["who"], "note": text(res.CallToolResult)},
				Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, res.Provenance, nil
		},
	}
	r := newRig(t, Options{Gateway: true, Workflows: []WorkflowTool{wt}}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil)), inProcess("mail", mailServer(nil))}})
	orch.Store(r.orch)
	progress := make(chan *mcp.ProgressNotificationParams, 10)
	h := r.connect(t, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
		progress <- req.Params
	}})
	if got := h.toolNames(t); !slices.Contains(got, "morning") {
		t.Fatalf("tools = %v, want the workflow among them", got)
	}
	params := &mcp.CallToolParams{Name: "morning", Arguments: map[string]any{"who": "me"}}
	params.SetProgressToken(42)
	res, err := h.cs.CallTool(context.Background(), params)
	if err != nil || res.IsError {
		t.Fatalf("morning: %v %v", res, err)
	}
	if jsonOf(res.StructuredContent) != `{"note":"the note says: buy milk","who":"me"}` {
		t.Fatalf("structuredContent = %s", jsonOf(res.StructuredContent))
	}
	for _, want := range []string{"reading", "done"} {
		if p := wait(t, progress, "the workflow's progress"); p.Message != want || p.ProgressToken != float64(42) {
			t.Fatalf("progress = %+v, want %q under the host's token", p, want)
		}
	}
	if res := h.call(t, "mail__send", nil); !res.IsError || !strings.Contains(text(res), `"notes -> mail"`) {
		t.Fatalf("mail__send after the workflow returned notes' data: %s", text(res))
	}
	if gotSess.Load() == nil {
		t.Fatal("the workflow ran without a session")
	}
}
