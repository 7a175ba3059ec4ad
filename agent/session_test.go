package agent_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

const apiKey = "sk-fake-model-key-6d1f"

// wire is one way of talking to the model: a provider and whether it
// streams. Every scenario runs over each.
type wire struct {
	name     string
	provider agent.Provider
	noStream bool
}

var wires = []wire{
	{"openai-stream", agent.ProviderOpenAI, false},
	{"openai-whole", agent.ProviderOpenAI, true},
	{"openai-compatible-stream", agent.ProviderOpenAICompatible, false},
	{"anthropic-stream", agent.ProviderAnthropic, false},
	{"anthropic-whole", agent.ProviderAnthropic, true},
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// calendar is an in-process calendar server that records the calls it
// gets: create_event (not read-only) and list_events (read-only).
type calendar struct {
	mu    sync.Mutex
	calls []string // "tool: arguments as JSON"
}

func (c *calendar) record(tool string, args any) {
	b, _ := json.Marshal(args)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, tool+": "+string(b))
}

func (c *calendar) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func (c *calendar) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "calendar", Version: "1"}, nil)
	type event struct {
		Title string `json:"title"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "create_event", Description: "Create an event."},
		func(ctx context.Context, req *mcp.CallToolRequest, in event) (*mcp.CallToolResult, any, error) {
			c.record("create_event", in)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "event created: " + in.Title}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "list_events", Description: "List events.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, in event) (*mcp.CallToolResult, any, error) {
			c.record("list_events", in)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "no events"}}}, nil, nil
		})
	return s
}

// weatherServer answers get_forecast (read-only) with text.
func weatherServer(text string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			City string `json:"city"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	return s
}

// setup is a real orchestrator over in-process weather and calendar
// servers, auditing to a file, and a fake model provider.
type setup struct {
	orch  *orchestrator.Orchestrator
	cal   *calendar
	llm   *fakellm.Server
	model agent.Model
	audit string
	red   *credentials.Redactor
}

type setupOptions struct {
	weather *mcp.Server // nil: a plain forecast
	policy  orchestrator.Policy
	script  []fakellm.Turn
	extra   []orchestrator.ServerConfig // more servers
}

