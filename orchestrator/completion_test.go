package orchestrator_test

//lint:file-ignore SA1019 server log messages (logging) are deprecated from protocol 2026-07-28 on, but servers behind mediator still send them

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// completingServer is newDocServer's resources and prompts with
// completions, subscriptions (counted) and a tool that logs three
// messages before it answers.
type completingServer struct {
	*docServer
	completes, subscribes, unsubscribes atomic.Int64
}

func newCompletingServer() *completingServer {
	c := &completingServer{}
	c.docServer = &docServer{Server: mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			c.completes.Add(1)
			v := req.Params.Argument.Value
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{v + "1", v + "2"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { c.subscribes.Add(1); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { c.unsubscribes.Add(1); return nil },
	})}
	// newDocServer's features, on a server with the options above.
	for _, uri := range []string{"docs://readme", "secret://key"} {
		c.AddResource(&mcp.Resource{Name: uri, URI: uri}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: "text of " + uri}}}, nil
		})
	}
	c.AddResourceTemplate(&mcp.ResourceTemplate{Name: "page", URITemplate: "docs://page/{n}"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "page"}}}, nil
		})
	for _, name := range []string{"greet", "internal"} {
		c.AddPrompt(&mcp.Prompt{Name: name, Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{}, nil
		})
	}
	mcp.AddTool(c.Server, &mcp.Tool{Name: "chatty"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := range 3 {
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "work", Data: fmt.Sprintf("step %d", i)})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	return c
}

// A completion goes through the server's filters and the data-flow check
// like a prompt get (a refused one is never sent), carries the server's
// provenance, and is audited as completion/complete with its values only
// as a digest.
func TestCompleteFilteredFlowCheckedAudited(t *testing.T) {
	ctx := testContext(t)
	c := newCompletingServer()
	cfg := inProcessServer("docs", c.Server)
	cfg.Resources = orchestrator.ToolFilter{Deny: []string{"secret://**"}}
	cfg.Prompts = orchestrator.ToolFilter{Allow: []string{"gre*"}}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{cfg},
		Policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: "mail", To: "docs"}}}})

	arg := mcp.CompleteParamsArgument{Name: "who", Value: "Ada"}
	got, err := o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"}, arg, nil, orchestrator.ProvenanceOf("mail"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Completion.Values, []string{"Ada1", "Ada2"}) || !slices.Equal(got.Provenance.Servers(), []string{"docs", "mail"}) || got.CallID == "" {
		t.Errorf("completion %+v, provenance %v", got.Completion, got.Provenance.Servers())
	}
	if _, err := o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/resource", URI: "docs://page/{n}"}, mcp.CompleteParamsArgument{Name: "n", Value: "4"},
		&mcp.CompleteContext{Arguments: map[string]string{"x": "y"}}, orchestrator.Provenance{}); err != nil {
		t.Fatal(err)
	}
	// Values typed after the session saw another server's data may carry
	// it: refused unless the policy lets that data go to this server.
	_, err = o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"}, arg, nil, orchestrator.ProvenanceOf("crm"))
	if oe := asError(t, err, orchestrator.KindFlowRefused); !strings.Contains(oe.Error(), `policy.flows: ["crm -> docs"]`) {
		t.Errorf("refusal: %v", err)
	}
	_, err = o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/prompt", Name: "internal"}, arg, nil, orchestrator.Provenance{})
	asError(t, err, orchestrator.KindNotAllowed)
	_, err = o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/resource", URI: "secret://key"}, arg, nil, orchestrator.Provenance{})
	asError(t, err, orchestrator.KindNotAllowed)
	_, err = o.Complete(ctx, "docs", &mcp.CompleteReference{Type: "ref/tool", Name: "x"}, arg, nil, orchestrator.Provenance{})
	if oe := asError(t, err, orchestrator.KindInvalidArguments); !strings.Contains(oe.Error(), `"ref/tool" is neither ref/prompt nor ref/resource`) {
		t.Errorf("bad ref: %v", err)
	}
	if n := c.completes.Load(); n != 2 {
		t.Errorf("%d completions reached the server, want 2: a refused one was sent", n)
	}

	syncAudit(t, o)
	recs := readRequests(t, auditPath)
	want := []struct{ tool, outcome string }{{"greet", "ok"}, {"", "ok"}, {"greet", "refused"}, {"internal", "refused"}, {"", "refused"}}
	if len(recs) != len(want) {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Method != orchestrator.MethodComplete || r.Tool != w.tool || r.Outcome != w.outcome || r.Server != "docs" || r.ArgsDigest == "" {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
		line, _ := json.Marshal(r)
		if strings.Contains(string(line), "Ada") || strings.Contains(string(line), "secret://key") {
			t.Errorf("record %d holds a value: %s", i, line)
		}
	}
}

