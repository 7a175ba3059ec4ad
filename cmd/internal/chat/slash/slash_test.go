package slash_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/chat/slash"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

const (
	apiKey     = "sk-fake-model-key-9c2e"
	passphrase = "slash-test-passphrase-Lm4q"
	// canary is the vault server's token, stored in the keyring: no
	// output, error or saved file may hold it.
	canary = "vault-canary-Zq8Xw2Rt5Ky"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sink records what the commands show.
type sink struct {
	mu       sync.Mutex
	md       []string
	calls    []*agent.CallInfo
	progress []connectors.Progress
	flow     []workflows.Event
	// onProgress, if set, is told of each progress report shown.
	onProgress func()
}

func (s *sink) Markdown(md string) { s.mu.Lock(); s.md = append(s.md, md); s.mu.Unlock() }
func (s *sink) Call(c *agent.CallInfo) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}
func (s *sink) Progress(p connectors.Progress) {
	s.mu.Lock()
	s.progress = append(s.progress, p)
	s.mu.Unlock()
	if s.onProgress != nil {
		s.onProgress()
	}
}
func (s *sink) Flow(e workflows.Event) { s.mu.Lock(); s.flow = append(s.flow, e); s.mu.Unlock() }

// text is every Markdown block shown.
func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.md, "\n")
}

// weatherServer is the example weather server plus a resource and a
// prompt, and slow_report, which reports its progress twice, each time
// waiting until seen says the report was shown.
func weatherServer(seen <-chan struct{}) *mcp.Server {
	s := weather.NewServer(func() time.Time { return time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC) })
	s.AddResource(&mcp.Resource{URI: "weather://alerts", Name: "alerts", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "weather://alerts", Text: "storm warning for Bergen"}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "brief", Description: "A weather brief.\nSecond line.", Arguments: []*mcp.PromptArgument{{Name: "city", Required: true}, {Name: "style"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{
				{Role: "user", Content: &mcp.TextContent{Text: "Write a weather brief for " + req.Params.Arguments["city"] + "."}},
				{Role: "assistant", Content: &mcp.TextContent{Text: "Sure."}},
			}}, nil
		})
	// A prompt name no command line can hold.
	s.AddPrompt(&mcp.Prompt{Name: "two words"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow_report", Description: "A report that takes steps.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				for i := 1; i <= 2; i++ {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 2, Message: "step"})
					select {
					case <-seen:
					case <-ctx.Done():
						return nil, nil, ctx.Err()
					}
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "report done"}}}, nil, nil
		})
	return s
}

// calendarServer is the example calendar server plus a resource.
func calendarServer() *mcp.Server {
	s := calendar.NewServer()
	s.AddResource(&mcp.Resource{URI: "calendar://today", Name: "today", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "calendar://today", Text: "dentist at 10:00"}}}, nil
		})
	return s
}

// vaultServer answers get_note with the canary in its text, as a server
// that echoes its own credential would.
func vaultServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "vault", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_note", Description: "A note.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "the token is " + canary}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Fails, quoting the token."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("bad token " + canary)
		})
	return s
}

// env is a real orchestrator over in-process servers, auditing to a file,
// with the vault's token in a file-backend keyring whose Redactor masks
// it.
type env struct {
	t       *testing.T
	dir     string
	orch    *orchestrator.Orchestrator
	red     *credentials.Redactor
	weather *mcp.Server
	audit   string
	// progressSeen tells slow_report that a progress report was shown.
	progressSeen chan struct{}
	// onPrompts and onTools are told of prompts/list_changed and
	// tools/list_changed.
	onPrompts atomic.Pointer[func(string)]
	onTools   atomic.Pointer[func(string, error)]
}

type envOptions struct {
	policy orchestrator.Policy
	extra  []orchestrator.ServerConfig // more servers
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := testContext(t)
	e := &env{t: t, dir: t.TempDir(), progressSeen: make(chan struct{}, 8)}
	e.weather = weatherServer(e.progressSeen)
	store, err := credentials.Open(ctx, credentials.Options{Backend: credentials.BackendFile, FileDir: filepath.Join(e.dir, "keyring"),
		Passphrase: func(string) (string, error) { return passphrase, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("vault", "token", credentials.NewSecret(canary)); err != nil {
		t.Fatal(err)
	}
	e.red = store.Redactor()
	e.audit = filepath.Join(e.dir, "audit.jsonl")
	e.orch, err = orchestrator.New(orchestrator.Options{
		Servers: append([]orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(e.weather)},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendarServer())},
			{Config: connectors.Config{Name: "vault", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(vaultServer())},
		}, o.extra...),
		AuditPath: e.audit,
		PinDir:    filepath.Join(e.dir, "pins"),
		Policy:    o.policy,
		Redactor:  e.red,
		Host: orchestrator.Host{
			PromptsChanged: func(server string) {
				if f := e.onPrompts.Load(); f != nil {
					(*f)(server)
				}
			},
			ToolsChanged: func(server string, err error) {
				if f := e.onTools.Load(); f != nil {
					(*f)(server, err)
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.orch.Close() })
	e.orch.Connect(ctx)
	return e
}

// commands are the slash commands over e, Refreshed, with env's fields
// set as the chat would.
func (e *env) commands(se slash.Env) *slash.Commands {
	se.Orchestrator, se.Redactor = e.orch, e.red
	if se.SaveDir == "" {
		se.SaveDir = e.dir
	}
	c := slash.New(se)
	c.Refresh(testContext(e.t))
	return c
}

// session is a conversation with a fake model playing script.
func (e *env) session(opts agent.Options, script ...fakellm.Turn) (*agent.Session, *fakellm.Server) {
	e.t.Helper()
	llm := fakellm.Start(apiKey, script...)
	e.t.Cleanup(llm.Close)
	m, err := agent.NewModel(testContext(e.t), agent.Config{Provider: agent.ProviderOpenAI, Model: "fake-model",
		APIKey: credentials.NewSecret(apiKey), BaseURL: llm.OpenAIURL()})
	if err != nil {
		e.t.Fatal(err)
	}
	opts.Model, opts.Orchestrator, opts.Redactor = m, e.orch, e.red
	sess, err := agent.NewSession(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return sess, llm
}

// run runs line and fails the test on an error.
func run(t *testing.T, c *slash.Commands, line string) (*sink, chat.Result) {
	t.Helper()
	out := &sink{}
	res, err := c.Run(testContext(t), line, out)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out, res
}

// runErr runs line, which must fail with an error holding each of want.
func runErr(t *testing.T, c *slash.Commands, line string, want ...string) {
	t.Helper()
	_, err := c.Run(testContext(t), line, &sink{})
	if err == nil {
		t.Fatalf("%s: no error", line)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", line, err, w)
		}
	}
}

// heldBy is a transcript whose context holds server's output.
func heldBy(server string) []agent.Entry {
	return []agent.Entry{
		{Message: agent.Message{Role: agent.RoleUser, Text: "what is there?"}},
		{Message: agent.Message{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "c1", Name: server + "__x", Args: "{}"}}}},
		{Message: agent.Message{Role: agent.RoleTool, Result: &agent.ToolResult{CallID: "c1", Name: server + "__x", Text: "data of " + server}}, Provenance: orchestrator.ProvenanceOf(server)},
	}
}

func noCanary(t *testing.T, what, text string) {
	t.Helper()
	if strings.Contains(text, canary) {
		t.Errorf("%s holds the canary secret:\n%s", what, text)
	}
}
