package orchestrator_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
)

func asError(t *testing.T, err error, kind orchestrator.Kind) *orchestrator.Error {
	t.Helper()
	var oe *orchestrator.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *orchestrator.Error", err, err)
	}
	if oe.Kind != kind {
		t.Fatalf("error %q has kind %q, want %q", err, oe.Kind, kind)
	}
	return oe
}

func TestUnknownServerSuggests(t *testing.T) {
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
		inProcessServer("calendar", newTestServer(serverOpts{name: "calendar"}).Server),
	}})
	_, err := o.Call(ctx, "wether", "get_forecast", nil)
	oe := asError(t, err, orchestrator.KindUnknownServer)
	if !reflect.DeepEqual(oe.Suggestions, []string{"weather"}) || !oe.Usage() {
		t.Errorf("suggestions %v, usage %v", oe.Suggestions, oe.Usage())
	}
	if !strings.Contains(err.Error(), `did you mean "weather"?`) {
		t.Errorf("message %q lacks the suggestion", err)
	}
	_, err = o.Tools(ctx, "zzz")
	oe = asError(t, err, orchestrator.KindUnknownServer)
	if len(oe.Suggestions) != 0 || !strings.Contains(err.Error(), "configured servers: calendar, weather") {
		t.Errorf("no close match should list the servers: %q", err)
	}
	// Nothing was connected for a name that does not exist.
	for _, r := range o.Servers() {
		if r.State != connectors.StateIdle {
			t.Errorf("%s is %s", r.Name, r.State)
		}
	}
}

func TestUnknownToolSuggests(t *testing.T) {
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	_, err := o.Call(ctx, "weather", "get_forcast", map[string]any{"city": "x"})
	oe := asError(t, err, orchestrator.KindUnknownTool)
	if oe.Server != "weather" || oe.Tool != "get_forcast" || !reflect.DeepEqual(oe.Suggestions, []string{"get_forecast"}) {
		t.Errorf("error fields %+v", oe)
	}
	if !strings.Contains(err.Error(), `server "weather" has no tool "get_forcast"; did you mean "get_forecast"?`) {
		t.Errorf("message %q", err)
	}
}

func TestFilterDenyWinsAndNothingIsSent(t *testing.T) {
	ctx := testContext(t)
	srv := newTestServer(serverOpts{name: "weather"})
	cfg := inProcessServer("weather", srv.Server)
	cfg.Tools = orchestrator.ToolFilter{Allow: []string{"get_*", "echo", "delete_*"}, Deny: []string{"delete_*"}}
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{cfg}})

	tools, err := o.Tools(ctx, "weather")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, ti := range tools {
		allowed[ti.Name] = ti.Allowed
	}
	want := map[string]bool{"create_event": false, "delete_everything": false, "echo": true, "fail": false, "get_forecast": true}
	if !reflect.DeepEqual(allowed, want) {
		t.Errorf("Allowed = %v, want %v", allowed, want)
	}

	_, err = o.Call(ctx, "weather", "delete_everything", map[string]any{"text": "x"})
	asError(t, err, orchestrator.KindNotAllowed)
	if !strings.Contains(err.Error(), `deny pattern "delete_*"`) {
		t.Errorf("message %q should name the deny pattern", err)
	}
	_, err = o.Call(ctx, "weather", "create_event", map[string]any{"title": "x"})
	asError(t, err, orchestrator.KindNotAllowed)
	if !strings.Contains(err.Error(), `allow: "get_*", "echo", "delete_*"`) {
		t.Errorf("message %q should list the allow patterns", err)
	}
	if n := srv.calls.Load(); n != 0 {
		t.Errorf("server saw %d calls, want 0", n)
	}
	if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": "x"}); err != nil {
		t.Errorf("allowed call: %v", err)
	}
}

