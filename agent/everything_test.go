package agent_test

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The chat with the real server-everything over stdio: the model calls
// its tool that asks for a sampling, which the configured model answers
// (from the server's own prompt only); then its tool that asks the user
// for a form, which the front end fills in. Each answer reaches the
// server, and its result the model, as everything's output.
func TestEverythingSamplingAndElicitation(t *testing.T) {
	ctx := testContext(t)
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	llm := fakellm.Start(apiKey,
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "s", Name: "everything__trigger-sampling-request", Args: `{"prompt":"Name a colour","maxTokens":20}`}}},
		fakellm.Turn{Text: "teal"}, // the sampling request's answer
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "e", Name: "everything__trigger-elicitation-request", Args: `{}`}}},
		fakellm.Turn{Text: "Done."},
	)
	t.Cleanup(llm.Close)
	model, err := agent.NewModel(ctx, agent.Config{Provider: agent.ProviderOpenAI, Model: "fake-model", BaseURL: llm.OpenAIURL(), APIKey: credentials.NewSecret(apiKey)})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		sampled []*orchestrator.SamplingRequest
		forms   []*orchestrator.ElicitationRequest
	)
	host := orchestrator.Host{
		Sample: func(ctx context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
			mu.Lock()
			sampled = append(sampled, req)
			mu.Unlock()
			return agent.Sample(ctx, model, req)
		},
		Elicit: func(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			forms = append(forms, req)
			mu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
		},
	}
	dir := t.TempDir()
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "everything", Command: command, Args: append(args, "stdio"), Timeout: 30 * time.Second,
			Sampling: connectors.SamplingConfig{Mode: connectors.SamplingAllow, MaxTokens: 20}}}},
		Host:      host,
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		PinDir:    filepath.Join(dir, "pins"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	o.Connect(ctx)
	// server-everything lists the tools that need a client feature only
	// after initialization (tools/list_changed): wait for them.
	for {
		tools, _ := o.Tools(ctx, "everything")
		if slices.ContainsFunc(tools, func(t orchestrator.ToolInfo) bool { return t.Name == "trigger-elicitation-request" }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("server-everything never listed its sampling and elicitation tools")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sess, err := agent.NewSession(agent.Options{Model: model, Orchestrator: o, Approvals: agent.Approvals{Allow: []string{"everything.*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Send(ctx, "Try sampling, then a form.", nil); err != nil {
		t.Fatal(err)
	}

	res := results(sess)
	if r := res["everything__trigger-sampling-request"]; r == nil || r.IsError || !strings.Contains(r.Text, "teal") {
		t.Errorf("the sampling tool's result %+v lacks the model's answer", r)
	}
	if r := res["everything__trigger-elicitation-request"]; r == nil || r.IsError || !strings.Contains(r.Text, "Ada") {
		t.Errorf("the elicitation tool's result %+v lacks the form's answer", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sampled) != 1 || sampled[0].Server != "everything" || !sampled[0].Provenance.Has("everything") {
		t.Fatalf("sampling requests %+v", sampled)
	}
	if len(forms) != 1 || forms[0].Server != "everything" {
		t.Errorf("elicitations %+v", forms)
	}
	// The sampling request carried the server's prompt and nothing of
	// the conversation.
	body := string(llm.Requests()[1].Body)
	if !strings.Contains(body, "Name a colour") || strings.Contains(body, "Try sampling, then a form.") {
		t.Errorf("the sampling request sent the model:\n%s", body)
	}
	if got := sess.Provenance().Servers(); !slices.Equal(got, []string{"everything"}) {
		t.Errorf("context holds %v", got)
	}
}
