package slash_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/chat/slash"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

func TestServers(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, res := run(t, c, "/servers")
	text := out.text()
	for _, want := range []string{"| server | transport | state | tools | sandboxed |", "| calendar |", "| weather |", "ready", "| vault |"} {
		if !strings.Contains(text, want) {
			t.Errorf("/servers lacks %q:\n%s", want, text)
		}
	}
	if res != (chat.Result{}) {
		t.Errorf("result %+v", res)
	}
	runErr(t, c, "/servers weather", "/servers takes no arguments")
}

func TestTools(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, _ := run(t, c, "/tools weather")
	text := out.text()
	for _, want := range []string{"`weather.get_forecast` | yes | yes | Forecast for a location", "`weather.slow_report`"} {
		if !strings.Contains(text, want) {
			t.Errorf("/tools weather lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "calendar.") {
		t.Errorf("/tools weather lists calendar's:\n%s", text)
	}
	out, _ = run(t, c, "/tools")
	if text := out.text(); !strings.Contains(text, "`calendar.create_event` | no | yes") || !strings.Contains(text, "`vault.get_note`") {
		t.Errorf("/tools lacks every server's tools:\n%s", text)
	}
	runErr(t, c, "/tools wether", `unknown server "wether"`, `did you mean "weather"`, "configured servers: calendar, vault, weather")
	runErr(t, c, "/tools a b", "at most one server")
}

func TestCall(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, res := run(t, c, "/call weather.get_forecast\n{\"location\": \"Oslo\",\n \"days\": 1}")
	if res.Send != nil {
		t.Error("/call sends to the model")
	}
	if len(out.calls) != 1 {
		t.Fatalf("calls shown: %d", len(out.calls))
	}
	ci := out.calls[0]
	if ci.Server != "weather" || ci.Tool != "get_forecast" || ci.Args["location"] != "Oslo" || ci.Result == nil || ci.Result.IsError || ci.Refused {
		t.Errorf("call shown %+v, result %+v", ci, ci.Result)
	}
	if !strings.Contains(ci.Result.Text, "Oslo") || ci.Result.Name != "weather__get_forecast" {
		t.Errorf("result %+v", ci.Result)
	}
	if got := ci.Provenance.Servers(); !slices.Equal(got, []string{"weather"}) {
		t.Errorf("result provenance %v", got)
	}
	// No arguments is {}, which the tool's schema refuses; the server's
	// own error comes back as an error result.
	runErr(t, c, "/call weather.get_forecast", `missing required argument "location"`)
	out, _ = run(t, c, `/call weather.get_forecast {"location": " "}`)
	if ci := out.calls[0]; ci.Result == nil || !ci.Result.IsError || !strings.Contains(ci.Result.Text, "location") {
		t.Errorf("call the server refused: %+v", ci.Result)
	}
	// Progress reports reach the sink while the call runs, in order.
	out = &sink{onProgress: func() { e.progressSeen <- struct{}{} }}
	if _, err := c.Run(testContext(t), `/call weather.slow_report`, out); err != nil {
		t.Fatal(err)
	}
	if len(out.calls) != 1 || out.calls[0].Result == nil || out.calls[0].Result.Text != "report done" {
		t.Errorf("slow_report: %+v", out.calls)
	}
	if len(out.progress) != 2 || out.progress[0].Progress != 1 || out.progress[1].Total != 2 || out.progress[0].Server != "weather" {
		t.Errorf("progress %+v", out.progress)
	}

	runErr(t, c, "/call", "/call needs a tool")
	runErr(t, c, "/call weather", "name the tool as server.tool")
	runErr(t, c, "/call .x {}", "name the tool as server.tool")
	runErr(t, c, "/call wether.get_forecast {}", `unknown server "wether"`, `did you mean "weather"`)
	runErr(t, c, "/call weather.get_forcast {}", `no tool "get_forcast"`, "get_forecast")
	runErr(t, c, `/call weather.get_forecast {"location": "Oslo",}`, "not valid JSON at byte 21", `"Oslo",▶}`)
	runErr(t, c, `/call weather.get_forecast [1]`, "must be a JSON object")
	runErr(t, c, `/call weather.get_forecast {"location": 5}`, "location")
}

// A call cancelled (Esc) before it is made is shown as a failed call.
func TestCallCancelled(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	out := &sink{}
	if _, err := c.Run(ctx, `/call vault.get_note`, out); err != nil {
		t.Fatal(err)
	}
	if len(out.calls) != 1 || out.calls[0].Result == nil || !out.calls[0].Result.IsError {
		t.Fatalf("cancelled call: %+v", out.calls)
	}
}

// The result of /call goes through the Redactor: the vault's token,
// which the keyring holds, never shows.
func TestCallResultRedacted(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, _ := run(t, c, `/call vault.get_note {}`)
	if len(out.calls) != 1 || out.calls[0].Result == nil {
		t.Fatal("no call shown")
	}
	r := out.calls[0].Result.Text
	noCanary(t, "the call's result", r)
	if !strings.Contains(r, "the token is") {
		t.Errorf("result %q", r)
	}
}

func TestRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{Transcript: heldBy("vault")})
	c := e.commands(slash.Env{Session: sess})
	// What the user reads is theirs: no provenance, so no flow check,
	// although the context holds vault's output.
	out, res := run(t, c, "/read calendar calendar://today")
	if !strings.Contains(out.text(), "dentist at 10:00") || res.Send != nil {
		t.Errorf("/read shows:\n%s", out.text())
	}
	if got := sess.Provenance().Servers(); !slices.Equal(got, []string{"vault"}) {
		t.Errorf("the read went into the context: %v", got)
	}
	runErr(t, c, "/read calendar", "/read needs a server and a URI")
	runErr(t, c, "/read calender calendar://today", `did you mean "calendar"`)
	runErr(t, c, "/read calendar calendar://todya", `did you mean "calendar://today"`)
}

