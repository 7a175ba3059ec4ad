package serve

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// wfNow is the weather server's clock in these tests: its forecasts are a
// function of the city and the date.
func wfNow() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }

// workState is what the work server's tools share with a test.
type workState struct {
	// heard, when set, holds crunch's answer until it is closed.
	heard <-chan struct{}
	// fixed makes boom succeed.
	fixed atomic.Bool
	// crunches counts crunch's calls.
	crunches atomic.Int32
}

// workServer is a go-sdk server whose crunch tool reports progress as it
// works and whose boom tool fails with a tool error until ws.fixed. Crunch
// answers once ws.heard is closed, so that a test sees its reports before
// the result: go-sdk handles notifications apart from responses, and a
// report arriving after the result is dropped.
func workServer(ws *workState) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	obj := map[string]any{"type": "object"}
	srv.AddTool(&mcp.Tool{Name: "crunch", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ws.crunches.Add(1)
			if token := req.Params.GetProgressToken(); token != nil {
				for i := 1; i <= 3; i++ {
					if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: token, Progress: float64(i), Total: 4, Message: "chunk"}); err != nil {
						return nil, err
					}
				}
				if ws.heard != nil {
					select {
					case <-ws.heard:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}}, StructuredContent: map[string]any{"ok": true}}, nil
		})
	srv.AddTool(&mcp.Tool{Name: "echo", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args map[string]any
			if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
				return nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}, StructuredContent: args}, nil
		})
	srv.AddTool(&mcp.Tool{Name: "boom", InputSchema: obj},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if ws.fixed.Load() {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"fixed":true}`}}, StructuredContent: map[string]any{"fixed": true}}, nil
			}
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom went off"}}}, nil
		})
	return srv
}

// wfWorld is an orchestrator over the example weather and calendar
// servers and the work server, all in process, and a directory of
// workflow files.
type wfWorld struct {
	o       *orchestrator.Orchestrator
	work    *workState
	dir     string
	journal string
}

func newWFWorld(t *testing.T) *wfWorld { return newWFWorldHeard(t, nil) }

// newWFWorldHeard is newWFWorld whose work server's crunch answers once
// heard is closed.
func newWFWorldHeard(t *testing.T, heard <-chan struct{}) *wfWorld {
	t.Helper()
	ws := &workState{heard: heard}
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(wfNow))},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendar.NewServer())},
			{Config: connectors.Config{Name: "work", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(workServer(ws))},
		},
		AuditPath: filepath.Join(t.TempDir(), "audit.jsonl"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	w := &wfWorld{o: o, work: ws, dir: t.TempDir(), journal: filepath.Join(t.TempDir(), workflows.JournalFile)}
	return w
}

// add copies the example flow file name into the world's directory, or
// writes text there when text is given.
func (w *wfWorld) add(t *testing.T, name, text string) {
	t.Helper()
	data := []byte(text)
	if text == "" {
		var err error
		if data, err = os.ReadFile(filepath.Join("..", "examples", "flows", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *wfWorld) options() WorkflowOptions {
	return WorkflowOptions{
		Dir:              w.dir,
		Orchestrator:     func() *orchestrator.Orchestrator { return w.o },
		TrustAnnotations: func(string) bool { return true },
		Server: func(name string) error {
			if !slices.Contains([]string{"weather", "calendar", "work"}, name) {
				return errUnknownServer
			}
			return nil
		},
		JournalPath: w.journal,
	}
}

type wfError string

func (e wfError) Error() string { return string(e) }

const errUnknownServer = wfError("no such server in the config; servers are: calendar, weather, work")

// load loads the world's directory and fails on any problem.
func (w *wfWorld) load(t *testing.T, opts WorkflowOptions) map[string]WorkflowTool {
	t.Helper()
	tools, err := LoadWorkflowTools(t.Context(), opts)
	if err != nil {
		t.Fatalf("LoadWorkflowTools: %v", err)
	}
	out := map[string]WorkflowTool{}
	for _, wt := range tools {
		out[wt.Tool.Name] = wt
	}
	return out
}

// progressLog records the progress reports of one run.
type progressLog struct {
	mu      sync.Mutex
	reports []connectors.Progress
}

func (l *progressLog) add(p connectors.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reports = append(l.reports, p)
}

func (l *progressLog) all() []connectors.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reports)
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// asJSON is v as encoding/json decodes it, for comparing schemas.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The rain-reminders example becomes a tool named after its file, with
// its description, an input schema of its inputs (both have defaults, so
// none is required, and no other argument is allowed) and an output
// schema of its outputs; with Prefix its name is workflow__NAME.
func TestWorkflowToolDefinition(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	tools := w.load(t, w.options())
	wt, ok := tools["rain-reminders"]
	if !ok || len(tools) != 1 {
		t.Fatalf("tools %v, want rain-reminders", tools)
	}
	tool := wt.Tool
	if !strings.HasPrefix(tool.Description, "For each city, get tomorrow's forecast") || !strings.Contains(tool.Description, "calendar, weather") {
		t.Errorf("description %q", tool.Description)
	}
	if tool.Title != "rain-reminders" {
		t.Errorf("title %q", tool.Title)
	}
	in := asJSON(t, tool.InputSchema)
	props, _ := in["properties"].(map[string]any)
	if in["type"] != "object" || in["additionalProperties"] != false || in["required"] != nil || len(props) != 2 {
		t.Fatalf("input schema %v", in)
	}
	th, _ := props["threshold"].(map[string]any)
	if th["type"] != "number" || th["minimum"] != 0.0 || th["maximum"] != 1.0 || th["default"] != 0.6 {
		t.Errorf("threshold schema %v", th)
	}
	cities, _ := props["cities"].(map[string]any)
	if cities["type"] != "array" || cities["minItems"] != 1.0 {
		t.Errorf("cities schema %v", cities)
	}
	out := asJSON(t, tool.OutputSchema)
	oprops, _ := out["properties"].(map[string]any)
	req, _ := out["required"].([]any)
	if out["type"] != "object" || len(oprops) != 3 || len(req) != 3 || req[0] != "created" || req[1] != "rainy_cities" || req[2] != "dry_cities" {
		t.Errorf("output schema %v", out)
	}
	// The definitions are valid for a go-sdk server: it registers them.
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	srv.AddTool(tool, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil })

	opts := w.options()
	opts.Prefix = true
	if _, ok := w.load(t, opts)["workflow__rain-reminders"]; !ok {
		t.Error("with Prefix the tool is not workflow__rain-reminders")
	}
}

// An input without a default is required; literal outputs are typed as
// written, computed ones may be anything.
func TestWorkflowToolSchemasOfTypedFlow(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "typed.flow.yml", `version: 1
name: typed
inputs:
  city: {type: string}
  days: {type: integer, default: 1}
steps:
  - id: f
    call: {server: weather, tool: get_forecast}
    with: {location: "${ .inputs.city }", days: "${ .inputs.days }"}
outputs:
  forecast: ${ .steps.f.result }
  unit: celsius
  meta: {source: weather, count: 1}
`)
	tool := w.load(t, w.options())["typed"].Tool
	in := asJSON(t, tool.InputSchema)
	if req, _ := in["required"].([]any); len(req) != 1 || req[0] != "city" {
		t.Errorf("required %v, want [city]", in["required"])
	}
	if !strings.HasPrefix(tool.Description, "Runs the workflow typed.") {
		t.Errorf("description %q", tool.Description)
	}
	props := asJSON(t, tool.OutputSchema)["properties"].(map[string]any)
	if f := props["forecast"].(map[string]any); len(f) != 0 {
		t.Errorf("computed output's schema %v, want {}", f)
	}
	if u := props["unit"].(map[string]any); u["type"] != "string" || u["const"] != "celsius" {
		t.Errorf("literal output's schema %v", u)
	}
	if m := props["meta"].(map[string]any); m["type"] != "object" || m["properties"].(map[string]any)["count"].(map[string]any)["type"] != "number" {
		t.Errorf("object output's schema %v", m)
	}
}

// A file that does not validate, whose name is no tool name, or that
// repeats another's name is not offered; the error says which file and
// where, and the valid files are offered all the same.
func TestLoadWorkflowToolsRefusesInvalidFiles(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	w.add(t, "rain-reminders.flow.yml", mustRead(t, "../examples/flows/rain-reminders.flow.yaml"))
	w.add(t, "bad name.flow.yaml", mustRead(t, "../examples/flows/rain-reminders.flow.yaml"))
	w.add(t, "broken.flow.yaml", "version: 1\nname: broken\nsteps:\n  - id: a\n    call: {server: weather, tool: get_forecast}\n    with: {location: ${ .steps.nope.result }}\n")
	w.add(t, "elsewhere.flow.yaml", "version: 1\nname: elsewhere\nsteps:\n  - id: a\n    call: {server: mail, tool: send}\n")
	w.add(t, "notes.txt", "not a flow")
	tools, err := LoadWorkflowTools(t.Context(), w.options())
	if len(tools) != 1 || tools[0].Tool.Name != "rain-reminders" {
		t.Errorf("tools %v, want only rain-reminders", tools)
	}
	if err == nil {
		t.Fatal("no error for the invalid files")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(w.dir, "rain-reminders.flow.yml") + ": not offered: " + filepath.Join(w.dir, "rain-reminders.flow.yaml") + ` is offered as tool "rain-reminders" already`,
		filepath.Join(w.dir, "bad name.flow.yaml") + `: not offered: the tool would be named "bad name", which may hold only letters, digits, '_' and '-'`,
		filepath.Join(w.dir, "broken.flow.yaml") + ":6:",
		"nope",
		filepath.Join(w.dir, "elsewhere.flow.yaml") + ":5:",
		"no such server in the config",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "notes.txt") {
		t.Errorf("a file that is no flow file was looked at:\n%s", msg)
	}

	if _, err := LoadWorkflowTools(t.Context(), WorkflowOptions{Dir: filepath.Join(w.dir, "missing")}); err == nil || !strings.Contains(err.Error(), "workflows_dir") {
		t.Errorf("missing directory: %v", err)
	}
}

// A file whose data flows its flows: (and the config's policy.flows) do
// not allow is not offered, with the line and what to declare; the
// config's policy.flows make it valid, as for `mediator run`.
func TestWorkflowUndeclaredFlowRefused(t *testing.T) {
	w := newWFWorld(t)
	text := strings.Replace(mustRead(t, "../examples/flows/rain-reminders.flow.yaml"), "flows: [weather -> calendar]\n", "", 1)
	w.add(t, "rain.flow.yaml", text)
	tools, err := LoadWorkflowTools(t.Context(), w.options())
	if len(tools) != 0 || err == nil || !strings.Contains(err.Error(), filepath.Join(w.dir, "rain.flow.yaml")+":") || !strings.Contains(err.Error(), "weather -> calendar") {
		t.Fatalf("tools %v, error %v: want the file refused for its undeclared weather -> calendar flow", tools, err)
	}
	opts := w.options()
	opts.PolicyFlows = []flow.FlowEdge{{From: "weather", To: "calendar"}}
	if _, ok := w.load(t, opts)["rain"]; !ok {
		t.Fatal("policy.flows weather -> calendar does not make the file valid")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A run of the rain-reminders tool: arguments coerced as `mediator run -i`
// coerces them (a number given as text), outputs as structuredContent and
// as JSON text, a progress report per step finished, the run in the
// journal, and the provenance of the outputs: weather and calendar.
func TestWorkflowRun(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	wt := w.load(t, w.options())["rain-reminders"]
	cities := []string{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}
	var rainy, dry []string
	for _, c := range cities {
		if weather.Predict(c, wfNow(), 1).PrecipitationProbability >= 0.5 {
			rainy = append(rainy, c)
		} else {
			dry = append(dry, c)
		}
	}
	if len(rainy) == 0 || len(dry) == 0 {
		t.Fatalf("test cities should be mixed: rainy %v dry %v", rainy, dry)
	}
	var log progressLog
	args := map[string]any{"cities": []any{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}, "threshold": "0.5"}
	res, prov, err := wt.Run(t.Context(), orchestrator.NewSession(orchestrator.SessionOptions{}), args, log.add)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	out, _ := res.StructuredContent.(map[string]any)
	if got := strs(out["rainy_cities"]); !slices.Equal(got, rainy) {
		t.Errorf("rainy_cities %v, want %v", got, rainy)
	}
	if got := strs(out["dry_cities"]); !slices.Equal(got, dry) {
		t.Errorf("dry_cities %v, want %v", got, dry)
	}
	if got := strs(out["created"]); len(got) != len(rainy) {
		t.Errorf("created %v for rainy cities %v", got, rainy)
	}
	var text map[string]any
	if err := json.Unmarshal([]byte(resultText(res)), &text); err != nil || len(text) != 3 {
		t.Errorf("text content %q is not the outputs as JSON: %v", resultText(res), err)
	}
	if got := prov.Servers(); !slices.Equal(got, []string{"calendar", "weather"}) {
		t.Errorf("provenance %v, want [calendar weather]", got)
	}

	var msgs []string
	for _, p := range log.all() {
		msgs = append(msgs, p.Message)
	}
	if !slices.Equal(msgs, []string{"step forecast done (1/2)", "step remind done (2/2)"}) {
		t.Errorf("progress %q", msgs)
	}

	j, err := workflows.OpenJournal(w.journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	runs, err := j.Runs(t.Context(), 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("journal runs %v, %v", runs, err)
	}
	r := runs[0]
	if r.FlowName != "rain-reminders" || r.Status != workflows.RunSucceeded || r.FlowPath != filepath.Join(w.dir, "rain-reminders.flow.yaml") || r.Inputs["threshold"] != 0.5 {
		t.Errorf("journalled run %+v", r)
	}
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Arguments that do not fit the inputs are refused as a tool error naming
// the input, before anything is called or journalled.
func TestWorkflowBadArguments(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	wt := w.load(t, w.options())["rain-reminders"]
	for _, tc := range []struct {
		args map[string]any
		want []string
	}{
		{map[string]any{"threshold": "lots"}, []string{`input "threshold"`, "not valid JSON", "number"}},
		{map[string]any{"threshold": 2}, []string{"threshold", "1"}},
		{map[string]any{"cities": []any{}}, []string{"cities"}},
		{map[string]any{"citys": []any{"Oslo"}}, []string{`input "citys" is not declared`, "cities, threshold"}},
	} {
		res, prov, err := wt.Run(t.Context(), nil, tc.args, nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !res.IsError {
			t.Errorf("%v: not refused: %s", tc.args, resultText(res))
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(resultText(res), want) {
				t.Errorf("%v: error %q lacks %q", tc.args, resultText(res), want)
			}
		}
		if !prov.IsZero() {
			t.Errorf("%v: provenance %v of a refusal", tc.args, prov.Servers())
		}
	}
	j, err := workflows.OpenJournal(w.journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if runs, _ := j.Runs(t.Context(), 10); len(runs) != 0 {
		t.Errorf("refused arguments journalled %d run(s)", len(runs))
	}
}

// A run whose step fails is a tool error naming the run, the step, the
// error and its class, and how to resume it; the journal has it as
// failed, so `mediator resume` can finish it.
func TestWorkflowFailedRun(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "fails.flow.yaml", "version: 1\nname: fails\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\n  - id: explode\n    needs: [crunch]\n    call: {server: work, tool: boom}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	wt := w.load(t, w.options())["fails"]
	res, prov, err := wt.Run(t.Context(), nil, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Fatalf("not a tool error: %s", resultText(res))
	}
	msg := resultText(res)
	id := regexp.MustCompile(`run (\S+) failed at step explode`).FindStringSubmatch(msg)
	if id == nil {
		t.Fatalf("error %q does not name the run and the failed step", msg)
	}
	for _, want := range []string{"boom went off", "error class: tool_error", "resume it with `mediator resume " + id[1] + "`"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if got := prov.Servers(); !slices.Equal(got, []string{"work"}) {
		t.Errorf("provenance %v, want [work]", got)
	}
	j, err := workflows.OpenJournal(w.journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r, err := j.Run(t.Context(), id[1])
	if err != nil || r.Status != workflows.RunFailed {
		t.Fatalf("journalled run %+v, %v", r, err)
	}

	// What `mediator resume ID` does with it: the file from the journal,
	// the succeeded crunch reused, the failed boom called again.
	w.work.fixed.Store(true)
	f, ps, err := workflows.LoadForRun(t.Context(), r.FlowPath, flow.ValidateOptions{})
	if err != nil || len(ps.Errors()) > 0 {
		t.Fatalf("load %s: %v %v", r.FlowPath, ps, err)
	}
	crunches := w.work.crunches.Load()
	again, err := workflows.Resume(t.Context(), f, r.ID, workflows.RunOptions{
		Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: w.o}), Journal: j, TrustAnnotations: func(string) bool { return true },
	}, workflows.ResumeOptions{})
	if err != nil || again.Status != workflows.RunSucceeded || again.Outputs["ok"] != true {
		t.Fatalf("resume: %+v %v", again, err)
	}
	if n := w.work.crunches.Load(); n != crunches {
		t.Errorf("resume called crunch again (%d calls, %d before)", n, crunches)
	}
}

// A server's progress reports about a step's call reach the tool's
// progress, tagged with the step and server, with values that only
// increase and stay below the next step's.
func TestWorkflowServerProgress(t *testing.T) {
	heard := make(chan struct{})
	var once sync.Once
	w := newWFWorldHeard(t, heard)
	w.add(t, "crunch.flow.yaml", "version: 1\nname: crunch\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	wt := w.load(t, w.options())["crunch"]
	var log progressLog
	res, prov, err := wt.Run(t.Context(), nil, nil, func(p connectors.Progress) {
		log.add(p)
		if p.Server == "work" {
			once.Do(func() { close(heard) })
		}
	})
	if err != nil || res.IsError {
		t.Fatalf("run: %v %s", err, resultText(res))
	}
	if res.StructuredContent.(map[string]any)["ok"] != true {
		t.Errorf("outputs %v", res.StructuredContent)
	}
	if got := prov.Servers(); !slices.Equal(got, []string{"work"}) {
		t.Errorf("provenance %v", got)
	}
	reports := log.all()
	if len(reports) < 2 {
		t.Fatalf("progress %+v: want the server's and the step's", reports)
	}
	last := 0.0
	for i, p := range reports {
		if p.Progress <= last || p.Total != 1 {
			t.Errorf("report %d %+v: progress must increase, total 1", i, p)
		}
		last = p.Progress
		if i < len(reports)-1 && (p.Message != "step crunch (work): chunk" || p.Server != "work" || p.Progress >= 1) {
			t.Errorf("server report %d %+v", i, p)
		}
	}
	if end := reports[len(reports)-1]; end.Message != "step crunch done (1/1)" || end.Progress != 1 {
		t.Errorf("last report %+v", end)
	}
}

// A run is decided under the host session it is given: a flow the
// orchestrator's policy does not allow (the file was valid under the
// config's policy.flows, and the orchestrator was built without it) is
// refused at run time, as a tool error naming the flow, unless the host
// session's approver allows it; the approver is asked about exactly that
// flow.
func TestWorkflowRunUnderHostSession(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "remind.flow.yaml", `version: 1
name: remind
inputs:
  city: {type: string}
steps:
  - id: forecast
    call: {server: weather, tool: get_forecast}
    with: {location: "${ .inputs.city }", days: 1}
  - id: remind
    call: {server: calendar, tool: create_event}
    with:
      title: "${ .steps.forecast.result.summary }"
      start: "${ .steps.forecast.result.date + \"T07:30:00\" }"
      duration_minutes: 10
outputs:
  event: ${ .steps.remind.result.event_id }
`)
	opts := w.options()
	opts.PolicyFlows = []flow.FlowEdge{{From: "weather", To: "calendar"}}
	wt := w.load(t, opts)["remind"]
	args := map[string]any{"city": "Bergen"}

	res, _, err := wt.Run(t.Context(), orchestrator.NewSession(orchestrator.SessionOptions{}), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := resultText(res); !res.IsError || !strings.Contains(msg, "weather -> calendar") || !strings.Contains(msg, "error class: refused") {
		t.Fatalf("want the flow refused, got %v %q", res.IsError, msg)
	}

	var (
		mu    sync.Mutex
		asked []orchestrator.FlowRequest
	)
	sess := orchestrator.NewSession(orchestrator.SessionOptions{Approver: orchestrator.ApproverFunc(func(_ context.Context, req orchestrator.FlowRequest) (orchestrator.Approval, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, req)
		return orchestrator.ApprovalSession, nil
	})})
	res, _, err = wt.Run(t.Context(), sess, args, nil)
	if err != nil || res.IsError {
		t.Fatalf("approved run: %v %s", err, resultText(res))
	}
	if len(asked) != 1 || !slices.Equal(asked[0].From, []string{"weather"}) || asked[0].To != "calendar" || asked[0].Target != calendar.ToolCreateEvent {
		t.Errorf("the approver was asked %+v, want once about weather -> calendar create_event", asked)
	}
	if got := sess.Approved(); !slices.Equal(got, []string{"weather -> calendar tools/call create_event"}) {
		t.Errorf("the host session's approvals are %v", got)
	}
}

// A run's arguments come from the host, whose session has been given data
// of some servers: every call of the run carries that provenance, so data
// the host got from weather cannot reach work through a workflow's
// arguments unless the flow is allowed or the host's user approves it.
func TestWorkflowCarriesHostProvenance(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "crunch.flow.yaml", "version: 1\nname: crunch\ninputs:\n  text: {type: string, default: x}\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\n    with: {text: ${ .inputs.text }}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	wt := w.load(t, w.options())["crunch"]
	ctx := withHostProvenance(t.Context(), orchestrator.ProvenanceOf("weather"))
	args := map[string]any{"text": "the forecast the host was given"}

	res, _, err := wt.Run(ctx, orchestrator.NewSession(orchestrator.SessionOptions{}), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := resultText(res); !res.IsError || !strings.Contains(msg, "weather -> work") || !strings.Contains(msg, "step crunch") {
		t.Fatalf("want the call refused for weather -> work, got %v %q", res.IsError, msg)
	}

	var asked []orchestrator.FlowRequest
	sess := orchestrator.NewSession(orchestrator.SessionOptions{Approver: orchestrator.ApproverFunc(func(_ context.Context, req orchestrator.FlowRequest) (orchestrator.Approval, error) {
		asked = append(asked, req)
		return orchestrator.ApprovalOnce, nil
	})})
	res, _, err = wt.Run(ctx, sess, args, nil)
	if err != nil || res.IsError {
		t.Fatalf("approved run: %v %s", err, resultText(res))
	}
	if len(asked) != 1 || !slices.Equal(asked[0].From, []string{"weather"}) || asked[0].To != "work" {
		t.Errorf("asked %+v, want weather -> work", asked)
	}

	// A host session that was given nothing: nothing to ask.
	res, _, err = wt.Run(t.Context(), orchestrator.NewSession(orchestrator.SessionOptions{}), args, nil)
	if err != nil || res.IsError {
		t.Fatalf("run without host provenance: %v %s", err, resultText(res))
	}
}

// Through the Server, a go-sdk client as the host: the workflow tool is
// listed with its schemas beside the gateway's server__tool names, a call
// with a progress token gets the step reports and the outputs as
// structuredContent (checked by the client against the outputSchema), and
// what the run returned counts as given to the host: a later call of the
// host's to another server carries weather's and calendar's data.
func TestWorkflowToolThroughServer(t *testing.T) {
	w := newWFWorld(t)
	w.add(t, "rain-reminders.flow.yaml", "")
	opts := w.options()
	opts.Prefix = true
	tools, err := LoadWorkflowTools(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Gateway: true, Servers: []string{"work"}, Workflows: tools})
	if err != nil {
		t.Fatal(err)
	}
	s.SetOrchestrator(w.o)

	var (
		mu    sync.Mutex
		notes []*mcp.ProgressNotificationParams
		got   = make(chan struct{}, 16)
	)
	client := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			notes = append(notes, req.Params)
			mu.Unlock()
			got <- struct{}{}
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	if _, err := s.MCPServer().Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := client.Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	var names []string
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
		if tool.Name == "workflow__rain-reminders" && (tool.OutputSchema == nil || tool.InputSchema == nil) {
			t.Errorf("listed without schemas: %+v", tool)
		}
	}
	if !slices.Contains(names, "workflow__rain-reminders") || !slices.Contains(names, "work__crunch") {
		t.Fatalf("tools %v", names)
	}

	params := &mcp.CallToolParams{Name: "workflow__rain-reminders", Arguments: map[string]any{"cities": []string{"Bergen", "Lisbon"}, "threshold": 0.5}}
	params.SetProgressToken("run-1")
	res, err := cs.CallTool(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	out, _ := res.StructuredContent.(map[string]any)
	if len(out) != 3 || out["rainy_cities"] == nil {
		t.Errorf("structuredContent %v", res.StructuredContent)
	}
	// A guard against a hang, not a measure: the reports were sent
	// before the result.
	guard, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range 2 {
		select {
		case <-got:
		case <-guard.Done():
			t.Fatal("the step reports did not arrive")
		}
	}
	mu.Lock()
	slices.SortFunc(notes, func(a, b *mcp.ProgressNotificationParams) int { return cmp.Compare(a.Progress, b.Progress) })
	if len(notes) < 2 || notes[0].Message != "step forecast done (1/2)" || notes[1].Message != "step remind done (2/2)" || notes[1].Progress != 2 || notes[1].Total != 2 {
		t.Errorf("progress %+v", notes)
	}
	mu.Unlock()

	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "work__crunch", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if msg := resultText(res); !res.IsError || !strings.Contains(msg, `"calendar"`) || !strings.Contains(msg, `"weather"`) {
		t.Errorf("work__crunch after the workflow's result: %v %q; want it refused for calendar's and weather's data", res.IsError, msg)
	}
}

// No secret the redactor knows reaches the host through a workflow: not
// in the outputs (structured or text), not in an error.
func TestWorkflowRedactsSecrets(t *testing.T) {
	const key = "sk-canary-0123456789abcdef"
	w := newWFWorld(t)
	w.add(t, "echo.flow.yaml", "version: 1\nname: echo\ninputs:\n  text: {type: string}\n  n: {type: number, default: 1}\nsteps:\n  - id: echo\n    call: {server: work, tool: echo}\n    with: {text: ${ .inputs.text }}\noutputs:\n  said: ${ .steps.echo.result.text }\n")
	opts := w.options()
	// The redactor is replaced after loading, as opening the keyring does.
	var red *credentials.Redactor
	opts.Redactor = func() *credentials.Redactor { return red }
	wt := w.load(t, opts)["echo"]
	red = credentials.NewRedactor()
	red.Add(credentials.NewSecret(key))

	res, _, err := wt.Run(t.Context(), nil, map[string]any{"text": "the key is " + key}, nil)
	if err != nil || res.IsError {
		t.Fatalf("run: %v %s", err, resultText(res))
	}
	structured, _ := json.Marshal(res.StructuredContent)
	if strings.Contains(string(structured), key) || strings.Contains(resultText(res), key) || !strings.Contains(resultText(res), "[REDACTED]") {
		t.Errorf("the key reached the host: %s / %s", structured, resultText(res))
	}

	res, _, err = wt.Run(t.Context(), nil, map[string]any{"text": "x", "n": key}, nil)
	if err != nil || !res.IsError {
		t.Fatalf("bad argument not refused: %v %s", err, resultText(res))
	}
	if msg := resultText(res); strings.Contains(msg, key) || !strings.Contains(msg, "[REDACTED]") {
		t.Errorf("the key reached the host in an error: %q", msg)
	}
}

// A run the host cancels (its call's context ends) is cancelled on the
// servers and journalled, and answers with a tool error that says so and
// how to resume it.
func TestWorkflowCancelled(t *testing.T) {
	w := newWFWorldHeard(t, make(chan struct{})) // crunch never answers on its own
	w.add(t, "crunch.flow.yaml", "version: 1\nname: crunch\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	wt := w.load(t, w.options())["crunch"]
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res, _, err := wt.Run(ctx, nil, nil, func(p connectors.Progress) {
		if p.Server == "work" {
			cancel() // the server is at work: the host gives up
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := resultText(res)
	if !res.IsError || !regexp.MustCompile(`run \S+ cancelled`).MatchString(msg) || !strings.Contains(msg, "error class: cancelled") || !strings.Contains(msg, "mediator resume ") {
		t.Errorf("cancelled run: %v %q", res.IsError, msg)
	}
}

// A run whose timeout passes, and a run whose finally steps fail after
// its steps succeeded, are tool errors that say so and how to resume.
func TestWorkflowTimedOutAndFinallyFailed(t *testing.T) {
	heard := make(chan struct{}) // never closed: crunch waits until cancelled
	w := newWFWorldHeard(t, heard)
	w.add(t, "slow.flow.yaml", "version: 1\nname: slow\ntimeout: 300ms\nsteps:\n  - id: crunch\n    call: {server: work, tool: crunch}\noutputs:\n  ok: ${ .steps.crunch.result.ok }\n")
	w.add(t, "tidy.flow.yaml", "version: 1\nname: tidy\nsteps:\n  - id: echo\n    call: {server: work, tool: echo}\n    with: {a: 1}\nfinally:\n  - id: cleanup\n    call: {server: work, tool: boom}\noutputs:\n  a: ${ .steps.echo.result.a }\n")
	tools := w.load(t, w.options())

	res, _, err := tools["slow"].Run(t.Context(), nil, map[string]any{}, func(connectors.Progress) {})
	if err != nil {
		t.Fatal(err)
	}
	msg := resultText(res)
	if !res.IsError || !strings.Contains(msg, "timed_out") || !strings.Contains(msg, "--extend") {
		t.Errorf("timed-out run: error=%v %q; want timed_out and how to resume with more time", res.IsError, msg)
	}

	res, _, err = tools["tidy"].Run(t.Context(), nil, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg = resultText(res)
	if !res.IsError || !strings.Contains(msg, "succeeded") || !strings.Contains(msg, "finally steps failed") || !strings.Contains(msg, "mediator resume ") {
		t.Errorf("run whose finally failed: error=%v %q; want its success, finally's failure and the resume hint", res.IsError, msg)
	}
}