// A subscription goes through the filter and the flow check, is audited,
// passes the server's updates on to Host.ResourceUpdated, and the server
// is unsubscribed when the last subscription to the URI ends.
func TestSubscribeFilteredFlowCheckedAudited(t *testing.T) {
	ctx := testContext(t)
	c := newCompletingServer()
	// Stateful streamable HTTP: protocol 2025-11-25, where a subscription
	// is resources/subscribe (on 2026-07-28 go-sdk's client opens a
	// subscriptions/listen stream instead).
	cfg := httpServer(t, "docs", c.Server)
	cfg.Resources = orchestrator.ToolFilter{Deny: []string{"secret://**"}}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	updates := make(chan string, 10)
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{cfg},
		Host: orchestrator.Host{ResourceUpdated: func(server, uri string) { updates <- server + " " + uri }}})

	sub1, err := o.Subscribe(ctx, "docs", "docs://readme", orchestrator.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	sub2, err := o.Subscribe(ctx, "docs", "docs://readme", orchestrator.ProvenanceOf("docs"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Subscribe(ctx, "docs", "docs://readme", orchestrator.ProvenanceOf("crm"))
	if oe := asError(t, err, orchestrator.KindFlowRefused); !strings.Contains(oe.Error(), `"crm -> docs"`) {
		t.Errorf("refusal: %v", err)
	}
	_, err = o.Subscribe(ctx, "docs", "secret://key", orchestrator.Provenance{})
	asError(t, err, orchestrator.KindNotAllowed)
	if n := c.subscribes.Load(); n != 2 {
		t.Errorf("%d subscribes reached the server, want 2", n)
	}

	if err := c.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if u != "docs docs://readme" {
			t.Errorf("update %q", u)
		}
	case <-ctx.Done():
		t.Fatal("no update reached the front end")
	}

	if err := o.Unsubscribe(ctx, sub1); err != nil {
		t.Fatal(err)
	}
	if n := c.unsubscribes.Load(); n != 0 {
		t.Errorf("the server was unsubscribed while a subscription to the URI lasts")
	}
	if err := o.Unsubscribe(ctx, sub2); err != nil {
		t.Fatal(err)
	}
	if err := o.Unsubscribe(ctx, sub2); err != nil { // again: nothing
		t.Fatal(err)
	}
	if n := c.unsubscribes.Load(); n != 1 {
		t.Errorf("%d unsubscribes reached the server, want 1", n)
	}

	syncAudit(t, o)
	recs := readRequests(t, auditPath)
	want := []struct{ method, outcome string }{
		{orchestrator.MethodSubscribe, "ok"}, {orchestrator.MethodSubscribe, "ok"}, {orchestrator.MethodSubscribe, "refused"},
		{orchestrator.MethodSubscribe, "refused"}, {orchestrator.MethodUnsubscribe, "ok"}, {orchestrator.MethodUnsubscribe, "ok"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	for i, w := range want {
		if r := recs[i]; r.Method != w.method || r.Outcome != w.outcome || r.Server != "docs" || strings.Contains(string(r.Args), "readme") {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
	}
}

// A server's log messages during a call reach Host.Log, every one of
// them before the call returns, in process and over streamable HTTP
// (where go-sdk hands the answer over before the queued notifications).
func TestServerLogsReachHostBeforeTheAnswer(t *testing.T) {
	for _, transport := range []string{"in-process", "http"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testContext(t)
			c := newCompletingServer()
			cfg := inProcessServer("docs", c.Server)
			if transport == "http" {
				cfg = httpServer(t, "docs", c.Server)
			}
			var (
				mu   sync.Mutex
				logs []string
			)
			o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{cfg},
				Host: orchestrator.Host{Log: func(server string, msg *mcp.LoggingMessageParams) {
					mu.Lock()
					defer mu.Unlock()
					logs = append(logs, fmt.Sprintf("%s %s %s %v", server, msg.Level, msg.Logger, msg.Data))
				}}})
			for range 5 {
				mu.Lock()
				logs = nil
				mu.Unlock()
				if _, err := o.Call(ctx, "docs", "chatty", nil); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				got := slices.Clone(logs)
				mu.Unlock()
				want := []string{"docs info work step 0", "docs info work step 1", "docs info work step 2"}
				if !slices.Equal(got, want) {
					t.Fatalf("logs when the call returned: %q, want %q", got, want)
				}
			}
		})
	}
}