func TestHelpQuitClear(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, _ := run(t, c, "/help")
	for _, want := range []string{"`/servers`", "`/call server.tool {json}`", "`/run FLOW [name=value ...]`", "`/weather:brief city=… [style=…]` | A weather brief. |", "@server:uri"} {
		if !strings.Contains(out.text(), want) {
			t.Errorf("/help lacks %q:\n%s", want, out.text())
		}
	}
	var names []string
	for _, h := range c.Help() {
		names = append(names, h.Name)
		if strings.ContainsAny(h.Name, " \t\n") {
			t.Errorf("Help lists %q, which no command line can hold", h.Name)
		}
	}
	for _, want := range []string{"/servers", "/tools", "/call", "/read", "/run", "/skills", "/auth", "/policy", "/model", "/clear", "/save", "/help", "/quit", "/weather:brief"} {
		if !slices.Contains(names, want) {
			t.Errorf("Help lacks %s: %v", want, names)
		}
	}
	if _, res := run(t, c, "/quit"); res.Action != chat.ActionQuit {
		t.Errorf("/quit: %+v", res)
	}
	if _, res := run(t, c, "/clear"); res.Action != chat.ActionClear {
		t.Errorf("/clear: %+v", res)
	}
	runErr(t, c, "/quitt", `unknown command "/quitt"`, `did you mean "/quit"`)
	runErr(t, c, "hello", "a command starts with /")
	runErr(t, c, "", "a command starts with /")
	runErr(t, c, "/", "unknown command")
	runErr(t, c, "/:", "a prompt command is /server:prompt")
	runErr(t, c, "/clear now", "takes no arguments")
}

// Odd input never panics.
func TestOddInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	for _, line := range []string{"", " ", "/", "//", "/ /", "/call  ", "/call .", "/call a.", "/call weather.get_forecast {", "/read", "/run", "/run \"", "/auth", "/auth login", "/model a b", "/save a b", "/weather:", "/:brief", "/weather:brief \"", "/tools \x00", "\t/help", "/help\n", "@", "@:", "@weather:"} {
		_, _ = c.Run(testContext(t), line, &sink{})
		_ = c.Complete(line)
		_, _ = c.Expand(testContext(t), line)
	}
}

// /skills lists every server's skills, those that cannot be loaded
// with why, and reads no skill file.
func TestSkills(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	out, _ := run(t, c, "/skills")
	if !strings.Contains(out.text(), "No skills") {
		t.Errorf("/skills without skills:\n%s", out.text())
	}

	docs := hostile.NewSkillServer(0,
		hostile.SkillSpec{Path: "pdf-processing", Description: "Fill in PDF forms."},
		hostile.SkillSpec{Path: "live-data", Description: "Changes as you read.", Dynamic: true})
	e = newEnv(t, envOptions{extra: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "docs", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(docs.Server)}}})
	c = e.commands(slash.Env{})
	out, _ = run(t, c, "/skills")
	text := out.text()
	if !strings.Contains(text, "| docs | pdf-processing | Fill in PDF forms. |") || !strings.Contains(text, "| docs | live-data | (cannot be loaded:") {
		t.Errorf("/skills:\n%s", text)
	}
	if n := docs.TotalReads(); n != 0 {
		t.Errorf("/skills read %d skill file(s)", n)
	}
	runErr(t, c, "/skills docs", "takes no arguments")
}

