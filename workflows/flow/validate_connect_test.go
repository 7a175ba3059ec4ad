package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionCatalog looks tools up through real MCP client sessions.
type sessionCatalog map[string]*mcp.ClientSession

func (c sessionCatalog) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	cs, ok := c[server]
	if !ok {
		return nil, fmt.Errorf("server %q is not configured", server)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		if t.Name == tool {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("no tool %q on server %q%s", tool, server, didYouMean(tool, names))
}

func schemaOf(t *testing.T, js string) *jsonschema.Schema {
	t.Helper()
	var s jsonschema.Schema
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// testServers starts a weather and a calendar server in process and
// returns a catalog connected to both.
func testServers(t *testing.T) sessionCatalog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	noop := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	}
	weather := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	weather.AddTool(&mcp.Tool{
		Name:        "get_forecast",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		InputSchema: schemaOf(t, `{"type":"object","required":["location"],"properties":{"location":{"type":"string"},"days":{"type":"integer","minimum":1}}}`),
		OutputSchema: schemaOf(t, `{"type":"object","additionalProperties":false,"properties":{
			"location":{"type":"string"},"date":{"type":"string"},
			"precipitation_probability":{"type":"number"},"temperature":{"type":"number"}}}`),
	}, noop)
	calendar := mcp.NewServer(&mcp.Implementation{Name: "calendar", Version: "1"}, nil)
	calendar.AddTool(&mcp.Tool{
		Name: "create_event",
		InputSchema: schemaOf(t, `{"type":"object","required":["title","start"],"additionalProperties":false,"properties":{
			"calendar_id":{"type":"string"},"title":{"type":"string"},"start":{"type":"string"},
			"duration_minutes":{"type":"integer","minimum":1}}}`),
	}, noop)
	cat := sessionCatalog{}
	for name, srv := range map[string]*mcp.Server{"weather": weather, "calendar": calendar} {
		st, ct := mcp.NewInMemoryTransports()
		ss, err := srv.Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ss.Close() })
		client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
		cs, err := client.Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		cat[name] = cs
	}
	return cat
}

func TestValidateConnect(t *testing.T) {
	cat := testServers(t)
	trustAll := func(string) bool { return true }
	opts := ValidateOptions{Catalog: cat, TrustAnnotations: trustAll}
	issue, err := os.ReadFile("testdata/format/rain-reminders.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	untrusted := ValidateOptions{Catalog: cat}
	runProblemCases(t, []problemCase{
		{name: "issue example", src: string(issue), opts: opts},
		// defaults.retry applies where the rule allows and holds the
		// rest to one attempt: no step need say retry_unsafe for it.
		{name: "issue example without trusted annotations", src: string(issue), opts: untrusted},
		{name: "tools, arguments and types", opts: opts, src: header + `inputs:
  n: {type: integer}
  cal: {type: object, properties: {id: {type: string}}}
flows: [weather -> calendar]
steps:
  - id: fc
    call: {server: weather, tool: get_forecst}
  - id: fc2
    call: {server: weather, tool: get_forecast}
    with: {location: ${ .inputs.n }, days: 0}
  - id: ev
    call: {server: calendar, tool: create_event}
    with:
      titel: x
      duration_minutes: ten
      calendar_id: ${ .inputs.cal.id }
    retry: {max_attempts: 2}
  - id: ev2
    call: {server: calendar, tool: create_event}
    with:
      title: ${ .steps.fc2.result.temperature }
      start: ${ .steps.fc2.result.dat }
      calendar_id: ${ .inputs.n | tostring }
  - id: other
    call: {server: elsewhere, tool: t}
`, want: []string{
			`9:11 steps[0].call: weather.get_forecst: no tool "get_forecst" on server "weather" (did you mean "get_forecast"?)`,
			`12:22 steps[1].with.location: argument "location" of weather.get_forecast is string, but .inputs.n is integer (input n's schema)`,
			`12:44 steps[1].with.days: invalid argument for weather.get_forecast: argument "days" must be at least 1 (got 0)`,
			`15:5 steps[2].with: calendar.create_event requires arguments "title" and "start"`,
			`16:14 steps[2].with.titel: calendar.create_event has no argument "titel" (did you mean "title"?)`,
			`17:25 steps[2].with.duration_minutes: invalid argument for calendar.create_event: argument "duration_minutes" must be an integer (got string "ten")`,
			`19:5 steps[2].retry: step "ev" may call calendar.create_event up to 2 times (its retry)`,
			`24:14 steps[3].with.start: weather.get_forecast's outputSchema has no property "dat" (did you mean "date"?)`,
			`23:14 steps[3].with.title: argument "title" of calendar.create_event is string, but .steps.fc2.result.temperature is number (outputSchema of weather.get_forecast)`,
			`27:11 steps[4].call: elsewhere.t: server "elsewhere" is not configured`,
		}},
	})
}

func TestValidateConnectCachesLookups(t *testing.T) {
	cat := &countingCatalog{Catalog: testServers(t), n: map[string]int{}}
	src := header + `steps:
  - id: a
    call: {server: weather, tool: get_forecast}
    with: {location: x}
  - id: b
    call: {server: weather, tool: get_forecast}
    with: {location: y}
`
	_, probs := Check(context.Background(), "f.flow.yaml", []byte(src), ValidateOptions{Catalog: cat})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got := cat.n["weather.get_forecast"]; got != 1 {
		t.Errorf("looked up %d times, want 1", got)
	}
	if !strings.Contains(fmt.Sprint(cat.n), "weather") {
		t.Errorf("lookups %v", cat.n)
	}
}

type countingCatalog struct {
	Catalog
	n map[string]int
}

func (c *countingCatalog) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	c.n[server+"."+tool]++
	return c.Catalog.Tool(ctx, server, tool)
}
