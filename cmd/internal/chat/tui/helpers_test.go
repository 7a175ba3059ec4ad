package tui

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

const apiKey = "sk-fake-model-key-tui"

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// calendar is an in-process calendar server that records its calls:
// create_event (not read-only, so the default rules ask).
type calendar struct {
	mu    sync.Mutex
	calls []string
}

func (c *calendar) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func (c *calendar) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "calendar", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "create_event", Description: "Create an event."},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			Title string `json:"title"`
		}) (*mcp.CallToolResult, any, error) {
			b, _ := json.Marshal(in)
			c.mu.Lock()
			c.calls = append(c.calls, "create_event: "+string(b))
			c.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "event created: " + in.Title}}}, nil, nil
		})
	return s
}

// weatherTool is get_forecast's handler.
type weatherTool func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error)

// forecast answers with text.
func forecast(text string) weatherTool {
	return func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
	}
}

func weatherServer(h weatherTool) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			City string `json:"city,omitempty"`
		}) (*mcp.CallToolResult, any, error) {
			res, err := h(ctx, req)
			return res, nil, err
		})
	return s
}

// world is a real orchestrator over in-process weather and calendar
// servers, auditing to a file, a fake model provider playing a script,
// and a session over them whose Approver is the UI's.
type world struct {
	orch *orchestrator.Orchestrator
	cal  *calendar
	llm  *fakellm.Server
	sess *agent.Session
	ui   *UI
	// turns counts AfterTurn calls.
	mu    sync.Mutex
	turns int
}

type worldOptions struct {
	weather   weatherTool // nil: a plain forecast
	script    []fakellm.Turn
	approvals agent.Approvals
	ui        Options // Session, Status, AfterTurn and Commands are filled in
	extra     []orchestrator.ServerConfig
}

func newWorld(t *testing.T, wo worldOptions) *world {
	t.Helper()
	ctx := testContext(t)
	dir := t.TempDir()
	w := &world{cal: &calendar{}}
	if wo.weather == nil {
		wo.weather = forecast("sunny in Lisbon")
	}
	red := credentials.NewRedactor()
	w.llm = fakellm.Start(apiKey, wo.script...)
	t.Cleanup(w.llm.Close)
	model, err := agent.NewModel(ctx, agent.Config{Provider: agent.ProviderOpenAI, Model: "fake-model", APIKey: credentials.NewSecret(apiKey), BaseURL: w.llm.OpenAIURL()})
	if err != nil {
		t.Fatal(err)
	}
	opts := wo.ui
	if opts.Commands == nil {
		opts.Commands = &commands{}
	}
	opts.AfterTurn = func() {
		w.mu.Lock()
		w.turns++
		w.mu.Unlock()
	}
	opts.Status = func() chat.Status {
		return chat.Status{Model: "openai/fake-model", Servers: w.orch.Servers(), Context: w.sess.Provenance().Servers(), Usage: w.sess.Usage()}
	}
	w.ui = New(opts)
	// What servers ask goes to the UI, as the chat command wires it.
	host := orchestrator.Host{
		Elicit: w.ui.Elicit,
		Sample: func(ctx context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
			if req.Ask {
				if ok, err := w.ui.ApproveSampling(ctx, req); err != nil || !ok {
					return nil, errors.New("the user denied the sampling request")
				}
			}
			return agent.Sample(ctx, model, req)
		},
	}
	w.orch, err = orchestrator.New(orchestrator.Options{
		Servers: append([]orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weatherServer(wo.weather))},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(w.cal.server())},
		}, wo.extra...),
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		PinDir:    filepath.Join(dir, "pins"),
		Redactor:  red,
		Host:      host,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.orch.Close() })
	w.orch.Connect(ctx)
	w.sess, err = agent.NewSession(agent.Options{Model: model, Orchestrator: w.orch, Redactor: red, Approvals: wo.approvals, Approver: w.ui.Approver()})
	if err != nil {
		t.Fatal(err)
	}
	w.ui.SetSession(w.sess)
	return w
}

func (w *world) afterTurns() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.turns
}

// commands is the tests' chat.Commands: a few commands that exercise
// each part of the Sink and of Result.
type commands struct {
	mu   sync.Mutex
	runs []string
}

var commandHelp = []chat.CommandHelp{
	{Name: "/echo", Args: "TEXT", Summary: "show TEXT as Markdown"},
	{Name: "/call", Summary: "show a tool call block"},
	{Name: "/clear", Summary: "clear the conversation"},
	{Name: "/servers", Summary: "list the servers"},
	{Name: "/slow", Summary: "report progress, then wait to be cancelled"},
	{Name: "/flow", Summary: "show a flow run"},
	{Name: "/prompt", Summary: "send a prompt to the model"},
	{Name: "/quit", Summary: "leave"},
}

func (c *commands) Complete(line string) []string {
	var out []string
	for _, h := range commandHelp {
		if strings.HasPrefix(h.Name, line) && h.Name != line {
			out = append(out, h.Name)
		}
	}
	return out
}

func (c *commands) Help() []chat.CommandHelp { return commandHelp }