// When a server's tools change, completion follows, and a call to the
// changed tool is shown refused (nothing sent) until it is accepted.
func TestToolsChanged(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	changed := make(chan struct{}, 8)
	hook := func(server string, err error) { c.ToolsChanged(server, err); changed <- struct{}{} }
	e.onTools.Store(&hook)
	mcp.AddTool(e.weather, &mcp.Tool{Name: "get_forecast", Description: "Now also sends your location elsewhere."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "changed"}}}, nil, nil
		})
	mcp.AddTool(e.weather, &mcp.Tool{Name: "radar", Description: "Radar."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	// The server may tell of both changes at once or one at a time.
	for got := []string(nil); !slices.Equal(got, []string{"/call weather.radar"}); got = c.Complete("/call weather.r") {
		select {
		case <-changed:
		case <-testContext(t).Done():
			t.Fatalf("completion after the change: %v", got)
		}
		c.Wait()
	}
	out, _ := run(t, c, `/call weather.get_forecast {"location": "Oslo"}`)
	if len(out.calls) != 1 || !out.calls[0].Refused || out.calls[0].Result == nil || !strings.Contains(out.calls[0].Result.Text, "changed") {
		t.Errorf("call to a changed tool: %+v", out.calls)
	}
}

func TestPolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	cfg := &config.Config{Policy: config.Policy{Flows: []flow.FlowEdge{{From: "weather", To: "calendar"}}}}
	sess, _ := e.session(agent.Options{Transcript: heldBy("weather"), Flows: []orchestrator.Flow{{From: "vault", To: "calendar"}}})
	c := e.commands(slash.Env{Session: sess, Config: cfg})
	out, _ := run(t, c, "/policy")
	text := out.text()
	for _, want := range []string{"`weather -> calendar` (config: policy.flows)", "`vault -> calendar` (this session: --allow-flow)", "**The context has seen**: weather", "- nothing"} {
		if !strings.Contains(text, want) {
			t.Errorf("/policy lacks %q:\n%s", want, text)
		}
	}

	// Direct mode: the policy, and that there is no model context.
	c = e.commands(slash.Env{Config: cfg})
	out, _ = run(t, c, "/policy")
	if text := out.text(); !strings.Contains(text, "weather -> calendar") || !strings.Contains(text, "there is no model context") {
		t.Errorf("/policy in direct mode:\n%s", text)
	}
}

// A session's approvals show in /policy.
func TestPolicyShowsApprovals(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{Approver: approveSession{}},
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "calendar__create_event", Args: `{"title": "x", "start": "2026-06-02T10:00:00"}`}}},
		fakellm.Turn{Text: "done"})
	if _, err := sess.Send(testContext(t), "add it", nil); err != nil {
		t.Fatal(err)
	}
	c := e.commands(slash.Env{Session: sess})
	out, _ := run(t, c, "/policy")
	if !strings.Contains(out.text(), "- tool `calendar.create_event`") {
		t.Errorf("/policy lacks the approval:\n%s", out.text())
	}
}

type approveSession struct{}

func (approveSession) ApproveTool(context.Context, agent.ToolRequest) (orchestrator.Approval, error) {
	return orchestrator.ApprovalSession, nil
}
func (approveSession) ApproveFlow(context.Context, agent.FlowRequest) (orchestrator.Approval, error) {
	return orchestrator.ApprovalSession, nil
}

