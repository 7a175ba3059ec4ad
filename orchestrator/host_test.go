package orchestrator_test

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// askerServer asks the client for a sampling (tool "sample") or an
// elicitation (tool "elicit") with text in it, and returns the answer's
// text. It speaks 2025-11-25, where servers send such requests.
func askerServer(text string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "elicit"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: text, RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"answer": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(res.Action, res.Content)}}}, nil, nil
	})
	return s
}

// auditRecords reads the audit log's records as maps.
func auditRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// A server's sampling and elicitation requests reach the front end with
// the server's name and provenance, and each is audited by method,
// server and outcome; the values (the server's prompt, the model's and
// the user's answers) are recorded only with include_values, and then
// with secrets masked.
func TestSamplingAndElicitationAreAudited(t *testing.T) {
	const canary = "canary-sampling-5b2e"
	for _, includeValues := range []bool{false, true} {
		t.Run(fmt.Sprint("include_values=", includeValues), func(t *testing.T) {
			ctx := testContext(t)
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			red := credentials.NewRedactor()
			red.Add(credentials.NewSecret(canary))
			var seen []string
			host := orchestrator.Host{
				Sample: func(_ context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
					if !req.Provenance.Has("asker") || req.Server != "asker" {
						t.Errorf("sampling request from %q with provenance %v", req.Server, req.Provenance.Servers())
					}
					seen = append(seen, orchestrator.MethodSampling)
					return &mcp.CreateMessageWithToolsResult{Role: "assistant", Model: "m",
						Content: []mcp.Content{&mcp.TextContent{Text: "model says " + canary}}}, nil
				},
				Elicit: func(_ context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
					if !req.Provenance.Has("asker") || req.Server != "asker" {
						t.Errorf("elicitation from %q with provenance %v", req.Server, req.Provenance.Servers())
					}
					seen = append(seen, orchestrator.MethodElicitation)
					return &mcp.ElicitResult{Action: "decline"}, nil
				},
			}
			cfg := inProcessServer("asker", askerServer("tell me "+canary))
			cfg.Sampling = connectors.SamplingConfig{Mode: connectors.SamplingAsk}
			o := newOrchestrator(t, orchestrator.Options{AuditPath: path, AuditIncludeValues: includeValues, Redactor: red,
				Host: host, Servers: []orchestrator.ServerConfig{cfg}})
			if _, err := o.Call(ctx, "asker", "sample", nil); err != nil {
				t.Fatal(err)
			}
			res, err := o.Call(ctx, "asker", "elicit", nil)
			if err != nil || !strings.HasPrefix(textOf(res), "decline") {
				t.Fatalf("elicit: %q, %v", textOf(res), err)
			}
			syncAudit(t, o)
			if len(seen) != 2 {
				t.Fatalf("front end saw %v", seen)
			}
			data, _ := os.ReadFile(path)
			if strings.Contains(string(data), canary) {
				t.Errorf("canary in the audit log")
			}
			want := map[string]string{orchestrator.MethodSampling: orchestrator.OutcomeOK, orchestrator.MethodElicitation: orchestrator.OutcomeDeclined}
			for _, r := range auditRecords(t, path) {
				m, _ := r["method"].(string)
				if m == "" {
					continue // the tool calls
				}
				if r["server"] != "asker" || r["outcome"] != want[m] || r["args_digest"] == "" {
					t.Errorf("record %v; want server asker, outcome %s", r, want[m])
				}
				_, hasArgs := r["args"]
				if hasArgs != includeValues {
					t.Errorf("record of %s has values: %v (include_values %v)", m, hasArgs, includeValues)
				}
				delete(want, m)
			}
			if len(want) > 0 {
				t.Errorf("no audit record for %v", want)
			}
		})
	}
}

// tools/list_changed lists the server's tools again and checks them
// against the pins within the session: a tool whose definition changed
// is refused until accepted, and a new tool shows as new and is refused
// too; the front end's callback hears of it.
func TestToolsListChangedRechecksPins(t *testing.T) {
	ctx := testContext(t)
	r := hostile.NewRugPull()
	changed := make(chan error, 4)
	o := newOrchestrator(t, orchestrator.Options{PinDir: filepath.Join(t.TempDir(), "pins"),
		Host:    orchestrator.Host{ToolsChanged: func(server string, err error) { changed <- err }},
		Servers: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "notes", Timeout: 5 * time.Second}, NewTransport: r.Dial()}}})
	if _, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{"folder": "x"}); err != nil {
		t.Fatal(err) // trusted on first use
	}
	wait := func() {
		t.Helper()
		select {
		case err := <-changed:
			if err != nil {
				t.Fatalf("relisting: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("ToolsChanged was never called")
		}
	}

	r.Pull(hostile.ChangeDescription) // go-sdk sends tools/list_changed
	wait()
	_, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{"folder": "x"})
	asError(t, err, orchestrator.KindToolChanged)
	if r.Calls() != 1 {
		t.Errorf("the changed tool was called (%d calls)", r.Calls())
	}

	mcp.AddTool(r.Server, &mcp.Tool{Name: "fresh"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		t.Error("the new tool was called")
		return nil, nil, nil
	})
	wait()
	states := pinStates(t, o, "notes")
	if states["fresh"] != orchestrator.PinNew {
		t.Errorf("pin states %v: want fresh new", states)
	}
	_, err = o.Call(ctx, "notes", "fresh", nil)
	asError(t, err, orchestrator.KindToolNew)
}

// A server is offered its configured roots as file:// URIs; SetRoots
// changes them and the server is told (roots/list_changed). A root that
// is not an absolute directory is refused with the field named.
func TestRoots(t *testing.T) {
	ctx := testContext(t)
	a, b := t.TempDir(), t.TempDir()
	changed := make(chan struct{}, 1)
	s := mcp.NewServer(&mcp.Implementation{Name: "rooted", Version: "1"}, &mcp.ServerOptions{
		SupportedProtocolVersions: []string{"2025-11-25"},
		RootsListChangedHandler:   func(context.Context, *mcp.RootsListChangedRequest) { changed <- struct{}{} },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, " ")}}}, nil, nil
	})
	cfg := inProcessServer("rooted", s)
	cfg.Roots = []string{a}
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{cfg}})
	res, err := o.Call(ctx, "rooted", "roots", nil)
	if err != nil || textOf(res) != "file://"+filepath.ToSlash(a) {
		t.Fatalf("roots: %q, %v", textOf(res), err)
	}
	if err := o.SetRoots("rooted", []string{b}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("the server was not told the roots changed")
	}
	res, err = o.Call(ctx, "rooted", "roots", nil)
	if err != nil || textOf(res) != "file://"+filepath.ToSlash(b) {
		t.Fatalf("roots after SetRoots: %q, %v", textOf(res), err)
	}
	if err := o.SetRoots("rooted", []string{"relative"}); err == nil || !strings.Contains(err.Error(), `roots[0]: "relative" is not an absolute path`) {
		t.Errorf("relative root: %v", err)
	}
}
