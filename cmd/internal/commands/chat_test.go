package commands_test

//lint:file-ignore SA1019 the weather server asks for sampling, deprecated from protocol 2026-07-28 on

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/internal/fakellm"
)

// The model's key, and a secret of the calendar server's: neither may
// reach any output, saved session, other server or the model.
const (
	llmKey      = "sk-llm-canary-Hq8Zp3Rw6Tn1"
	calendarKey = "cal-canary-Vb4Nm7Xc2Lk9"
)

// chatServers are loopback HTTP weather and calendar servers that record
// what reaches them.
type chatServers struct {
	weather, calendar *httptest.Server

	mu       sync.Mutex
	created  []string // create_event titles
	requests []string // every request's headers and body, to both servers
	// weatherDead makes the weather server drop every request from the
	// next one on, as a server that died.
	weatherDead atomic.Bool
	// dieAfter, when above 0, kills the weather server once it has
	// answered that many tool calls.
	dieAfter    atomic.Int32
	weatherText string
}

func (cs *chatServers) record(r *http.Request) string {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	h, _ := json.Marshal(r.Header)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.requests = append(cs.requests, string(h)+"\n"+string(body))
	return string(body)
}

func (cs *chatServers) calls() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.created...)
}

func startChatServers(t *testing.T) *chatServers {
	t.Helper()
	cs := &chatServers{weatherText: "sunny in Lisbon, 24C"}
	// 2025-11-25, where servers send sampling and elicitation requests.
	w := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	mcp.AddTool(w, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			City string `json:"city"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: cs.weatherText}}}, nil, nil
		})
	mcp.AddTool(w, &mcp.Tool{Name: "get_alerts", Description: "Weather alerts.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("alerts backend refused token " + calendarKey)
		})
	mcp.AddTool(w, &mcp.Tool{Name: "confirm_city", Description: "Asks the user which city.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Which city?", RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "elicitation: " + res.Action}}}, nil, nil
		})
	mcp.AddTool(w, &mcp.Tool{Name: "summarize", Description: "Summarizes the forecast with the client's model.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize: sunny"}}}})
			if err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "sampling failed: " + err.Error()}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "summary: " + res.Content.(*mcp.TextContent).Text}}}, nil, nil
		})
	// Stateful, so that the server can ask the client.
	wh := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return w }, nil)
	cs.weather = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body := cs.record(r)
		if cs.weatherDead.Load() {
			if hj, ok := rw.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(rw, "gone", http.StatusBadGateway)
			return
		}
		// Marked before this call is answered: the client may send the
		// next request as soon as it has the answer.
		if strings.Contains(body, `"tools/call"`) && cs.dieAfter.Add(-1) == 0 {
			cs.weatherDead.Store(true)
		}
		wh.ServeHTTP(rw, r)
	}))
	t.Cleanup(cs.weather.Close)

	c := mcp.NewServer(&mcp.Implementation{Name: "calendar", Version: "1"}, nil)
	mcp.AddTool(c, &mcp.Tool{Name: "create_event", Description: "Create an event."},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			Title string `json:"title"`
		}) (*mcp.CallToolResult, any, error) {
			cs.mu.Lock()
			cs.created = append(cs.created, in.Title)
			cs.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "event created: " + in.Title}}}, nil, nil
		})
	mcp.AddTool(c, &mcp.Tool{Name: "list_events", Description: "List events.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "no events"}}}, nil, nil
		})
	ch := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return c }, &mcp.StreamableHTTPOptions{Stateless: true})
	cs.calendar = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		cs.record(r)
		if r.Header.Get("X-API-Key") != calendarKey {
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		ch.ServeHTTP(rw, r)
	}))
	t.Cleanup(cs.calendar.Close)
	return cs
}

// chatEnv is a test home with the chat servers, the calendar's key and the
// model's key in the file keyring, and a fake model provider.
type chatEnv struct {
	*testEnv
	servers *chatServers
	llm     *fakellm.Server
	// provider is the llm block's provider.
	provider string
	extra    string // more config (policy, approvals)
	sampling string // the weather server's sampling setting
}

func newChatEnv(t *testing.T, provider string, script ...fakellm.Turn) *chatEnv {
	t.Helper()
	e := &chatEnv{testEnv: newTestEnv(t), servers: startChatServers(t), provider: provider}
	e.canary = append(e.canary, llmKey, calendarKey)
	e.llm = fakellm.Start(llmKey, script...)
	t.Cleanup(e.llm.Close)
	e.write()
	e.mustRun(calendarKey, "secret", "set", "calendar", "api-key")
	e.mustRun(llmKey, "secret", "set", "llm", "api_key")
	return e
}

func (e *chatEnv) write() {
	url := e.llm.OpenAIURL()
	if e.provider == "anthropic" {
		url = e.llm.AnthropicURL()
	}
	sampling := ""
	if e.sampling != "" {
		sampling = "\n    sampling: " + e.sampling
	}
	e.writeConfig("servers:\n  weather:\n    url: " + e.servers.weather.URL + sampling + "\n" +
		"  calendar:\n    url: " + e.servers.calendar.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n" +
		"llm:\n  provider: " + e.provider + "\n  model: fake-model\n  base_url: " + url + "\n  api_key_secret: api_key\n" + e.extra)
}

// script replaces the fake model's turns (a new provider on a new port).
func (e *chatEnv) script(turns ...fakellm.Turn) {
	e.llm.Close()
	e.llm = fakellm.Start(llmKey, turns...)
	e.write()
}

// noLeaks checks that no canary reached the model, a server, a saved
// session or the audit log.
func (e *chatEnv) noLeaks() {
	e.t.Helper()
	bodies := e.llm.Bodies()
	for _, c := range []string{llmKey, calendarKey, canaryPassphrase} {
		if strings.Contains(bodies, c) {
			e.t.Errorf("a request to the model holds the secret %q", c)
		}
	}
	e.servers.mu.Lock()
	reqs := strings.Join(e.servers.requests, "\n")
	e.servers.mu.Unlock()
	if strings.Contains(reqs, llmKey) {
		e.t.Errorf("the model's key reached an MCP server")
	}
	files, _ := filepath.Glob(filepath.Join(e.dir, "state", "mediator", "chat", "*"))
	files = append(files, filepath.Join(e.dir, "state", "mediator", "audit.jsonl"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, c := range []string{llmKey, calendarKey} {
			if strings.Contains(string(data), c) {
				e.t.Errorf("%s holds the secret %q", f, c)
			}
		}
	}
}

func (e *chatEnv) sessionFiles() []string {
	files, _ := filepath.Glob(filepath.Join(e.dir, "state", "mediator", "chat", "*.jsonl"))
	return files
}

// seed is the seed flow: the forecast, then an event made of it.
func seed() []fakellm.Turn {
	return []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}, Usage: fakellm.Usage{Input: 10, Output: 5}},
		{ToolCalls: []fakellm.ToolCall{{ID: "c2", Name: "calendar__create_event", Args: `{"title":"sunny in Lisbon"}`}}, Usage: fakellm.Usage{Input: 20, Output: 5}},
		{Text: "Done: the forecast is in your calendar, or was refused.", Usage: fakellm.Usage{Input: 30, Output: 9}},
	}
}

// The seed flow in one-shot mode: with --approve all the calendar call is
// approved as a tool call, but the flow weather -> calendar is not, so it
// is refused, explained on stderr with the policy line and the flag, and
// the model is told; with --allow-flow, or policy.flows, it is made.
func TestChatOneShotSeedFlow(t *testing.T) {
	for _, provider := range []string{"openai-compatible", "anthropic"} {
		t.Run(provider, func(t *testing.T) {
			e := newChatEnv(t, provider, seed()...)
			r := e.mustRun("", "chat", "-p", "Put the Lisbon forecast in my calendar", "--approve", "all")
			if got := e.servers.calls(); len(got) != 0 {
				t.Fatalf("the calendar got %v without the flow allowed", got)
			}
			if !strings.Contains(r.stdout, "Done:") {
				t.Errorf("stdout: %q", r.stdout)
			}
			for _, want := range []string{"refused: calendar.create_event:", "weather -> calendar", "policy.flows", "--allow-flow weather->calendar", "session "} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if !strings.Contains(e.llm.Bodies(), "may not be sent to server") {
				t.Errorf("the model was not told of the refusal")
			}
			e.noLeaks()

			e.script(seed()...)
			e.mustRun("", "chat", "-p", "Put the Lisbon forecast in my calendar", "--approve", "all", "--allow-flow", "weather->calendar")
			if got := e.servers.calls(); len(got) != 1 || got[0] != "sunny in Lisbon" {
				t.Fatalf("with --allow-flow the calendar got %v", got)
			}

			e.extra = "policy:\n  flows: [\"weather -> calendar\"]\n"
			e.script(seed()...)
			e.mustRun("", "chat", "-p", "Put the Lisbon forecast in my calendar", "--approve", "all")
			if got := e.servers.calls(); len(got) != 2 {
				t.Fatalf("with policy.flows the calendar got %v", got)
			}
			e.noLeaks()
		})
	}
}

// --approve read-only (the default) approves the read-only forecast and
// refuses the write tool, saying why on stderr; --json has the answer,
// each call, the usage, the session and what the context holds.
func TestChatOneShotReadOnlyAndJSON(t *testing.T) {
	e := newChatEnv(t, "openai-compatible", seed()...)
	r := e.mustRun("", "chat", "-p", "Put the Lisbon forecast in my calendar", "--json", "--allow-flow", "weather->calendar")
	if got := e.servers.calls(); len(got) != 0 {
		t.Fatalf("read-only mode made the write call: %v", got)
	}
	if !strings.Contains(r.stderr, "refused: calendar.create_event: ") || !strings.Contains(r.stderr, "--approve all") {
		t.Errorf("stderr: %s", r.stderr)
	}
	var out struct {
		Answer    string
		ToolCalls []struct {
			Server, Tool, Name, Error, Result string
			Refused                           bool
			Args                              map[string]any
		} `json:"tool_calls"`
		Usage struct {
			Input  int64 `json:"input_tokens"`
			Output int64 `json:"output_tokens"`
		}
		Session string
		Context []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if !strings.HasPrefix(out.Answer, "Done:") || len(out.ToolCalls) != 2 || out.Usage.Input != 60 || out.Usage.Output != 19 {
		t.Fatalf("json: %+v", out)
	}
	fc, cc := out.ToolCalls[0], out.ToolCalls[1]
	if fc.Server != "weather" || fc.Tool != "get_forecast" || fc.Refused || fc.Result != "sunny in Lisbon, 24C" || fc.Args["city"] != "Lisbon" {
		t.Errorf("forecast call: %+v", fc)
	}
	if cc.Server != "calendar" || !cc.Refused || !strings.Contains(cc.Error, "denied") {
		t.Errorf("calendar call: %+v", cc)
	}
	if len(out.Context) != 1 || out.Context[0] != "weather" {
		t.Errorf("context: %v", out.Context)
	}
	if files := e.sessionFiles(); len(files) != 1 || !strings.Contains(files[0], out.Session) || out.Session == "" {
		t.Errorf("session %q, files %v", out.Session, files)
	}
}

// Without a model configured, chat -p exits 2 with the advice direct mode
// shows; a model without its key stored names the exact command; chat
// without a terminal and without -p is a usage error.
func TestChatNoModel(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n  weather: {url: https://weather.example.com/mcp}\n")
	r := e.run("", "chat", "-p", "hello")
	expectCode(t, r, 2, "chat -p without a model")
	// Its lines are indented under "error:", as every message's are.
	if !strings.Contains(r.stderr, strings.ReplaceAll(config.NoModelAdvice(e.cfgPath), "\n", "\n  ")) {
		t.Errorf("stderr lacks the advice:\n%s", r.stderr)
	}
	r = e.run("", "chat")
	expectCode(t, r, 2, "chat without a terminal")
	if !strings.Contains(r.stderr, "needs a terminal") || !strings.Contains(r.stderr, "-p") {
		t.Errorf("stderr: %s", r.stderr)
	}

	e.writeConfig("llm: {provider: anthropic, model: claude}\n")
	r = e.run("", "chat", "-p", "hello")
	expectCode(t, r, 2, "chat -p without the key")
	if !strings.Contains(r.stderr, "mediator secret set llm api_key") {
		t.Errorf("stderr does not say how to store the key: %s", r.stderr)
	}

	for _, bad := range [][]string{
		{"chat", "-p", "x", "--allow-flow", "weather"},
		{"chat", "-p", "x", "--allow-flow", "weather->calendr"},
		{"chat", "-p", "x", "--approve", "some"},
		{"chat", "--json"},
		{"chat", "--continue", "--resume", "x"},
	} {
		r = e.run("", bad...)
		expectCode(t, r, 2, strings.Join(bad, " "))
	}
	if r := e.run("", "chat", "-p", "x", "--allow-flow", "weather"); !strings.Contains(r.stderr, "--allow-flow weather: invalid flow") {
		t.Errorf("a bad --allow-flow is not named: %s", r.stderr)
	}
}

// `secret set llm` stores the model's key although llm is no server, and
// the key reaches the provider in its auth header and nothing else.
func TestChatKeyReachesOnlyTheProvider(t *testing.T) {
	for _, provider := range []string{"openai-compatible", "anthropic"} {
		t.Run(provider, func(t *testing.T) {
			e := newChatEnv(t, provider, fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}}, fakellm.Turn{Text: "Sunny."})
			r := e.mustRun(llmKey, "secret", "set", "llm", "api_key")
			if strings.Contains(r.stderr, "not in the config") {
				t.Errorf("secret set llm warns: %s", r.stderr)
			}
			// A weather result holding the calendar's key, as a server that
			// echoes one would: masked before the model, stdout or the file.
			e.servers.weatherText = "sunny; debug: " + calendarKey
			r = e.mustRun("", "chat", "-p", "Weather?", "--json")
			reqs := e.llm.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests to the model", len(reqs))
			}
			for _, q := range reqs {
				got := q.Header.Get("Authorization")
				if provider == "anthropic" {
					got = q.Header.Get("X-Api-Key")
				} else {
					got = strings.TrimPrefix(got, "Bearer ")
				}
				if got != llmKey {
					t.Errorf("the provider got key %q", got)
				}
			}
			if !strings.Contains(r.stdout, "sunny; debug: ") {
				t.Errorf("stdout: %s", r.stdout)
			}
			e.noLeaks()

			// list and rm take llm like a server, without a warning.
			r = e.mustRun("", "secret", "list", "llm")
			if !strings.Contains(r.stdout, "llm     api_key") || strings.Contains(r.stderr, "not in the config") {
				t.Errorf("secret list llm:\nstdout %s\nstderr %s", r.stdout, r.stderr)
			}
			e.mustRun("", "secret", "rm", "llm", "api_key")
			r = e.run("", "chat", "-p", "Weather?")
			expectCode(t, r, 2, "chat -p after the key was removed")
			if !strings.Contains(r.stderr, "store it with: mediator secret set llm api_key") {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

// Sessions: -p saves one; chat sessions lists it (--json too); --continue
// and --resume reopen it with its provenance, so a calendar call while the
// context holds weather's output is refused without the flow; an unknown
// ID names the closest.
func TestChatSessions(t *testing.T) {
	e := newChatEnv(t, "openai-compatible",
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
		fakellm.Turn{Text: "Sunny in Lisbon."})
	r := e.mustRun("", "chat", "-p", "What is the weather\nin Lisbon?", "--json")
	var first struct{ Session string }
	if err := json.Unmarshal([]byte(r.stdout), &first); err != nil || first.Session == "" {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	r = e.mustRun("", "chat", "sessions")
	for _, want := range []string{first.Session, "openai-compatible/fake-model", "What is the weather in Lisbon?", "weather", "4"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("chat sessions lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("", "chat", "sessions", "--json")
	var list []struct {
		ID       string
		Messages int
		Context  []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Messages != 4 || list[0].Context[0] != "weather" {
		t.Fatalf("sessions --json: %v %s", err, r.stdout)
	}

	resumed := []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "c9", Name: "calendar__create_event", Args: `{"title":"walk"}`}}},
		{Text: "Refused, it seems."},
	}
	for _, how := range [][]string{{"--continue"}, {"--resume", first.Session}} {
		e.script(resumed...)
		args := append([]string{"chat", "-p", "Add a walk to my calendar", "--approve", "all"}, how...)
		r = e.mustRun("", args...)
		if got := e.servers.calls(); len(got) != 0 {
			t.Fatalf("%v: a resumed session holding weather's output reached the calendar: %v", how, got)
		}
		if !strings.Contains(r.stderr, "refused: calendar.create_event") || !strings.Contains(r.stderr, "--allow-flow weather->calendar") {
			t.Errorf("%v: stderr %s", how, r.stderr)
		}
		if !strings.Contains(r.stderr, "session "+first.Session+" saved") {
			t.Errorf("%v: the session saved is not the resumed one: %s", how, r.stderr)
		}
		// The model saw the earlier conversation.
		if reqs := e.llm.Requests(); len(reqs) == 0 || !strings.Contains(string(reqs[0].Body), "Sunny in Lisbon.") {
			t.Errorf("%v: the model was not sent the saved conversation", how)
		}
	}
	if files := e.sessionFiles(); len(files) != 1 {
		t.Errorf("session files: %v", files)
	}
	typo := first.Session[:len(first.Session)-1] + "z"
	r = e.run("", "chat", "-p", "x", "--resume", typo)
	expectCode(t, r, 2, "an unknown session")
	if !strings.Contains(r.stderr, "closest: "+first.Session) {
		t.Errorf("stderr: %s", r.stderr)
	}
	e.noLeaks()
}

// A server that dies mid-conversation: the call fails, the model is told,
// and the chat goes on to its answer.
func TestChatServerDiesMidConversation(t *testing.T) {
	e := newChatEnv(t, "openai-compatible",
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c2", Name: "weather__get_forecast", Args: `{"city":"Porto"}`}}},
		fakellm.Turn{Text: "Lisbon is sunny; Porto could not be reached."})
	e.servers.dieAfter.Store(1)
	r := e.mustRun("", "chat", "-p", "Weather in Lisbon and Porto?", "--json")
	var out struct {
		Answer    string
		ToolCalls []struct {
			Refused bool
			Error   string
		} `json:"tool_calls"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(out.ToolCalls) != 2 || out.ToolCalls[0].Error != "" || out.ToolCalls[1].Refused || !strings.Contains(out.ToolCalls[1].Error, "failed") {
		t.Fatalf("tool calls: %+v", out.ToolCalls)
	}
	if !strings.Contains(out.Answer, "Porto could not be reached") {
		t.Errorf("answer: %q", out.Answer)
	}
}

// In one-shot mode a server's elicitation is declined, and stderr names
// the server; a sampling request the server's setting allows goes to the
// model, one it says to ask about is declined.
func TestChatOneShotElicitationAndSampling(t *testing.T) {
	e := newChatEnv(t, "openai-compatible",
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__confirm_city", Args: `{}`}}},
		fakellm.Turn{Text: "You declined."})
	r := e.mustRun("", "chat", "-p", "Which city?", "--json")
	if !strings.Contains(r.stderr, "server weather asked for input (elicitation); declined") || !strings.Contains(r.stdout, "elicitation: decline") {
		t.Errorf("elicitation:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}

	e.sampling = "allow"
	e.script(
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__summarize", Args: `{}`}}},
		fakellm.Turn{Text: "Warm and dry."}, // the sampling request's answer
		fakellm.Turn{Text: "The summary says warm and dry."})
	r = e.mustRun("", "chat", "-p", "Summarize the weather", "--json")
	if !strings.Contains(r.stdout, "summary: Warm and dry.") {
		t.Errorf("sampling allowed: stdout %s\nstderr %s", r.stdout, r.stderr)
	}

	e.sampling = "ask"
	e.script(
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__summarize", Args: `{}`}}},
		fakellm.Turn{Text: "It was declined."})
	r = e.mustRun("", "chat", "-p", "Summarize the weather", "--json")
	if !strings.Contains(r.stderr, "server weather asked to use the model (sampling); declined") || !strings.Contains(r.stdout, "sampling failed") {
		t.Errorf("sampling ask:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	if e.llm.Left() != 0 {
		t.Errorf("%d turns left: the declined request reached the model?", e.llm.Left())
	}
}

// A secret in a server's error never reaches the model, the output or
// the session file either.
func TestChatSecretInErrorMasked(t *testing.T) {
	e := newChatEnv(t, "openai-compatible",
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "weather__get_alerts", Args: `{}`}}},
		fakellm.Turn{Text: "The alerts failed."})
	r := e.mustRun("", "chat", "-p", "Any alerts?", "--json")
	if !strings.Contains(r.stdout, "alerts backend refused token") || !strings.Contains(e.llm.Bodies(), "alerts backend refused token") {
		t.Fatalf("the error did not reach the model and the output: %s", r.stdout)
	}
	e.noLeaks()
}

// A model that fails (the provider answers with an error) is exit 3, the
// model named; --servers offers only those servers' tools, and an unknown
// one is exit 2.
func TestChatModelErrorAndServers(t *testing.T) {
	e := newChatEnv(t, "openai-compatible") // no turns: every request fails
	r := e.run("", "chat", "-p", "hello")
	expectCode(t, r, 3, "a failing model")
	if !strings.Contains(r.stderr, "openai-compatible/fake-model") {
		t.Errorf("stderr does not name the model: %s", r.stderr)
	}

	e.script(fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "calendar__list_events", Args: `{}`}}}, fakellm.Turn{Text: "No calendar here."})
	r = e.mustRun("", "chat", "-p", "My events?", "--servers", "weather", "--json")
	if !strings.Contains(r.stdout, `there is no tool \"calendar__list_events\"`) {
		t.Errorf("a server left out by --servers was called: %s", r.stdout)
	}
	if body := string(e.llm.Requests()[0].Body); strings.Contains(body, "calendar__") || !strings.Contains(body, "weather__get_forecast") {
		t.Errorf("the tools offered are not weather's alone")
	}
	// A server that cannot be reached is named on stderr; the chat goes on
	// without its tools.
	e.servers.calendar.Close()
	e.script(fakellm.Turn{Text: "Only the weather today."})
	r = e.mustRun("", "chat", "-p", "Hello")
	if !strings.Contains(r.stderr, "warning: server calendar cannot be used") || !strings.Contains(r.stdout, "Only the weather today.") {
		t.Errorf("an unreachable server:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}

	r = e.run("", "chat", "-p", "x", "--servers", "wether")
	expectCode(t, r, 2, "an unknown server")
	if !strings.Contains(r.stderr, "wether") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// -p - reads the question from stdin; --continue with nothing saved is a
// usage error that says so.
func TestChatPromptFromStdin(t *testing.T) {
	e := newChatEnv(t, "openai-compatible", fakellm.Turn{Text: "Hello back."})
	r := e.run("", "chat", "-p", "hi", "--continue")
	expectCode(t, r, 2, "--continue with nothing saved")
	if !strings.Contains(r.stderr, "no saved chat session to continue") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = e.mustRun("A question from a pipe\n", "chat", "-p", "-")
	if r.stdout != "Hello back.\n" || !strings.Contains(e.llm.Bodies(), "A question from a pipe") {
		t.Errorf("stdout %q; the model got %s", r.stdout, e.llm.Bodies())
	}
}
