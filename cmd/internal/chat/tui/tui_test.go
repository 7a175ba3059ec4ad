package tui

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A typed message goes to the model; its answer streams in and is
// rendered as Markdown; the tool call it made is a block with the
// server's badge, the arguments and the result cut to a few lines, which
// ctrl+o expands. The status bar shows the model, the servers, what the
// context holds and the tokens; AfterTurn is called.
func TestSendShowsAnswerAndToolCall(t *testing.T) {
	w := newWorld(t, worldOptions{
		weather: forecast("day 1: sunny\nday 2: sunny\nday 3: cloudy\nday 4: rain\nday 5: storm warning"),
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "w1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}, Usage: fakellm.Usage{Input: 10, Output: 5}},
			{Text: "It will be **sunny** in Lisbon, then a storm.", Usage: fakellm.Usage{Input: 20, Output: 7}},
		},
	})
	s := run(t, w.ui.Model(), 100, 40)
	s.waitFor("openai/fake-model", "servers: 2 ready", "context: empty")
	s.send("weather in Lisbon?")
	s.waitFor("It will be sunny in Lisbon, then a storm.", "get_forecast", `args: {"city":"Lisbon"}`, "day 3: cloudy", "2 more lines (ctrl+o expands)")
	if strings.Contains(s.emu.String(), "**sunny**") {
		t.Errorf("the answer was not rendered as Markdown:\n%s", s.emu.String())
	}
	if strings.Contains(s.emu.String(), "storm warning") {
		t.Errorf("a collapsed block shows the whole result:\n%s", s.emu.String())
	}
	s.waitFor("context: weather", "tokens: 30 in, 12 out")
	s.press('o', tea.ModCtrl)
	s.waitFor("storm warning")
	s.waitGone("more lines (ctrl+o expands)")
	s.press('o', tea.ModCtrl)
	s.waitGone("storm warning")
	if n := w.afterTurns(); n != 1 {
		t.Errorf("AfterTurn called %d times, want 1", n)
	}
}

// The answer appears as it streams, before the turn ends: the text of a
// turn still running (its tool call blocks on a gate) is on the screen.
func TestAnswerStreams(t *testing.T) {
	gate := make(chan struct{})
	w := newWorld(t, worldOptions{
		weather: func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil
		},
		script: []fakellm.Turn{
			{Text: "Let me look that up for you.", ToolCalls: []fakellm.ToolCall{{ID: "w1", Name: "weather__get_forecast", Args: `{}`}}},
			{Text: "Sunny."},
		},
	})
	s := run(t, w.ui.Model(), 80, 30)
	s.send("weather?")
	s.waitFor("Let me look that up for you.", "running…", "working… esc cancels")
	close(gate)
	s.waitFor("Sunny.")
	s.waitGone("running…")
}

// A slash command runs through Commands.Run; what it shows appears in
// the transcript: Markdown, a call block (an error in red, its text made
// safe), a flow's live step status, and its error.
func TestSlashCommandOutput(t *testing.T) {
	w := newWorld(t, worldOptions{})
	s := run(t, w.ui.Model(), 100, 40)
	s.send("/echo hello there")
	s.waitFor("echo: hello there")
	s.send("/call")
	s.waitFor("create_event", "1.5s", "error:", "server refused the title")
	if strings.Contains(s.raw.String(), "\x1b]52") {
		t.Error("a server's escape sequence reached the terminal")
	}
	s.send("/flow")
	s.waitFor("flow run run-7", "✓ forecast succeeded", "✗ remind failed: calendar is down", "run failed")
	s.send("/nope")
	s.waitFor("error: unknown command /nope")
}

// /help lists Commands.Help and the key bindings.
func TestHelp(t *testing.T) {
	w := newWorld(t, worldOptions{})
	s := run(t, w.ui.Model(), 120, 60)
	s.send("/help")
	s.waitFor("/echo TEXT", "show TEXT as Markdown", "alt+enter", "ctrl+o", "esc")
}

// While a "/" line is typed the candidates show above the input; Tab
// completes to the first and cycles on; enter accepts, a second runs.
func TestTabCompletion(t *testing.T) {
	w := newWorld(t, worldOptions{})
	s := run(t, w.ui.Model(), 80, 30)
	s.typeText("/")
	s.waitFor("/echo", "/servers", "(8 candidates; tab cycles)")
	s.typeText("c")
	s.waitFor("/call", "/clear")
	s.waitGone("/servers")
	s.press(tea.KeyTab)
	s.waitFor("> /call")
	s.press(tea.KeyTab)
	s.waitFor("> /clear")
	s.press(tea.KeyTab)
	s.waitFor("> /call")
	s.enter() // accept
	s.enter() // run
	s.waitFor("server refused the title")
}