func newSetup(t *testing.T, w wire, so setupOptions) *setup {
	t.Helper()
	ctx := testContext(t)
	dir := t.TempDir()
	s := &setup{cal: &calendar{}, audit: filepath.Join(dir, "audit.jsonl"), red: credentials.NewRedactor()}
	if so.weather == nil {
		so.weather = weatherServer("sunny in Lisbon")
	}
	var err error
	s.orch, err = orchestrator.New(orchestrator.Options{
		Servers: append([]orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(so.weather)},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(s.cal.server())},
		}, so.extra...),
		AuditPath: s.audit,
		PinDir:    filepath.Join(dir, "pins"),
		Policy:    so.policy,
		Redactor:  s.red,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.orch.Close() })
	s.orch.Connect(ctx)

	s.llm = fakellm.Start(apiKey, so.script...)
	t.Cleanup(s.llm.Close)
	cfg := agent.Config{Provider: w.provider, Model: "fake-model", APIKey: credentials.NewSecret(apiKey), NoStreaming: w.noStream}
	switch w.provider {
	case agent.ProviderAnthropic:
		cfg.BaseURL = s.llm.AnthropicURL()
	default:
		cfg.BaseURL = s.llm.OpenAIURL()
	}
	if s.model, err = agent.NewModel(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *setup) session(t *testing.T, opts agent.Options) *agent.Session {
	t.Helper()
	opts.Model, opts.Orchestrator, opts.Redactor = s.model, s.orch, s.red
	sess, err := agent.NewSession(opts)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// results are the tool results in the transcript, by tool name.
func results(sess *agent.Session) map[string]*agent.ToolResult {
	out := map[string]*agent.ToolResult{}
	for _, e := range sess.Transcript() {
		if e.Result != nil {
			out[e.Result.Name] = e.Result
		}
	}
	return out
}

// auditRecords reads the audit log.
func auditRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// The seed flow: the model reads the weather, then makes a calendar event
// of it.
var seedScript = []fakellm.Turn{
	{Text: "Let me check.", ToolCalls: []fakellm.ToolCall{{ID: "call_w", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}, Usage: fakellm.Usage{Input: 100, Output: 10}},
	{ToolCalls: []fakellm.ToolCall{{ID: "call_c", Name: "calendar__create_event", Args: `{"title":"Picnic, sunny in Lisbon"}`}}, Usage: fakellm.Usage{Input: 150, Output: 12}},
	{Text: "All done.", Usage: fakellm.Usage{Input: 200, Output: 5}},
}

// With weather -> calendar in the policy, the calendar call is made, its
// audit record names the flow and what allowed it, and the context holds
// both servers' output.
func TestSeedFlowAllowed(t *testing.T) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{script: seedScript,
				policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: "weather", To: "calendar"}}}})
			sess := s.session(t, agent.Options{Approvals: agent.Approvals{Allow: []string{"calendar.*"}}})
			var texts strings.Builder
			var usage agent.Usage
			reply, err := sess.Send(ctx, "Plan a picnic in Lisbon if it is sunny.", func(u agent.Update) {
				switch u.Kind {
				case agent.UpdateText:
					texts.WriteString(u.Text)
				case agent.UpdateUsage:
					usage = usage.Add(u.Usage)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if reply.Text != "All done." || reply.Steps != 3 {
				t.Errorf("reply %+v, want \"All done.\" after 3 steps", reply)
			}
			if texts.String() != "Let me check.All done." {
				t.Errorf("streamed text %q", texts.String())
			}
			if want := (agent.Usage{InputTokens: 450, OutputTokens: 27}); usage != want || reply.Usage != want {
				t.Errorf("usage streamed %+v, replied %+v, want %+v", usage, reply.Usage, want)
			}
			if got := s.cal.got(); len(got) != 1 || got[0] != `create_event: {"title":"Picnic, sunny in Lisbon"}` {
				t.Errorf("calendar got %q", got)
			}
			if got := sess.Provenance().Servers(); fmt.Sprint(got) != "[calendar weather]" {
				t.Errorf("context holds %v, want calendar and weather", got)
			}
			r := results(sess)["calendar__create_event"]
			if r == nil || r.IsError || r.Text != "event created: Picnic, sunny in Lisbon" {
				t.Errorf("calendar result %+v", r)
			}
			// The model's last request carries both results.
			reqs := s.llm.Requests()
			if len(reqs) != 3 || !strings.Contains(string(reqs[2].Body), "event created") || !strings.Contains(string(reqs[1].Body), "sunny in Lisbon") {
				t.Errorf("the model was not sent the results: %d requests", len(reqs))
			}
			if err := s.orch.SyncAudit(ctx); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, rec := range auditRecords(t, s.audit) {
				if rec["server"] == "calendar" {
					found = true
					if fmt.Sprint(rec["sources"]) != "[weather]" || rec["allowed_by"] != "weather -> calendar (policy)" {
						t.Errorf("calendar's audit record: sources %v, allowed_by %v", rec["sources"], rec["allowed_by"])
					}
				}
			}
			if !found {
				t.Error("no audit record of the calendar call")
			}
		})
	}
}

// Without the flow allowed and with no one to ask (chat -p, --approve
// all), the calendar call is refused before anything is sent, and the
// model is told so, with the line that would allow it.
func TestSeedFlowRefusedWithoutApprover(t *testing.T) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{script: seedScript})
			sess := s.session(t, agent.Options{Approvals: agent.Approvals{Allow: []string{"*"}}})
			var refused []*agent.CallInfo
			reply, err := sess.Send(ctx, "Plan a picnic.", func(u agent.Update) {
				if u.Kind == agent.UpdateToolResult && u.Call.Refused {
					refused = append(refused, u.Call)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if reply.Text != "All done." {
				t.Errorf("reply %q", reply.Text)
			}
			if got := s.cal.got(); len(got) != 0 {
				t.Errorf("calendar got %q, want nothing", got)
			}
			if len(refused) != 1 || refused[0].Server != "calendar" || refused[0].Tool != "create_event" {
				t.Fatalf("refused calls %+v, want calendar.create_event", refused)
			}
			r := results(sess)["calendar__create_event"]
			for _, want := range []string{"refused", `"weather -> calendar" is not allowed`, "policy.flows", "nothing was sent"} {
				if r == nil || !r.IsError || !strings.Contains(r.Text, want) {
					t.Errorf("the model was told %+v, want it to say %q", r, want)
				}
			}
			if !strings.Contains(string(s.llm.Requests()[2].Body), "is not allowed") {
				t.Error("the refusal did not reach the model")
			}
		})
	}
}

// approver records what it is asked and answers from its fields.
type approver struct {
	mu    sync.Mutex
	tools []agent.ToolRequest
	flows []agent.FlowRequest
	tool  orchestrator.Approval
	flow  orchestrator.Approval
}

