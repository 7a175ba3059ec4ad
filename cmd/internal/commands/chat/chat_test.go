package chat

//lint:file-ignore SA1019 the test server asks for sampling, deprecated from protocol 2026-07-28 on

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
)

const testKey = "sk-test-llm-key-5Gh2Jk8"

// summarizer is a loopback server whose one tool asks the client's model
// for a summary (sampling; protocol 2025-11-25, stateful so it can ask).
func summarizer(t *testing.T) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	mcp.AddTool(s, &mcp.Tool{Name: "summarize", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize: sunny"}}}})
			if err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "sampling failed: " + err.Error()}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "summary: " + res.Content.(*mcp.TextContent).Text}}}, nil, nil
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// testOptions are the chat's Options over a Factory on a temp home with
// a file keyring holding the model's key, on a terminal, and config.
func testOptions(t *testing.T, cfg string) (*Options, *cmdutil.Factory, string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"HOME": dir, "XDG_STATE_HOME": filepath.Join(dir, "state"), "XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		credentials.PassphraseEnv: "test-passphrase"}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("credentials: {backend: file, file_dir: "+filepath.Join(dir, "keyring")+"}\n"+cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	ios.SetTTY(true, true, true)
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	f.ConfigFlag = path
	c, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Secrets(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set(config.LLMSecretServer, config.DefaultAPIKeySecret, credentials.NewSecret(testKey)); err != nil {
		t.Fatal(err)
	}
	return newOptions(f), f, path
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Without a model, chat still starts (direct mode): the UI gets no
// Session, the advice chat -p fails with, and the orchestrator.
func TestInteractiveDirectMode(t *testing.T) {
	opts, _, path := testOptions(t, "servers:\n  weather: {url: "+summarizer(t)+"}\n")
	var got *Interactive
	opts.Interactive = func(ctx context.Context, deps *Interactive) error {
		got = deps
		return nil
	}
	if err := chatRun(testCtx(t), opts); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Session != nil || got.Model != "" || got.Advice != config.NoModelAdvice(path) || got.Orchestrator == nil || got.Hooks == nil {
		t.Fatalf("deps: %+v", got)
	}
	if st := got.Orchestrator.Servers(); len(st) != 1 || st[0].Name != "weather" {
		t.Errorf("servers: %+v", st)
	}
	if err := got.Save(); err != nil || got.SessionID() != "" {
		t.Errorf("direct mode saves nothing: %v %q", err, got.SessionID())
	}
}

// With a model, the UI gets the Session; until it sets its Handlers a
// server's sampling request (sampling: ask) is declined, then
// ApproveSampling is asked
// (naming the server) before the request goes to the model; Save writes
// the transcript to the session file, and the chat saves it on quit.
func TestInteractiveSession(t *testing.T) {
	llm := fakellm.Start(testKey,
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__summarize", Args: `{}`}}},
		fakellm.Turn{Text: "It was declined."},
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c2", Name: "weather__summarize", Args: `{}`}}},
		fakellm.Turn{Text: "Warm."}, // the sampling request's answer
		fakellm.Turn{Text: "The summary: warm."})
	t.Cleanup(llm.Close)
	opts, f, _ := testOptions(t, "servers:\n  weather: {url: "+summarizer(t)+", sampling: ask}\n"+
		"llm: {provider: openai-compatible, model: fake-model, base_url: "+llm.OpenAIURL()+", api_key_secret: api_key}\n")
	var (
		deps  *Interactive
		asked []string
		id    string
	)
	opts.Interactive = func(ctx context.Context, d *Interactive) error {
		deps = d
		if d.Session == nil || d.Model != "openai-compatible/fake-model" || d.Advice != "" {
			t.Fatalf("deps: %+v", d)
		}
		if _, err := d.Session.Send(ctx, "Summarize the weather", nil); err != nil {
			return err
		}
		d.Hooks.Set(Handlers{ApproveSampling: func(ctx context.Context, req *orchestrator.SamplingRequest) (bool, error) {
			asked = append(asked, req.Server)
			return true, nil
		}})
		reply, err := d.Session.Send(ctx, "Again, please", nil)
		if err != nil {
			return err
		}
		if reply.Text != "The summary: warm." {
			t.Errorf("reply: %q", reply.Text)
		}
		if err := d.Save(); err != nil {
			return err
		}
		m, err := d.OpenModel(ctx, "other-model")
		if err != nil || m.Name() != "openai-compatible/other-model" {
			t.Errorf("OpenModel: %v, %v", m, err)
		}
		id = d.SessionID()
		return nil
	}
	if err := chatRun(testCtx(t), opts); err != nil {
		t.Fatal(err)
	}
	tr := deps.Session.Transcript()
	if r := tr[2].Result; r == nil || !strings.Contains(r.Text, "sampling failed") {
		t.Errorf("before the UI set its handlers the sampling request was not declined: %+v", tr[2])
	}
	if len(asked) != 1 || asked[0] != "weather" {
		t.Errorf("ApproveSampling asked about %v", asked)
	}
	if id == "" {
		t.Fatal("no session ID after Save")
	}
	c, _ := f.Config()
	data, err := os.ReadFile(filepath.Join(c.ChatDir(), id+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `{"entry":`); n != len(tr) {
		t.Errorf("the file holds %d entries, the transcript %d", n, len(tr))
	}
	if strings.Contains(string(data), testKey) {
		t.Error("the session file holds the model's key")
	}
}

// Hooks without handlers refuse what needs asking, so nothing is
// approved before the UI is there.
func TestHooksFailClosed(t *testing.T) {
	var h Hooks
	ctx := context.Background()
	if a, err := h.ApproveTool(ctx, agentToolRequest()); a != orchestrator.ApprovalDeny || err == nil {
		t.Errorf("ApproveTool = %v, %v", a, err)
	}
	if ok, _ := h.approveSampling(ctx, nil); ok {
		t.Error("sampling approved without a UI")
	}
	if r, _ := h.elicit(ctx, nil); r.Action != "decline" {
		t.Errorf("elicitation: %+v", r)
	}
	h.toolsChanged("x", nil) // no handler: no panic
}

func agentToolRequest() agent.ToolRequest {
	return agent.ToolRequest{Server: "calendar", Tool: "create_event"}
}

// --demo runs the chat on the demo's two servers, each reached with its
// own key from a throwaway keyring, in direct mode; the advice names the
// user's own config, and nothing of the demo is left afterwards.
func TestInteractiveDemo(t *testing.T) {
	opts, _, path := testOptions(t, "servers:\n  weather: {url: "+summarizer(t)+"}\n")
	opts.Demo = true
	var (
		got      *Interactive
		forecast string
	)
	opts.Interactive = func(ctx context.Context, deps *Interactive) error {
		got = deps
		res, err := deps.Orchestrator.Call(ctx, "weather", "get_forecast", map[string]any{"location": "Oslo"})
		if err != nil {
			return err
		}
		b, _ := res.MarshalJSON()
		forecast = string(b)
		return nil
	}
	if err := chatRun(testCtx(t), opts); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Session != nil || got.Advice != config.NoModelAdvice(path) {
		t.Fatalf("deps: %+v", got)
	}
	var names []string
	for _, st := range got.Orchestrator.Servers() {
		names = append(names, st.Name)
	}
	if fmt.Sprint(names) != "[calendar weather]" || !strings.Contains(forecast, "Oslo") {
		t.Errorf("servers %v, forecast %s", names, forecast)
	}
	if _, err := os.Stat(got.Config.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the demo's config %s is left behind: %v", got.Config.Path, err)
	}
}