// Up on the first line walks back through what was sent; down comes
// back to the draft.
func TestInputHistory(t *testing.T) {
	w := newWorld(t, worldOptions{})
	s := run(t, w.ui.Model(), 80, 30)
	s.send("/echo one")
	s.waitFor("echo: one")
	s.send("/echo two")
	s.waitFor("echo: two")
	s.typeText("draft")
	s.press(tea.KeyUp)
	s.waitFor("> /echo two")
	s.press(tea.KeyUp)
	s.waitFor("> /echo one")
	s.press(tea.KeyDown)
	s.press(tea.KeyDown)
	s.waitFor("> draft")
}

// A paste inserts its text, newlines included, without sending it;
// alt+enter adds a line too.
func TestPasteInsertsWithoutSending(t *testing.T) {
	w := newWorld(t, worldOptions{script: []fakellm.Turn{{Text: "Got both lines."}}})
	s := run(t, w.ui.Model(), 80, 30)
	s.tm.Send(tea.PasteMsg{Content: "first pasted line\nsecond pasted line"})
	s.waitFor("first pasted line", "second pasted line")
	s.press(tea.KeyEnter, tea.ModAlt)
	s.typeText("third")
	s.waitFor("third")
	if n := len(w.llm.Requests()); n != 0 {
		t.Fatalf("the paste was sent: %d requests", n)
	}
	s.enter()
	s.waitFor("Got both lines.")
	body := string(w.llm.Requests()[0].Body)
	if !strings.Contains(body, `first pasted line\nsecond pasted line\nthird`) {
		t.Errorf("the model got %s", body)
	}
}

// A tool call the rules ask about is a prompt above the input, counted
// in the status bar; each answer does what it says: o allows once, s for
// the session (no second prompt), d and esc deny (nothing sent, the
// model told, the block in red).
func TestToolApprovalKeys(t *testing.T) {
	call := func(id string) fakellm.Turn {
		return fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: id, Name: "calendar__create_event", Args: `{"title":"standup"}`}}}
	}
	for _, tc := range []struct {
		name  string
		press func(s *screen)
		calls int
	}{
		{"o", func(s *screen) { s.key('o') }, 1},
		{"s", func(s *screen) { s.key('s') }, 2},
		{"d", func(s *screen) { s.key('d') }, 0},
		{"esc", func(s *screen) { s.press(tea.KeyEscape) }, 0},
		{"arrows", func(s *screen) { s.press(tea.KeyRight); s.press(tea.KeyRight); s.enter() }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := []fakellm.Turn{call("a"), {Text: "First done."}}
			if tc.name == "s" {
				script = append(script, call("b"), fakellm.Turn{Text: "Second done."})
			}
			w := newWorld(t, worldOptions{script: script})
			s := run(t, w.ui.Model(), 100, 40)
			s.send("add a standup")
			s.waitFor("Allow the call to calendar.create_event?", `{"title":"standup"}`, "not annotated read-only", "[o] allow once", "[d] deny", "1 waiting for you")
			tc.press(s)
			s.waitFor("First done.")
			s.waitGone("1 waiting for you")
			if tc.calls == 0 {
				s.waitFor("refused:", "the user denied the call")
			}
			if tc.name == "s" {
				s.send("another")
				s.waitFor("Second done.")
			}
			if got := w.cal.got(); len(got) != tc.calls {
				t.Errorf("calendar got %q, want %d calls", got, tc.calls)
			}
		})
	}
}