func (a *approver) ApproveTool(ctx context.Context, req agent.ToolRequest) (orchestrator.Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tools = append(a.tools, req)
	return a.tool, nil
}

func (a *approver) ApproveFlow(ctx context.Context, req agent.FlowRequest) (orchestrator.Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flows = append(a.flows, req)
	return a.flow, nil
}

// A front end's approver is asked about the undeclared flow, is shown
// what would be sent where, and its denial stops the call and is told
// to the model.
func TestSeedFlowAskedAndDenied(t *testing.T) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{script: seedScript})
			ap := &approver{tool: orchestrator.ApprovalOnce, flow: orchestrator.ApprovalDeny}
			sess := s.session(t, agent.Options{Approver: ap})
			if _, err := sess.Send(ctx, "Plan a picnic.", nil); err != nil {
				t.Fatal(err)
			}
			if got := s.cal.got(); len(got) != 0 {
				t.Errorf("calendar got %q, want nothing", got)
			}
			if len(ap.flows) != 1 {
				t.Fatalf("flow approvals asked: %+v, want 1", ap.flows)
			}
			f := ap.flows[0]
			if fmt.Sprint(f.From) != "[weather]" || f.To != "calendar" || f.Target != "create_event" || f.Args["title"] != "Picnic, sunny in Lisbon" {
				t.Errorf("asked %+v", f)
			}
			// create_event is not read-only: the rules' default asked first.
			if len(ap.tools) != 1 || ap.tools[0].Tool != "create_event" || !strings.Contains(ap.tools[0].Reason, "not annotated read-only") {
				t.Errorf("tool approvals asked: %+v", ap.tools)
			}
			if r := results(sess)["calendar__create_event"]; r == nil || !strings.Contains(r.Text, "approval was denied") {
				t.Errorf("the model was told %+v", r)
			}
		})
	}
}

// Approving weather -> calendar for the session allows that tool again
// without asking, but not another tool of the same server: the approval
// is keyed on (sources -> server, tool).
func TestFlowSessionApprovalIsPerTool(t *testing.T) {
	w := wires[0]
	ctx := testContext(t)
	call := func(id, tool string) fakellm.Turn {
		return fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: id, Name: tool, Args: `{"title":"x"}`}}}
	}
	s := newSetup(t, w, setupOptions{script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
		call("c1", "calendar__create_event"), call("c2", "calendar__create_event"), call("c3", "calendar__list_events"),
		{Text: "ok"},
	}})
	ap := &approver{tool: orchestrator.ApprovalSession, flow: orchestrator.ApprovalSession}
	sess := s.session(t, agent.Options{Approver: ap})
	if _, err := sess.Send(ctx, "go", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.cal.got(); len(got) != 3 {
		t.Errorf("calendar got %q, want 3 calls", got)
	}
	var asked []string
	for _, f := range ap.flows {
		asked = append(asked, f.Target)
	}
	if fmt.Sprint(asked) != "[create_event list_events]" {
		t.Errorf("flows asked for %v, want create_event once, then list_events", asked)
	}
	// create_event asked once (then for the session); list_events is
	// read-only and pinned: allowed by default.
	if len(ap.tools) != 1 {
		t.Errorf("tools asked: %+v", ap.tools)
	}
}