func TestArgumentsValidatedBeforeSending(t *testing.T) {
	ctx := testContext(t)
	srv := newTestServer(serverOpts{name: "weather"})
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcessServer("weather", srv.Server)}})
	cases := []struct {
		tool  string
		args  map[string]any
		field string
		msg   string
	}{
		{"get_forecast", map[string]any{"days": 3}, "city", `missing required argument "city" (string)`},
		{"get_forecast", nil, "city", `missing required argument "city"`},
		{"get_forecast", map[string]any{"city": 5}, "city", `argument "city" must be a string (got 5)`},
		{"get_forecast", map[string]any{"city": "Oslo", "days": "three"}, "days", `argument "days" must be an integer (got string "three")`},
		{"get_forecast", map[string]any{"city": "Oslo", "days": 40}, "days", `argument "days" must be at most 14 (got 40)`},
		{"get_forecast", map[string]any{"city": "Oslo", "unit": "kelvin"}, "unit", `argument "unit" must be one of "celsius", "fahrenheit" (got string "kelvin")`},
		{"get_forecast", map[string]any{"city": "Oslo", "citty": "x"}, "citty", `unknown argument "citty" (did you mean "city"?); valid: city, days, unit`},
		{"create_event", map[string]any{"title": "t", "where": map[string]any{}}, "where.room", `missing required argument "where.room" (string)`},
		{"create_event", map[string]any{"title": "t", "where": map[string]any{"room": 1}}, "where.room", `argument "where.room" must be a string (got 1)`},
		{"create_event", map[string]any{"title": "t", "where": map[string]any{"room": "1"}, "guests": []any{map[string]any{"email": false}}},
			"guests[0].email", `argument "guests[0].email" must be a string (got false)`},
	}
	for _, c := range cases {
		_, err := o.Call(ctx, "weather", c.tool, c.args)
		if err == nil {
			t.Errorf("%s(%v): no error", c.tool, c.args)
			continue
		}
		oe := asError(t, err, orchestrator.KindInvalidArguments)
		if oe.Field != c.field || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "nothing was sent") {
			t.Errorf("%s(%v): field %q, message %q; want field %q and %q", c.tool, c.args, oe.Field, err, c.field, c.msg)
		}
		if !oe.Usage() {
			t.Errorf("invalid arguments should be a usage error")
		}
	}
	if n := srv.calls.Load(); n != 0 {
		t.Errorf("server saw %d calls, want 0: invalid arguments must not be sent", n)
	}
	// Go values that are not plain JSON are validated in their JSON form.
	type where struct {
		Room string `json:"room"`
	}
	res, err := o.Call(ctx, "weather", "create_event", map[string]any{"title": "t", "where": where{Room: "A"}})
	if err != nil || textOf(res) != "created t" {
		t.Fatalf("struct argument: %v %q", err, textOf(res))
	}
}

func TestToolErrorIsAResultNotAnError(t *testing.T) {
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	res, err := o.Call(ctx, "weather", "fail", map[string]any{"text": "boom"})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !res.IsError || textOf(res) != "it failed: boom" || res.Server != "weather" {
		t.Errorf("result %+v", res)
	}
}

func TestCollidingToolNamesRejected(t *testing.T) {
	ctx := testContext(t)
	srv := newTestServer(serverOpts{name: "twins", collidingTwins: true})
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("twins", srv.Server),
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	o.Connect(ctx)
	_, err := o.Tools(ctx, "twins")
	asError(t, err, orchestrator.KindCollision)
	if !strings.Contains(err.Error(), `tools "get.x" and "get_x" both map to the LLM name "twins__get_x"`) {
		t.Errorf("message %q", err)
	}
	_, err = o.Call(ctx, "twins", "echo", map[string]any{"text": "x"})
	asError(t, err, orchestrator.KindCollision)
	if srv.calls.Load() != 0 {
		t.Errorf("a call reached the colliding server")
	}
	// The other server is unaffected, and Servers() says what is wrong.
	tools, err := o.Tools(ctx, "")
	if len(tools) != 5 || err == nil {
		t.Errorf("Tools(\"\") = %d entries, %v; want weather's 5 and the collision error", len(tools), err)
	}
	for _, r := range o.Servers() {
		if r.Name == "twins" && (r.State != connectors.StateReady || r.ToolsErr == nil) {
			t.Errorf("twins row: %s, ToolsErr %v", r.State, r.ToolsErr)
		}
	}
}

func TestLLMName(t *testing.T) {
	for _, c := range [][3]string{
		{"weather", "get_forecast", "weather__get_forecast"},
		{"fs", "read.file", "fs__read_file"},
		{"a_b", "x-y", "a_b__x-y"},
	} {
		if got := orchestrator.LLMName(c[0], c[1]); got != c[2] {
			t.Errorf("LLMName(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestNPMServerOverStdio drives the real @modelcontextprotocol/server-everything.
func TestNPMServerOverStdio(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "everything", Command: command, Args: append(args, "stdio")}},
	}})
	res, err := o.Call(ctx, "everything", "echo", map[string]any{"message": "hello"})
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if !strings.Contains(textOf(res), "hello") {
		t.Errorf("echo result %q", textOf(res))
	}
	_, err = o.Call(ctx, "everything", "echo", map[string]any{"mesage": "hello"})
	oe := asError(t, err, orchestrator.KindInvalidArguments)
	if oe.Field == "" {
		t.Errorf("no field named in %q", err)
	}
}