// A call to calendar while the context holds weather's output is a flow
// prompt: from which server to which tool, exactly the arguments, and
// the line for policy.flows. Denied, nothing reaches calendar.
func TestFlowApprovalShowsArgumentsAndSources(t *testing.T) {
	w := newWorld(t, worldOptions{
		approvals: agent.Approvals{Allow: []string{"calendar.*"}},
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}},
			{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"Walk: sunny in Lisbon"}`}}},
			{Text: "The calendar call was refused."},
		},
	})
	s := run(t, w.ui.Model(), 100, 40)
	s.send("plan a walk")
	s.waitFor("Send data from weather to calendar?", "calendar.create_event with exactly these arguments:",
		`"title": "Walk: sunny in Lisbon"`, "policy.flows: [weather -> calendar]", "[s] allow weather -> calendar for calendar.create_event this session")
	s.key('d')
	s.waitFor("The calendar call was refused.", "refused:")
	if got := w.cal.got(); len(got) != 0 {
		t.Errorf("calendar got %q", got)
	}
}

// An elicitation is a form naming the server, built from the requested
// schema; the answer the user fills in reaches the caller.
func TestElicitationForm(t *testing.T) {
	u := New(Options{Advice: "configure a model"})
	s := run(t, u.Model(), 100, 40)
	s.waitFor("direct mode")
	got := make(chan *mcp.ElicitResult, 1)
	go func() {
		res, err := u.Elicit(testContext(t), &orchestrator.ElicitationRequest{ElicitationRequest: &connectors.ElicitationRequest{
			Server: "shop", Params: &mcp.ElicitParams{Message: "Your order\x1b[2J details", RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"name":     map[string]any{"type": "string", "title": "Your name"},
					"quantity": map[string]any{"type": "integer", "title": "How many"},
				},
				"required": []any{"name", "quantity"},
			}}}})
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	s.waitFor("Server shop asks for input", "Your order details", "[a] answer", "[n] decline all from shop", "1 waiting for you")
	s.key('a')
	s.waitFor("Your name (required)")
	s.typeText("Ada")
	s.waitFor("> Ada")
	s.enter()
	s.waitFor("┃ How many (required)")
	s.typeText("3")
	s.enter()
	select {
	case res := <-got:
		if res.Action != "accept" || res.Content["name"] != "Ada" || res.Content["quantity"] != int64(3) {
			t.Errorf("got %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer; the screen:\n%s", s.flat())
	}
	s.waitFor("answered shop's request")
}

// "decline all from this server" declines the request and every later
// one of that server without asking; other servers are still asked.
func TestDeclineAllFromServer(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 30)
	s.waitFor("direct mode")
	ask := func(server string) <-chan *mcp.ElicitResult {
		ch := make(chan *mcp.ElicitResult, 1)
		go func() {
			res, _ := u.Elicit(testContext(t), &orchestrator.ElicitationRequest{ElicitationRequest: &connectors.ElicitationRequest{
				Server: server, Params: &mcp.ElicitParams{Message: "name?", RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}}}})
			ch <- res
		}()
		return ch
	}
	first := ask("nagger")
	s.waitFor("Server nagger asks for input")
	s.key('n')
	if res := <-first; res.Action != "decline" {
		t.Errorf("first: %+v", res)
	}
	s.waitFor("every request from nagger will be declined")
	if res := <-ask("nagger"); res.Action != "decline" {
		t.Errorf("second: %+v", res)
	}
	other := ask("shop")
	s.waitFor("Server shop asks for input")
	s.key('d')
	if res := <-other; res.Action != "decline" {
		t.Errorf("other: %+v", res)
	}
}

// URL mode shows the URL and its domain, never opens it, and asks.
func TestElicitationURL(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 30)
	s.waitFor("direct mode")
	got := make(chan *mcp.ElicitResult, 1)
	go func() {
		res, _ := u.Elicit(testContext(t), &orchestrator.ElicitationRequest{ElicitationRequest: &connectors.ElicitationRequest{
			Server: "bank", Params: &mcp.ElicitParams{Mode: "url", Message: "Log in", URL: "https://login.example.com/auth?x=1"}}})
		got <- res
	}()
	s.waitFor("Server bank asks you to open a web page", "https://login.example.com/auth?x=1", "domain: login.example.com", "does not open it")
	s.key('o')
	if res := <-got; res.Action != "accept" {
		t.Errorf("got %+v", res)
	}
}

// A sampling request shows the server, its messages and maxTokens.
func TestSamplingApproval(t *testing.T) {
	u := New(Options{})
	s := run(t, u.Model(), 100, 30)
	s.waitFor("direct mode")
	for _, tc := range []struct {
		key  rune
		want bool
	}{{'a', true}, {'d', false}} {
		got := make(chan bool, 1)
		go func() {
			ok, _ := u.ApproveSampling(testContext(t), &orchestrator.SamplingRequest{SamplingRequest: &connectors.SamplingRequest{
				Server: "everything", Params: &mcp.CreateMessageWithToolsParams{MaxTokens: 100, SystemPrompt: "Be brief.",
					Messages: []*mcp.SamplingMessageV2{{Role: "user", Content: []mcp.Content{&mcp.TextContent{Text: "Summarize the news"}}}}}}})
			got <- ok
		}()
		s.waitFor("Server everything asks the model to answer (sampling)", "user: Summarize the news", "system: Be brief.", "maxTokens: 100", "[a] allow")
		s.key(tc.key)
		if ok := <-got; ok != tc.want {
			t.Errorf("%c: got %v", tc.key, ok)
		}
		s.waitGone("maxTokens: 100")
	}
}

// With no program running, the UI refuses at once instead of blocking.
func TestRefusesWhenNotRunning(t *testing.T) {
	u := New(Options{})
	ctx := testContext(t)
	if a, err := u.Approver().ApproveTool(ctx, agent.ToolRequest{Server: "calendar", Tool: "create_event"}); a != orchestrator.ApprovalDeny || err == nil {
		t.Errorf("tool: %v, %v", a, err)
	}
	if a, err := u.Approver().ApproveFlow(ctx, agent.FlowRequest{}); a != orchestrator.ApprovalDeny || err == nil {
		t.Errorf("flow: %v, %v", a, err)
	}
	if ok, err := u.ApproveSampling(ctx, &orchestrator.SamplingRequest{SamplingRequest: &connectors.SamplingRequest{Server: "x"}}); ok || err == nil {
		t.Errorf("sampling: %v, %v", ok, err)
	}
	if res, _ := u.Elicit(ctx, &orchestrator.ElicitationRequest{ElicitationRequest: &connectors.ElicitationRequest{Server: "x", Params: &mcp.ElicitParams{}}}); res.Action != "decline" {
		t.Errorf("elicit: %+v", res)
	}
	u.Progress(connectors.Progress{Server: "x"}) // never blocks
}

// Esc cancels the running turn: the tool call (blocked until its context
// is cancelled) is stopped, its progress bar was shown, the transcript
// says "cancelled", and the conversation goes on.
func TestEscCancelsRunningTurn(t *testing.T) {
	w := newWorld(t, worldOptions{
		weather: func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 4, Message: "fetching radar"})
			}
			<-ctx.Done()
			return nil, ctx.Err()
		},
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{}`}}},
			{Text: "Fine, never mind."},
		},
	})
	s := run(t, w.ui.Model(), 100, 30)
	s.send("weather?")
	s.waitFor("running…", "fetching radar", "25%")
	s.press(tea.KeyEscape)
	s.waitFor("cancelled", "stopped by the user")
	s.waitGone("running…", "working…")
	s.send("forget it")
	s.waitFor("Fine, never mind.")
}