// A tool result from weather tells the model to send the conversation to
// calendar; the model obeys, and the call is stopped: the user is shown
// the data and where it comes from, denies, and the model is told.
func TestInjectedInstructionIsStopped(t *testing.T) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{weather: hostile.InjectingWeather(), script: []fakellm.Turn{
				{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
				{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"my diary: I am in Lisbon"}`}}},
				{Text: "The calendar call was refused."},
			}})
			ap := &approver{tool: orchestrator.ApprovalOnce, flow: orchestrator.ApprovalDeny}
			sess := s.session(t, agent.Options{Approver: ap, Approvals: agent.Approvals{Allow: []string{"calendar.*"}}})
			if _, err := sess.Send(ctx, "What is the weather in Lisbon?", nil); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(s.llm.Requests()[1].Body), "IMPORTANT SYSTEM NOTICE") {
				t.Fatal("the injection did not reach the model; the test proves nothing")
			}
			if got := s.cal.got(); len(got) != 0 {
				t.Errorf("calendar got %q, want nothing", got)
			}
			if len(ap.flows) != 1 || ap.flows[0].Args["title"] != "my diary: I am in Lisbon" || fmt.Sprint(ap.flows[0].From) != "[weather]" {
				t.Errorf("the user was shown %+v", ap.flows)
			}
			if r := results(sess)["calendar__create_event"]; r == nil || !r.IsError || !strings.Contains(r.Text, "may not be sent to server \"calendar\"") {
				t.Errorf("the model was told %+v", r)
			}
		})
	}
}

// A call a deny rule names is refused before the orchestrator sees it,
// the tool is not even offered, and the model is told which rule denied
// it; a call the user denies is refused too.
func TestDeniedCall(t *testing.T) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{script: []fakellm.Turn{
				{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"x"}`}}},
				{ToolCalls: []fakellm.ToolCall{{ID: "l", Name: "calendar__list_events", Args: `{}`}}},
				{Text: "Both were refused."},
			}})
			ap := &approver{tool: orchestrator.ApprovalDeny}
			sess := s.session(t, agent.Options{Approver: ap, Approvals: agent.Approvals{
				Deny: []string{"calendar.create_*"}, Ask: []string{"calendar.list_events"}, Allow: []string{"calendar.*"}}})
			if _, err := sess.Send(ctx, "Make an event.", nil); err != nil {
				t.Fatal(err)
			}
			if got := s.cal.got(); len(got) != 0 {
				t.Errorf("calendar got %q, want nothing", got)
			}
			first := string(s.llm.Requests()[0].Body)
			if strings.Contains(first, "calendar__create_event") || !strings.Contains(first, "calendar__list_events") {
				t.Errorf("offered tools are wrong: %s", first)
			}
			rs := results(sess)
			if r := rs["calendar__create_event"]; r == nil || !strings.Contains(r.Text, `denied by the rule "calendar.create_*" in approvals.deny`) {
				t.Errorf("create_event: the model was told %+v", rs["calendar__create_event"])
			}
			if r := rs["calendar__list_events"]; r == nil || !strings.Contains(r.Text, "the user denied") {
				t.Errorf("list_events: the model was told %+v", rs["calendar__list_events"])
			}
			if len(ap.tools) != 1 || !strings.Contains(ap.tools[0].Reason, `"calendar.list_events" in approvals.ask`) {
				t.Errorf("asked %+v", ap.tools)
			}
		})
	}
}

// A secret mediator knows (registered with the redactor) that a server
// puts in its results or errors never reaches the model, in any form the
// redactor knows; nor does the model's own API key go into a body.
func TestCanaryNeverReachesTheModel(t *testing.T) {
	const canary = "canary-secret-93c1e7"
	b64 := base64.StdEncoding.EncodeToString([]byte(canary))
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			leaky := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
			mcp.AddTool(leaky, &mcp.Tool{Name: "get_forecast", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "token=" + canary + " b64=" + b64}}}, nil, nil
				})
			mcp.AddTool(leaky, &mcp.Tool{Name: "fail", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					return nil, nil, errors.New("upstream rejected key " + canary)
				})
			s := newSetup(t, w, setupOptions{weather: leaky, script: []fakellm.Turn{
				{ToolCalls: []fakellm.ToolCall{{ID: "a", Name: "weather__get_forecast", Args: `{}`}, {ID: "b", Name: "weather__fail", Args: `{}`}}},
				{Text: "done"},
			}})
			s.red.Add(credentials.NewSecret(canary))
			sess := s.session(t, agent.Options{})
			if _, err := sess.Send(ctx, "weather?", nil); err != nil {
				t.Fatal(err)
			}
			bodies := s.llm.Bodies()
			if !strings.Contains(bodies, "token=") || !strings.Contains(bodies, "upstream rejected key") {
				t.Fatal("the results did not reach the model; the test proves nothing")
			}
			for _, v := range []string{canary, b64, apiKey} {
				if strings.Contains(bodies, v) {
					t.Errorf("%q reached the model", v)
				}
			}
			for _, e := range sess.Transcript() {
				b, _ := json.Marshal(e)
				if strings.Contains(string(b), canary) {
					t.Errorf("the transcript holds the canary: %s", b)
				}
			}
		})
	}
}

