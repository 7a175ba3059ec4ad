package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/validate"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

const rainFlow = `version: 1
name: rain-reminders
inputs:
  cities: {type: array, items: {type: string}, default: [Oslo, Bergen]}
  threshold: {type: number, minimum: 0, maximum: 1, default: 0.6}
flows: [weather -> calendar]
defaults:
  retry: {max_attempts: 3}
steps:
  - id: forecast
    for_each: ${ .inputs.cities }
    call: {server: weather, tool: get_forecast}
    with: {location: ${ .item }, days: 1}
  - id: remind
    for_each: ${ [.steps.forecast.items[] | select(.status == "succeeded") | .result] }
    if: ${ .item.precipitation_probability >= .inputs.threshold }
    call: {server: calendar, tool: create_event}
    with:
      title: '${ "Umbrella: \(.item.location)" }'
      start: ${ .item.date + "T07:30:00" }
    idempotency_key: ${ "rain-\(.item.location)-\(.item.date)" }
`

type env struct {
	t   *testing.T
	dir string
	cfg string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	return &env{t: t, dir: dir, cfg: filepath.Join(dir, "config.yaml")}
}

func (e *env) write(name, body string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *env) config(servers string) {
	e.write("config.yaml", "credentials:\n  backend: file\n  file_dir: "+filepath.Join(e.dir, "keyring")+"\nservers:\n"+servers)
}

type result struct {
	stdout, stderr string
	err            error
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	ios, _, out, errOut := iostreams.Test()
	vars := map[string]string{
		"HOME":            e.dir,
		"XDG_CONFIG_HOME": filepath.Join(e.dir, "xdg-config"),
		"XDG_STATE_HOME":  filepath.Join(e.dir, "state"),
		"XDG_DATA_HOME":   filepath.Join(e.dir, "data"),
	}
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	f.ConfigFlag = e.cfg
	cmd := validate.NewCmdValidate(f, nil)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return result{stdout: out.String(), stderr: errOut.String(), err: err}
}

func exitCode(err error) int { return cmdutil.ExitCode(err) }

// TestValidateOfflineRetry: offline, annotations are unknown, so a step's
// own retry gets a warning that --connect and run decide it, and
// defaults.retry none: it applies where the rule allows, so it forces
// retry_unsafe onto no step.
func TestValidateOfflineRetry(t *testing.T) {
	e := newEnv(t)
	r := e.run(e.write("rain.flow.yaml", rainFlow))
	if r.err != nil || strings.Contains(r.stderr, "warning") {
		t.Fatalf("defaults.retry offline: %v\n%s", r.err, r.stderr)
	}
	own := strings.Replace(rainFlow, "days: 1}\n", "days: 1}\n    retry: {max_attempts: 2}\n", 1)
	r = e.run(e.write("own.flow.yaml", own))
	if r.err != nil || !strings.Contains(r.stderr, ":14:5: warning: steps[0].retry: whether weather.get_forecast may be called up to 2 times depends on its annotations") {
		t.Fatalf("own retry offline: %v\n%s", r.err, r.stderr)
	}
	if strings.Contains(r.stderr, "calendar.create_event") {
		t.Errorf("create_event has an idempotency key, yet was reported:\n%s", r.stderr)
	}
	r = e.run("--json", e.write("own.flow.yaml", own))
	var rep struct {
		Valid    bool
		Problems []struct{ Message string }
		Warnings []struct {
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.Valid || len(rep.Problems) != 0 || len(rep.Warnings) != 1 || rep.Warnings[0].Line != 14 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, r.stdout)
	}
}