// Esc cancels a running command too; its progress shows meanwhile.
func TestEscCancelsCommand(t *testing.T) {
	w := newWorld(t, worldOptions{})
	s := run(t, w.ui.Model(), 100, 30)
	s.send("/slow")
	s.waitFor("halfway there", "50%", "working… esc cancels")
	s.press(tea.KeyEscape)
	s.waitFor("cancelled")
	s.waitGone("halfway there", "working…")
}

// A server that dies mid-call: the block shows the failure in red, and
// the conversation goes on.
func TestServerDiesMidConversation(t *testing.T) {
	w := newWorld(t, worldOptions{
		weather: func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			go req.Session.Close()
			<-ctx.Done()
			return nil, ctx.Err()
		},
		script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{}`}}},
			{Text: "The weather server is down."},
			{Text: "Still here."},
		},
	})
	s := run(t, w.ui.Model(), 100, 30)
	s.send("weather?")
	s.waitFor("error:", "failed", "The weather server is down.")
	s.send("hello?")
	s.waitFor("Still here.")
}

// Resizing to 40 columns re-wraps everything to fit; nothing drawn is
// wider than the window.
func TestResizeNarrow(t *testing.T) {
	long := "This answer is long enough that forty columns cannot hold it on one line, so it wraps: finally here."
	w := newWorld(t, worldOptions{script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "w", Name: "weather__get_forecast", Args: `{"city":"Lisbon, the capital of Portugal, by the sea"}`}}},
		{Text: long},
	}})
	s := run(t, w.ui.Model(), 100, 30)
	s.send("weather?")
	s.waitFor("finally here.")
	s.emu.Resize(40, 20)
	s.tm.Send(tea.WindowSizeMsg{Width: 40, Height: 20})
	s.waitUntil("the answer wrapped to 40 columns", func(screen string) bool {
		return strings.Contains(strings.Join(strings.Fields(screen), " "), "finally here.") && strings.Contains(screen, "servers:")
	})
	// The menu takes room from the transcript, which stays at its end;
	// the status bar wraps to two lines, keeping the context in view.
	s.typeText("/")
	s.waitFor("/echo", "finally here.", "context: weather")
	_ = s.tm.Quit()
	m := s.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second))
	for i, l := range strings.Split(m.View().Content, "\n") {
		if ansi.StringWidth(l) > 40 {
			t.Errorf("line %d is %d columns wide: %q", i, ansi.StringWidth(l), ansi.Strip(l))
		}
	}
}

// With NoColor the program draws no colour at all, though the terminal
// supports true colour; without it, it does.
func TestNoColor(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		w := newWorld(t, worldOptions{ui: Options{NoColor: noColor}, script: []fakellm.Turn{
			{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"x"}`}}},
			{Text: "# Done\n\nWith `code` and **bold**."},
		}})
		s := run(t, w.ui.Model(), 80, 30)
		s.send("go")
		s.waitFor("Allow the call")
		s.key('d')
		s.waitFor("Done", "refused:")
		s.send("/help")
		s.waitFor("ctrl+o")
		sgrs := colourSGRs(s.raw.String())
		if noColor && len(sgrs) > 0 {
			t.Errorf("NoColor output has colour sequences: %q", sgrs[:min(5, len(sgrs))])
		}
		if !noColor && len(sgrs) == 0 {
			t.Error("colour output has no colour sequences: the check sees nothing")
		}
	}
}