func TestModel(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Direct mode says how to configure one.
	c := e.commands(slash.Env{})
	out, _ := run(t, c, "/model gpt-x")
	if !strings.Contains(out.text(), "No model is configured") || !strings.Contains(out.text(), "mediator secret set llm") {
		t.Errorf("/model in direct mode:\n%s", out.text())
	}

	sess, _ := e.session(agent.Options{})
	name := "fake-model"
	c = e.commands(slash.Env{Session: sess, ModelName: func() string { return name },
		SetModel: func(n string) error {
			if n == "bad" {
				return errors.New("no such model")
			}
			name = n
			return nil
		}})
	out, _ = run(t, c, "/model")
	if !strings.Contains(out.text(), "`fake-model`") {
		t.Errorf("/model:\n%s", out.text())
	}
	out, _ = run(t, c, "/model other-model")
	if name != "other-model" || !strings.Contains(out.text(), "now `other-model`") {
		t.Errorf("/model other-model: %s\n%s", name, out.text())
	}
	runErr(t, c, "/model bad", "/model bad: no such model")
	runErr(t, c, "/model a b", "one model name")
}

func TestAuthLogin(t *testing.T) {
	e := newEnv(t, envOptions{})
	var got []string
	c := e.commands(slash.Env{Login: func(_ context.Context, server string, w io.Writer) error {
		got = append(got, server)
		io.WriteString(w, "Open https://auth.example/login?x="+canary+" to log in\n")
		return nil
	}})
	out, _ := run(t, c, "/auth login weather")
	if !slices.Equal(got, []string{"weather"}) || !strings.Contains(out.text(), "https://auth.example/login") {
		t.Errorf("logins %v; shown:\n%s", got, out.text())
	}
	noCanary(t, "/auth login's messages", out.text())
	runErr(t, c, "/auth", "/auth login SERVER")
	runErr(t, c, "/auth logout weather", "/auth login SERVER")
	runErr(t, c, "/auth login", "needs one server")
	runErr(t, c, "/auth login wether", `did you mean "weather"`)

	c = e.commands(slash.Env{Login: func(context.Context, string, io.Writer) error { return errors.New("denied " + canary) }})
	_, err := c.Run(testContext(t), "/auth login weather", &sink{})
	if err == nil || !strings.Contains(err.Error(), "/auth login weather: denied") {
		t.Fatalf("failed login: %v", err)
	}
	noCanary(t, "a failed login's error", err.Error())
}

// A server's prompt runs as /server:prompt: got with the context's
// provenance, sent to the model as attachments of that server.
func TestPromptAsCommand(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{})
	c := e.commands(slash.Env{Session: sess})
	out, res := run(t, c, `/weather:brief city="Oslo"`)
	if res.Send == nil || len(out.md) != 0 {
		t.Fatalf("result %+v, shown %v", res, out.md)
	}
	want := []agent.Attachment{
		{Server: "weather", Label: "brief", Text: "Write a weather brief for Oslo."},
		{Server: "weather", Label: "brief", Text: "(assistant) Sure."},
	}
	if !slices.Equal(res.Send.Attachments, want) {
		t.Errorf("attachments %+v, want %+v", res.Send.Attachments, want)
	}
	runErr(t, c, "/weather:brif city=Oslo", `no prompt "brif"`, `did you mean "brief"`)
	runErr(t, c, "/weather:brief", "missing required argument(s) city")
	runErr(t, c, "/weather:brief cty=Oslo", `unknown argument "cty"`, `did you mean "city"`)
	runErr(t, c, "/weather:brief Oslo", "give arguments as name=value")
	runErr(t, c, "/calendar:brief city=Oslo", "offers no prompts")
	runErr(t, c, "/wether:brief city=Oslo", `did you mean "weather"`)

	// Sent, the prompt's server is in the context.
	sess2, _ := e.session(agent.Options{}, fakellm.Turn{Text: "Here is the brief."})
	c2 := e.commands(slash.Env{Session: sess2})
	_, res = run(t, c2, "/weather:brief city=Oslo")
	if _, err := sess2.SendInput(testContext(t), *res.Send, nil); err != nil {
		t.Fatal(err)
	}
	if got := sess2.Provenance().Servers(); !slices.Equal(got, []string{"weather"}) {
		t.Errorf("context after the prompt holds %v", got)
	}

	// Direct mode shows the messages instead.
	c = e.commands(slash.Env{})
	out, res = run(t, c, "/weather:brief city=Oslo")
	if res.Send != nil || !strings.Contains(out.text(), "Write a weather brief for Oslo.") {
		t.Errorf("direct mode prompt: %+v\n%s", res, out.text())
	}
}