// `chat -p --approve all`: tool calls are approved but the undeclared
// flow is refused and the model told; with `--allow-flow
// weather->calendar` the call is made.
func TestOneShotApprovesToolsNeverFlows(t *testing.T) {
	w := wires[0]
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow-flow=", allow), func(t *testing.T) {
			ctx := testContext(t)
			s := newSetup(t, w, setupOptions{script: seedScript})
			opts := agent.Options{Approver: agent.OneShot{Mode: agent.ApproveAll}}
			if allow {
				opts.Flows = []orchestrator.Flow{{From: "weather", To: "calendar"}}
			}
			sess := s.session(t, opts)
			if _, err := sess.Send(ctx, "Plan a picnic.", nil); err != nil {
				t.Fatal(err)
			}
			r := results(sess)["calendar__create_event"]
			if got := s.cal.got(); allow != (len(got) == 1) {
				t.Errorf("calendar got %q", got)
			}
			if allow && (r == nil || r.IsError) || !allow && (r == nil || !strings.Contains(r.Text, "--approve never approves a cross-server flow")) {
				t.Errorf("the model was told %+v", r)
			}
		})
	}
}

// A saved transcript reopens with its provenance: the resumed context
// still holds weather's output, so a call to calendar is held to
// weather -> calendar although no weather call was made since.
func TestResumedTranscriptKeepsProvenance(t *testing.T) {
	w := wires[3]
	ctx := testContext(t)
	s := newSetup(t, w, setupOptions{script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
		{Text: "Sunny."},
		{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"sunny"}`}}},
		{Text: "Refused."},
	}})
	first := s.session(t, agent.Options{})
	if _, err := first.Send(ctx, "weather?", nil); err != nil {
		t.Fatal(err)
	}
	saved, err := json.Marshal(first.Transcript())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), `"provenance":["weather"]`) {
		t.Errorf("saved transcript has no provenance: %s", saved)
	}
	var entries []agent.Entry
	if err := json.Unmarshal(saved, &entries); err != nil {
		t.Fatal(err)
	}
	resumed := s.session(t, agent.Options{Transcript: entries, Approvals: agent.Approvals{Allow: []string{"calendar.*"}}})
	if got := resumed.Provenance().Servers(); fmt.Sprint(got) != "[weather]" {
		t.Fatalf("resumed context holds %v", got)
	}
	if _, err := resumed.Send(ctx, "put it in my calendar", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.cal.got(); len(got) != 0 {
		t.Errorf("calendar got %q", got)
	}
	resumed.Clear()
	if !resumed.Provenance().IsZero() {
		t.Error("Clear left provenance behind")
	}
}

// A server that dies mid-conversation: the model is told the call
// failed, and the conversation goes on.
func TestServerDiesMidConversation(t *testing.T) {
	w := wires[0]
	ctx := testContext(t)
	dying := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(dying, &mcp.Tool{Name: "get_forecast", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			go req.Session.Close() // hang up while the call is in flight
			<-ctx.Done()
			return nil, nil, ctx.Err()
		})
	s := newSetup(t, w, setupOptions{weather: dying, script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{}`}}},
		{Text: "The weather server is down."},
	}})
	sess := s.session(t, agent.Options{})
	reply, err := sess.Send(ctx, "weather?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text != "The weather server is down." {
		t.Errorf("reply %q", reply.Text)
	}
	if r := results(sess)["weather__get_forecast"]; r == nil || !r.IsError || !strings.Contains(r.Text, "failed") {
		t.Errorf("the model was told %+v", r)
	}
}

// A call cancelled while it runs (Esc) ends Send with the cancellation,
// and every call of that turn still gets a result, so the conversation
// goes on: the provider refuses a transcript with an unanswered call.
func TestCancelledCallLeavesTranscriptUsable(t *testing.T) {
	w := wires[0]
	started := make(chan struct{})
	slow := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(slow, &mcp.Tool{Name: "get_forecast", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			close(started)
			<-ctx.Done()
			return nil, nil, ctx.Err()
		})
	s := newSetup(t, w, setupOptions{weather: slow, script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "a", Name: "weather__get_forecast", Args: `{}`}, {ID: "b", Name: "calendar__list_events", Args: `{}`}}},
		{Text: "Cancelled, as you asked."},
	}})
	sess := s.session(t, agent.Options{})
	ctx, cancel := context.WithCancel(testContext(t))
	go func() { <-started; cancel() }()
	if _, err := sess.Send(ctx, "weather?", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the cancellation", err)
	}
	rs := results(sess)
	if len(rs) != 2 || !strings.Contains(rs["weather__get_forecast"].Text, "stopped by the user") {
		t.Errorf("results after cancel: %+v", rs)
	}
	reply, err := sess.Send(testContext(t), "never mind", nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text != "Cancelled, as you asked." {
		t.Errorf("reply %q", reply.Text)
	}
	if got := s.cal.got(); len(got) != 0 {
		t.Errorf("calendar got %q after the cancel", got)
	}
}