// colourSGRs returns the SGR sequences in out that set a colour.
func colourSGRs(out string) []string {
	var found []string
	for _, m := range regexp.MustCompile(`\x1b\[([0-9;:]*)m`).FindAllStringSubmatch(out, -1) {
		params := strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' })
		for i := 0; i < len(params); i++ {
			p := params[i]
			if p == "38" || p == "48" || p == "58" {
				found = append(found, m[0])
				break
			}
			if len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] <= '7' || len(p) == 3 && strings.HasPrefix(p, "10") && p[2] <= '7' {
				found = append(found, m[0])
				break
			}
		}
	}
	return found
}

// Plain text in direct mode shows the advice; slash commands work.
func TestDirectMode(t *testing.T) {
	u := New(Options{Commands: &commands{}, Advice: "Add llm: to the config."})
	s := run(t, u.Model(), 80, 30)
	s.waitFor("direct mode", "Add llm: to the config.")
	s.send("hello")
	s.waitUntil("the advice again", func(screen string) bool { return strings.Count(screen, "Add llm: to the config.") == 2 })
	s.send("/echo still works")
	s.waitFor("echo: still works")
}

// /clear empties the view, the session's transcript and provenance,
// and calls AfterTurn; a command's Send goes to the model with its
// attachments.
func TestClearAndSend(t *testing.T) {
	w := newWorld(t, worldOptions{script: []fakellm.Turn{{Text: "Summary given."}}})
	s := run(t, w.ui.Model(), 100, 30)
	s.send("/prompt")
	s.waitFor("attached weather:daily", "Summary given.", "context: weather")
	// The answer is drawn before the turn's end is handled.
	s.waitUntil("the turn's end (AfterTurn)", func(string) bool { return w.afterTurns() == 1 })
	s.send("/clear")
	s.waitFor("cleared", "context: empty")
	s.waitGone("Summary given.")
	if len(w.sess.Transcript()) != 0 {
		t.Error("the session still has its transcript")
	}
	if got := w.afterTurns(); got != 2 {
		t.Errorf("AfterTurn was called %d times, want 2: once for the turn, once for /clear", got)
	}
}

// /quit, ctrl+d on an empty input and ctrl+c twice each end the program.
func TestQuitKeys(t *testing.T) {
	for name, quit := range map[string]func(s *screen){
		"/quit":  func(s *screen) { s.send("/quit") },
		"ctrl+d": func(s *screen) { s.press('d', tea.ModCtrl) },
		"ctrl+c": func(s *screen) {
			s.press('c', tea.ModCtrl)
			s.waitFor("ctrl+c again quits")
			s.press('c', tea.ModCtrl)
		},
	} {
		t.Run(name, func(t *testing.T) {
			u := New(Options{Commands: &commands{}})
			s := run(t, u.Model(), 80, 20)
			s.waitFor("direct mode")
			quit(s)
			s.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
			if _, live := u.running(); live {
				t.Error("the UI is still live")
			}
		})
	}
}