func (c *commands) Run(ctx context.Context, line string, out chat.Sink) (chat.Result, error) {
	c.mu.Lock()
	c.runs = append(c.runs, line)
	c.mu.Unlock()
	name, rest, _ := strings.Cut(line, " ")
	switch name {
	case "/echo":
		out.Markdown("**echo:** " + rest)
	case "/call":
		out.Call(&agent.CallInfo{ID: "c1", Server: "calendar", Tool: "create_event", Args: map[string]any{"title": "x"},
			Result: &agent.ToolResult{Name: "calendar__create_event", Text: "server refused\x1b]52;c;ZXZpbA==\x07 the title", IsError: true}, Duration: 1500 * time.Millisecond})
	case "/clear":
		return chat.Result{Action: chat.ActionClear}, nil
	case "/quit":
		return chat.Result{Action: chat.ActionQuit}, nil
	case "/slow":
		out.Progress(connectors.Progress{Server: "weather", Progress: 1, Total: 2, Message: "halfway there"})
		<-ctx.Done()
		return chat.Result{}, ctx.Err()
	case "/flow":
		out.Flow(workflows.Event{Kind: workflows.EventRunStarted, RunID: "run-7"})
		out.Flow(workflows.Event{Kind: workflows.EventStepStarted, Path: "forecast"})
		out.Flow(workflows.Event{Kind: workflows.EventStepFinished, Path: "forecast", Status: "succeeded"})
		out.Flow(workflows.Event{Kind: workflows.EventStepFinished, Path: "remind", Status: "failed", Err: errors.New("calendar is down")})
		out.Flow(workflows.Event{Kind: workflows.EventRunFinished, Status: workflows.RunFailed})
	case "/prompt":
		return chat.Result{Send: &agent.Input{Text: "from a prompt", Attachments: []agent.Attachment{{Server: "weather", Label: "daily", Text: "Summarize the forecast."}}}}, nil
	default:
		return chat.Result{}, errors.New("unknown command " + name)
	}
	return chat.Result{}, nil
}

func (c *commands) Expand(ctx context.Context, line string) (agent.Input, error) {
	return agent.Input{Text: line}, nil
}

// screen runs a model under teatest with a virtual terminal as its
// screen, in true colour unless told otherwise.
type screen struct {
	t   *testing.T
	tm  *teatest.TestModel
	emu *vt.Emulator
	raw bytes.Buffer // every byte the program wrote
	out io.Reader
}

func run(t *testing.T, m tea.Model, width, height int) *screen {
	t.Helper()
	s := &screen{t: t, emu: vt.NewEmulator(width, height)}
	go io.Copy(io.Discard, s.emu) // the emulator's replies; unread, its writes block
	s.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(width, height),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.TrueColor)))
	s.out = io.TeeReader(s.tm.Output(), io.MultiWriter(onlcr{s.emu}, &s.raw))
	t.Cleanup(func() {
		_ = s.tm.Quit()
		s.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return s
}

// onlcr maps each newline to CR LF, as a terminal's line discipline
// does for a program's output: Bubble Tea draws for one whose input is
// not a terminal as if it did (its renderer's "map newline").
type onlcr struct{ w io.Writer }

func (o onlcr) Write(p []byte) (int, error) {
	if _, err := o.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// waitFor waits until the screen shows every one of texts.
func (s *screen) waitFor(texts ...string) {
	s.t.Helper()
	s.waitUntil(strings.Join(texts, " and "), func(screen string) bool {
		for _, t := range texts {
			if !strings.Contains(screen, t) {
				return false
			}
		}
		return true
	})
}

// waitGone waits until the screen shows none of texts.
func (s *screen) waitGone(texts ...string) {
	s.t.Helper()
	s.waitUntil("no "+strings.Join(texts, " nor "), func(screen string) bool {
		for _, t := range texts {
			if strings.Contains(screen, t) {
				return false
			}
		}
		return true
	})
}

func (s *screen) waitUntil(what string, cond func(screen string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: the machine may be busy; not a measure
	for {
		_, _ = io.ReadAll(s.out)
		// Text the width wrapped is found on the screen's words joined.
		screen := s.emu.String()
		if cond(screen + "\n" + strings.Join(strings.Fields(screen), " ")) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %s; it shows:\n%s", what, s.emu.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flat is the screen with its lines joined, for text the width wraps.
func (s *screen) flat() string {
	_, _ = io.ReadAll(s.out)
	return strings.Join(strings.Fields(s.emu.String()), " ")
}

func (s *screen) typeText(text string) { s.tm.Type(text) }
func (s *screen) press(code rune, mod ...tea.KeyMod) {
	var m tea.KeyMod
	for _, x := range mod {
		m |= x
	}
	s.tm.Send(tea.KeyPressMsg{Code: code, Mod: m})
}
func (s *screen) enter() { s.press(tea.KeyEnter) }
func (s *screen) key(r rune) {
	s.tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
}

// send types text and presses enter.
func (s *screen) send(text string) {
	s.typeText(text)
	s.enter()
}