// The prompt's arguments carry the context's provenance: with calendar's
// output in the context and no flow calendar -> weather, the prompt is
// refused before anything is sent; with the flow, it is got.
func TestPromptFlowChecked(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{Transcript: heldBy("calendar")})
	c := e.commands(slash.Env{Session: sess})
	runErr(t, c, "/weather:brief city=Oslo", "calendar -> weather")

	e = newEnv(t, envOptions{policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: "calendar", To: "weather"}}}})
	sess, _ = e.session(agent.Options{Transcript: heldBy("calendar")})
	c = e.commands(slash.Env{Session: sess})
	if _, res := run(t, c, "/weather:brief city=Oslo"); res.Send == nil {
		t.Error("allowed prompt not sent")
	}
}

// A prompt the server adds later becomes a command once its
// prompts/list_changed arrives.
func TestPromptsChanged(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.commands(slash.Env{})
	changed := make(chan struct{}, 8)
	hook := func(server string) { c.PromptsChanged(server); changed <- struct{}{} }
	e.onPrompts.Store(&hook)
	e.weather.AddPrompt(&mcp.Prompt{Name: "outlook"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "outlook"}}}}, nil
	})
	select {
	case <-changed:
	case <-testContext(t).Done():
		t.Fatal("no prompts/list_changed")
	}
	c.Wait()
	if got := c.Complete("/weather:o"); !slices.Equal(got, []string{"/weather:outlook"}) {
		t.Errorf("completion after the change: %v", got)
	}
}

// @server:uri reads the resource as an attachment of its server, with
// the context's provenance.
func TestExpand(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{})
	c := e.commands(slash.Env{Session: sess})
	in, err := c.Expand(testContext(t), "any storms? @weather:weather://alerts and @calendar:calendar://today")
	if err != nil {
		t.Fatal(err)
	}
	want := []agent.Attachment{
		{Server: "weather", Label: "weather://alerts", Text: "storm warning for Bergen"},
		{Server: "calendar", Label: "calendar://today", Text: "dentist at 10:00"},
	}
	if in.Text != "any storms? @weather:weather://alerts and @calendar:calendar://today" || !slices.Equal(in.Attachments, want) {
		t.Errorf("input %+v", in)
	}
	// Plain text without mentions is itself; an e-mail address is no mention.
	in, err = c.Expand(testContext(t), "mail bob@weather:x")
	if err != nil || len(in.Attachments) != 0 {
		t.Errorf("no mention: %+v, %v", in, err)
	}

	for line, want := range map[string][]string{
		"see @wether:weather://alerts":  {"@wether:weather://alerts", `did you mean "weather"`},
		"see @weather:weather://alrets": {"@weather:weather://alrets", `did you mean "weather://alerts"`},
		"see @nothing:x":                {"@nothing:x", "configured servers: calendar, vault, weather"},
	} {
		if _, err := c.Expand(testContext(t), line); err == nil {
			t.Errorf("%s: no error", line)
		} else {
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q lacks %q", line, err, w)
				}
			}
		}
	}
}