func TestValidateOffline(t *testing.T) {
	e := newEnv(t)
	ok := e.write("rain.flow.yaml", rainFlow)
	r := e.run(ok)
	if r.err != nil {
		t.Fatalf("err %v\n%s", r.err, r.stderr)
	}
	if want := "OK: " + ok + ", 2 steps calling calendar, weather, checked offline\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}

	bad := e.write("bad.flow.yaml", strings.Replace(strings.Replace(rainFlow, "flows: [weather -> calendar]\n", "", 1),
		"${ .item }, days: 1}", "${ .itme }, days: 1, when: ${ now }}", 1))
	r = e.run(bad)
	var ee *cmdutil.ExitError
	if !errors.As(r.err, &ee) || ee.Code != cmdutil.ExitUsage || !ee.Silent {
		t.Fatalf("err = %#v", r.err)
	}
	for _, want := range []string{
		bad + `:12:22: steps[0].with.location: .itme is not in scope (did you mean "item"?)`,
		"   12 |     with: {location: ${ .itme }, days: 1, when: ${ now }}\n      |                      ^\n",
		bad + ":12:49: steps[0].with.when: now is not allowed in flow expressions",
		bad + `:18:14: steps[1].with.title: step "remind" sends data from server "weather"`,
		`add "weather -> calendar" to flows:`,
		"3 problems in " + bad + "\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}

	r = e.run("--json", bad)
	if exitCode(r.err) != cmdutil.ExitUsage {
		t.Errorf("--json exit %d", exitCode(r.err))
	}
	var rep struct {
		File     string
		Valid    bool
		Problems []struct {
			Line, Column   int
			Field, Message string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if rep.Valid || len(rep.Problems) != 3 || rep.Problems[0].Line != 12 || rep.Problems[0].Column != 22 || rep.Problems[0].Field != "steps[0].with.location" {
		t.Errorf("--json report %+v", rep)
	}

	r = e.run(filepath.Join(e.dir, "missing.flow.yaml"))
	if exitCode(r.err) != cmdutil.ExitUsage || !strings.Contains(r.err.Error(), "reading the flow file") {
		t.Errorf("missing file: %v", r.err)
	}
	if r = e.run(); r.err == nil {
		t.Error("no argument accepted")
	}
}

func schema(t *testing.T, js string) *jsonschema.Schema {
	t.Helper()
	var s jsonschema.Schema
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// serve runs a go-sdk server over loopback HTTP.
func serve(t *testing.T, s *mcp.Server) string {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func startServers(t *testing.T) (weatherURL, calendarURL string) {
	t.Helper()
	noop := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	}
	weather := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	weather.AddTool(&mcp.Tool{
		Name: "get_forecast", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		InputSchema:  schema(t, `{"type":"object","required":["location"],"properties":{"location":{"type":"string"},"days":{"type":"integer"}}}`),
		OutputSchema: schema(t, `{"type":"object","properties":{"location":{"type":"string"},"date":{"type":"string"},"precipitation_probability":{"type":"number"}}}`),
	}, noop)
	calendar := mcp.NewServer(&mcp.Implementation{Name: "calendar", Version: "1"}, nil)
	for _, name := range []string{"create_event", "delete_event"} {
		calendar.AddTool(&mcp.Tool{
			Name:        name,
			InputSchema: schema(t, `{"type":"object","required":["title","start"],"properties":{"title":{"type":"string"},"start":{"type":"string"}}}`),
		}, noop)
	}
	return serve(t, weather), serve(t, calendar)
}

func TestValidateConnect(t *testing.T) {
	e := newEnv(t)
	w, c := startServers(t)
	e.config("  weather:\n    url: " + w + "\n    timeout: 10s\n" +
		"  calendar:\n    url: " + c + "\n    timeout: 10s\n    tools: {deny: [delete_event]}\n")
	ok := e.write("rain.flow.yaml", rainFlow)
	r := e.run("--connect", ok)
	if r.err != nil {
		t.Fatalf("err %v\n%s", r.err, r.stderr)
	}
	if !strings.HasSuffix(r.stdout, "checked against the live tools\n") {
		t.Errorf("stdout %q", r.stdout)
	}

	bad := e.write("bad.flow.yaml", rainFlow+`  - id: cleanup
    call: {server: calendar, tool: delete_event}
    with: {title: x, start: y}
  - id: typo
    call: {server: weather, tool: get_forcast}
  - id: elsewhere
    call: {server: wether, tool: x}
  - id: short
    call: {server: calendar, tool: create_event}
    with: {title: 3}
`)
	r = e.run("--connect", bad)
	if exitCode(r.err) != cmdutil.ExitUsage {
		t.Fatalf("exit %d: %v\n%s", exitCode(r.err), r.err, r.stderr)
	}
	for _, want := range []string{
		`:23:11: steps[2].call: calendar.delete_event: the tools filter of server "calendar" in ` + e.cfg + ` does not allow "delete_event"`,
		`:26:11: steps[3].call: weather.get_forcast: server "weather" has no tool "get_forcast" (did you mean "get_forecast"?); it has get_forecast`,
		`:28:11: steps[4].call: wether.x: unknown server "wether" (did you mean "weather"?)`,
		`:31:5: steps[5].with: calendar.create_event requires argument "start"`,
		`:31:19: steps[5].with.title: invalid argument for calendar.create_event: argument "title" must be a string (got 3)`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestValidateConnectUnreachable(t *testing.T) {
	e := newEnv(t)
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL + "/mcp"
	down.Close()
	w, _ := startServers(t)
	e.config("  weather:\n    url: " + w + "\n    timeout: 10s\n  calendar:\n    url: " + url + "\n    timeout: 5s\n")
	r := e.run("--connect", e.write("rain.flow.yaml", rainFlow))
	if exitCode(r.err) != cmdutil.ExitConnect {
		t.Fatalf("exit %d, want %d: %v\n%s", exitCode(r.err), cmdutil.ExitConnect, r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "steps[1].call: calendar.create_event:") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestValidateOfflineServers: with a config, offline validation checks
// each called server against it, at the call; without one it cannot.
func TestValidateOfflineServers(t *testing.T) {
	e := newEnv(t)
	fl := e.write("typo.flow.yaml", strings.Replace(rainFlow, "server: calendar,", "server: calender,", 1))
	r := e.run(fl)
	if r.err == nil || !strings.Contains(r.stderr, "config did not load") {
		// calender is undeclared in flows:, so the file is invalid anyway;
		// what matters is that no config means no server check.
		t.Logf("no config: %v\n%s", r.err, r.stderr)
	}
	if strings.Contains(r.stderr, `unknown server`) {
		t.Fatalf("checked servers without a config:\n%s", r.stderr)
	}
	e.config("  weather:\n    url: http://127.0.0.1:1/mcp\n  calendar:\n    url: http://127.0.0.1:1/mcp\n")
	r = e.run(fl)
	if exitCode(r.err) != cmdutil.ExitUsage || !strings.Contains(r.stderr, fl+`:17:11: steps[1].call.server: unknown server "calender" (did you mean "calendar"?)`) {
		t.Fatalf("exit %d\n%s", exitCode(r.err), r.stderr)
	}
	if r := e.run(e.write("rain.flow.yaml", rainFlow)); r.err != nil {
		t.Fatalf("configured servers: %v\n%s", r.err, r.stderr)
	}
}

// TestValidateRedundantFlow: `a -> a` in flows: is a warning, and the
// file's other problems are all reported beside it, at their own index.
func TestValidateRedundantFlow(t *testing.T) {
	e := newEnv(t)
	r := e.run(e.write("self.flow.yaml", strings.Replace(rainFlow, "flows: [weather -> calendar]", "flows: [weather -> weather, weather -> calendar]", 1)))
	if r.err != nil || !strings.Contains(r.stderr, `:6:9: warning: flows[0]: flow "weather -> weather" is not needed`) {
		t.Fatalf("err %v\n%s", r.err, r.stderr)
	}
	bad := e.write("bad.flow.yaml", strings.Replace(strings.Replace(rainFlow, "flows: [weather -> calendar]", "flows: [weather calendar, weather -> weather]", 1),
		"${ .item }, days: 1}", "${ .itme }, days: 1}", 1))
	r = e.run(bad)
	for _, want := range []string{
		`:6:9: flows[0]: invalid flow "weather calendar"`,
		`:6:27: warning: flows[1]: flow "weather -> weather" is not needed`,
		`:13:22: steps[0].with.location: .itme is not in scope`,
		`steps[1].with.title: step "remind" sends data from server "weather"`,
		"3 problems in " + bad,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestValidateSubFlow: a sub-flow's problems are shown at their place in
// its own file, with its line, and the uses step says it has them.
func TestValidateSubFlow(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.dir, "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	sub := e.write("lib/remind.flow.yaml", "version: 1\nname: remind\ninputs:\n  when: {type: string}\nsteps:\n  - id: add\n    call: {server: calendar, tool: create_event}\n    with: {date: ${ .inputs.wehn }}\n")
	main := e.write("main.flow.yaml", "version: 1\nname: main\nsteps:\n  - id: sync\n    uses: lib/remind.flow.yaml\n    with: {when: 3}\n")
	r := e.run(main)
	if exitCode(r.err) != cmdutil.ExitUsage {
		t.Fatalf("exit %d: %v\n%s", exitCode(r.err), r.err, r.stderr)
	}
	for _, want := range []string{
		main + ":5:11: steps[0].uses: sub-flow " + sub + " has 1 problem(s)",
		main + ":6:18: steps[0].with.when: input \"when\" must be a string (got 3) (as sub-flow " + sub + " declares it at line 4)",
		sub + ":8:18: steps[0].with.date: undeclared input \"wehn\"",
		"    8 |     with: {date: ${ .inputs.wehn }}",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = e.run("--json", main)
	var rep struct {
		Problems []struct {
			File string
			Line int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Problems) != 3 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, r.stdout)
	}
	if rep.Problems[0].File != sub || rep.Problems[0].Line != 8 || rep.Problems[1].File != "" {
		t.Errorf("--json problems %+v", rep.Problems)
	}
	if err := os.WriteFile(sub, []byte("version: 1\nname: remind\ninputs:\n  when: {type: string}\nsteps:\n  - id: add\n    call: {server: calendar, tool: create_event}\n    with: {date: ${ .inputs.when }}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run(e.write("main.flow.yaml", "version: 1\nname: main\nsteps:\n  - id: sync\n    uses: lib/remind.flow.yaml\n    with: {when: \"x\"}\n"))
	if r.err != nil || !strings.Contains(r.stdout, "calling calendar") {
		t.Fatalf("valid: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
}