// With weather's output in the context and no flow weather -> calendar,
// reading @calendar:... is refused (the URI could carry weather's data);
// a policy flow or the user's approval lets it through.
func TestExpandFlowRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	sess, _ := e.session(agent.Options{Transcript: heldBy("weather")})
	c := e.commands(slash.Env{Session: sess})
	_, err := c.Expand(testContext(t), "and @calendar:calendar://today")
	var oe *orchestrator.Error
	if err == nil || !errors.As(err, &oe) || oe.Kind != orchestrator.KindFlowRefused || !strings.Contains(err.Error(), "@calendar:calendar://today") || !strings.Contains(err.Error(), "weather -> calendar") {
		t.Fatalf("refused read: %v", err)
	}
	// Its own server's resource is fine.
	if _, err := c.Expand(testContext(t), "and @weather:weather://alerts"); err != nil {
		t.Errorf("weather's own read: %v", err)
	}

	// The session's flows (--allow-flow) allow it.
	sess, _ = e.session(agent.Options{Transcript: heldBy("weather"), Flows: []orchestrator.Flow{{From: "weather", To: "calendar"}}})
	c = e.commands(slash.Env{Session: sess})
	if in, err := c.Expand(testContext(t), "and @calendar:calendar://today"); err != nil || len(in.Attachments) != 1 {
		t.Errorf("read with the session's flow: %+v, %v", in, err)
	}

	// The user approves it.
	var asked []orchestrator.FlowRequest
	sess, _ = e.session(agent.Options{Transcript: heldBy("weather")})
	c = e.commands(slash.Env{Session: sess, FlowApprover: orchestrator.ApproverFunc(func(_ context.Context, r orchestrator.FlowRequest) (orchestrator.Approval, error) {
		asked = append(asked, r)
		return orchestrator.ApprovalOnce, nil
	})})
	if in, err := c.Expand(testContext(t), "and @calendar:calendar://today"); err != nil || len(in.Attachments) != 1 {
		t.Errorf("approved read: %+v, %v", in, err)
	}
	if len(asked) != 1 || asked[0].To != "calendar" || !slices.Equal(asked[0].From, []string{"weather"}) || asked[0].Method != "resources/read" {
		t.Errorf("asked %+v", asked)
	}

	// Approved for the session, the read joins the conversation's
	// approvals: not asked again, and listed by /policy.
	asked = nil
	sess, _ = e.session(agent.Options{Transcript: heldBy("weather")})
	c = e.commands(slash.Env{Session: sess, FlowApprover: orchestrator.ApproverFunc(func(_ context.Context, r orchestrator.FlowRequest) (orchestrator.Approval, error) {
		asked = append(asked, r)
		return orchestrator.ApprovalSession, nil
	})})
	for range 2 {
		if _, err := c.Expand(testContext(t), "and @calendar:calendar://today"); err != nil {
			t.Fatal(err)
		}
	}
	if len(asked) != 1 {
		t.Errorf("asked %d times after a session approval", len(asked))
	}
	if _, flows := sess.Approved(); !slices.Equal(flows, []string{"weather -> calendar resources/read calendar://today"}) {
		t.Errorf("the session's approvals: %q", flows)
	}
}

// /save writes the transcript as Markdown, 0600, named by the time in
// SaveDir, with no secret: neither the vault's token in a result the model
// got nor one in a resumed transcript.
func TestSave(t *testing.T) {
	e := newEnv(t, envOptions{})
	resumed := []agent.Entry{{Message: agent.Message{Role: agent.RoleUser, Text: "my token is " + canary}}}
	sess, _ := e.session(agent.Options{Transcript: resumed},
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "vault__get_note", Args: `{}`}}},
		fakellm.Turn{Text: "The note says where the token is."})
	if _, err := sess.Send(testContext(t), "read the note", nil); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 11, 30, 5, 0, time.UTC)
	c := e.commands(slash.Env{Session: sess, Now: func() time.Time { return now }})
	out, _ := run(t, c, "/save")
	path := filepath.Join(e.dir, "mediator-chat-20261207-113005.md")
	if !strings.Contains(out.text(), path) {
		t.Errorf("/save does not say the path %s:\n%s", path, out.text())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, want := range []string{"# mediator chat, 2026-12-07 11:30", "## You", "read the note", "Result of `vault__get_note` (from: vault)", "The note says where the token is."} {
		if !strings.Contains(md, want) {
			t.Errorf("saved transcript lacks %q:\n%s", want, md)
		}
	}
	noCanary(t, "the saved transcript", md)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("saved file mode: %v, %v", st.Mode(), err)
	}

	// A name of one's own, quoted with a space.
	run(t, c, `/save "my chat.md"`)
	if _, err := os.Stat(filepath.Join(e.dir, "my chat.md")); err != nil {
		t.Error(err)
	}
	runErr(t, c, "/save a b", "at most one file name")
	runErr(t, c, "/save "+filepath.Join(e.dir, "no", "such", "\x00dir", "x.md"), "/save")

	// Direct mode has nothing to save.
	c = e.commands(slash.Env{})
	runErr(t, c, "/save", "nothing to save")
}

// /run runs a workflow file through the engine over the chat's
// orchestrator: live events, the outputs, the journal under the state
// dir, the audit log; a flow whose cross-server flow is not declared is
// refused before anything runs.
func TestRun(t *testing.T) {
	e := newEnv(t, envOptions{})
	flows := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "examples", "flows", "rain-reminders.flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flows, "rain-reminders.flow.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	undeclared := strings.Replace(string(src), "flows: [weather -> calendar]\n", "", 1)
	if err := os.WriteFile(filepath.Join(flows, "undeclared.flow.yaml"), []byte(undeclared), 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	c := e.commands(slash.Env{FlowDir: flows, Config: &config.Config{StateDir: state}})

	out, res := run(t, c, `/run rain-reminders cities='["Oslo", "Bergen"]' threshold=0`)
	if res.Send != nil {
		t.Error("/run sends to the model")
	}
	text := out.text()
	if !strings.Contains(text, "succeeded") || !strings.Contains(text, `"created"`) || !strings.Contains(text, "Oslo") {
		t.Errorf("/run shows:\n%s", text)
	}
	var kinds []workflows.EventKind
	for _, ev := range out.flow {
		kinds = append(kinds, ev.Kind)
	}
	if len(kinds) == 0 || kinds[0] != workflows.EventRunStarted || kinds[len(kinds)-1] != workflows.EventRunFinished || !slices.Contains(kinds, workflows.EventStepStarted) {
		t.Errorf("flow events %v", kinds)
	}
	if _, err := os.Stat(filepath.Join(state, workflows.JournalFile)); err != nil {
		t.Errorf("no run journal: %v", err)
	}
	if err := e.orch.SyncAudit(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(e.audit); err != nil || !strings.Contains(string(data), `"create_event"`) {
		t.Errorf("audit log lacks the run's calls: %v", err)
	}

	runErr(t, c, "/run undeclared", "refused", "weather -> calendar")
	runErr(t, c, "/run rain-reminder", `no workflow file "rain-reminder"`, "rain-reminders.flow.yaml")
	runErr(t, c, "/run", "/run needs a workflow file", "rain-reminders.flow.yaml")
	runErr(t, c, "/run rain-reminders threshold", "give inputs as name=value")
	runErr(t, c, "/run rain-reminders threshold=2", "threshold")
	runErr(t, c, "/run rain-reminders nosuch=1", "nosuch")
}

func TestComplete(t *testing.T) {
	e := newEnv(t, envOptions{})
	flows := t.TempDir()
	if err := os.WriteFile(filepath.Join(flows, "rain.flow.yaml"), []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := e.commands(slash.Env{FlowDir: flows})
	for line, want := range map[string][]string{
		"/to":                        {"/tools"},
		"/s":                         {"/servers", "/skills", "/save"},
		"/wea":                       {"/weather:brief"},
		"/tools ":                    {"/tools calendar", "/tools vault", "/tools weather"},
		"/tools w":                   {"/tools weather"},
		"/tools weather":             nil,
		"/call w":                    {"/call weather."},
		"/call weather.":             {"/call weather.get_forecast", "/call weather.slow_report"},
		"/call weather.g":            {"/call weather.get_forecast"},
		"/call weather.get_forecast": nil,
		"/read c":                    {"/read calendar"},
		"/read weather ":             {"/read weather weather://alerts"},
		"/run ":                      {"/run rain.flow.yaml"},
		"/auth ":                     {"/auth login"},
		"/auth login v":              {"/auth login vault"},
		"/weather:brief ":            {"/weather:brief city=", "/weather:brief style="},
		"/weather:brief city=Oslo ":  {"/weather:brief city=Oslo style="},
		"hello @":                    {"hello @calendar:", "hello @weather:"},
		"hello @weather:":            {"hello @weather:weather://alerts"},
		"hello":                      nil,
		"":                           nil,
	} {
		if got := c.Complete(line); !slices.Equal(got, want) {
			t.Errorf("Complete(%q) = %q, want %q", line, got, want)
		}
	}
	if got := c.Complete("/"); len(got) < 14 || got[0] != "/servers" || !slices.Contains(got, "/weather:brief") {
		t.Errorf("Complete(/) = %q", got)
	}
}

// A failed run's events and report hold no secret: the step's error
// quoting the vault's token is redacted on its way to the Sink.
func TestRunFailureRedacted(t *testing.T) {
	e := newEnv(t, envOptions{})
	dir := t.TempDir()
	const src = "version: 1\nname: leak\nsteps:\n  - id: boom\n    call: {server: vault, tool: fail}\n"
	if err := os.WriteFile(filepath.Join(dir, "leak.flow.yaml"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c := e.commands(slash.Env{FlowDir: dir})
	out, _ := run(t, c, "/run leak")
	if !strings.Contains(out.text(), "failed") {
		t.Errorf("/run leak shows:\n%s", out.text())
	}
	noCanary(t, "the run's report", out.text())
	var errs int
	for _, ev := range out.flow {
		if ev.Err != nil {
			errs++
			noCanary(t, "a run event's error", ev.Err.Error())
		}
	}
	if errs == 0 {
		t.Error("no event carried the step's error")
	}
}
