package calendar

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/internal/exampletest"
)

const testToken = "calendar-token-canary-91c2"

func startServer(t *testing.T) (string, *guard.RequestLog) {
	t.Helper()
	log := guard.NewRequestLog(nil)
	return exampletest.Serve(t, NewHandler(testToken, log)).URL, log
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	cs, err := exampletest.Connect(t, url, http.Header{"Authorization": {"Bearer " + testToken}})
	if err != nil {
		t.Fatalf("connect with the right token: %v", err)
	}
	return cs
}

func call[T any](t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, meta mcp.Meta) T {
	t.Helper()
	res, err := cs.CallTool(exampletest.Context(t), &mcp.CallToolParams{Name: tool, Arguments: args, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("%s(%v): tool error %s", tool, args, res.Content[0].(*mcp.TextContent).Text)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return v
}

func toolError(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, meta mcp.Meta) string {
	t.Helper()
	res, err := cs.CallTool(exampletest.Context(t), &mcp.CallToolParams{Name: tool, Arguments: args, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded, want a tool error", tool, args)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func TestCreateAndListEvents(t *testing.T) {
	url, log := startServer(t)
	cs := connect(t, url)

	ev := call[CreateEventOutput](t, cs, ToolCreateEvent, map[string]any{
		"title": "Umbrella: Oslo", "start": "2026-05-04T07:30:00", "notes": "Rain (80% chance)",
	}, nil)
	want := CreateEventOutput{EventID: "evt_0001", Title: "Umbrella: Oslo", Start: "2026-05-04T07:30:00",
		End: "2026-05-04T08:00:00", DurationMinutes: 30, Notes: "Rain (80% chance)"}
	if ev != want {
		t.Errorf("created %+v, want %+v", ev, want)
	}
	ev2 := call[CreateEventOutput](t, cs, ToolCreateEvent, map[string]any{
		"title": "Standup", "start": "2026-05-03T23:45:00+02:00", "duration_minutes": 30,
	}, nil)
	if ev2.EventID != "evt_0002" || ev2.End != "2026-05-04T00:15:00+02:00" {
		t.Errorf("with offset: %+v, want evt_0002 ending 2026-05-04T00:15:00+02:00", ev2)
	}

	all := call[ListEventsOutput](t, cs, ToolListEvents, nil, nil)
	if len(all.Events) != 2 || all.Events[0].EventID != "evt_0002" {
		t.Errorf("list = %+v, want both events, earliest start first", all.Events)
	}
	day := call[ListEventsOutput](t, cs, ToolListEvents, map[string]any{"date": "2026-05-04"}, nil)
	if len(day.Events) != 1 || day.Events[0].EventID != "evt_0001" {
		t.Errorf("list on 2026-05-04 = %+v, want only evt_0001", day.Events)
	}
	empty := call[ListEventsOutput](t, cs, ToolListEvents, map[string]any{"date": "2030-01-01"}, nil)
	if empty.Events == nil || len(empty.Events) != 0 {
		t.Errorf("list on an empty day = %#v, want an empty list", empty.Events)
	}

	if n := log.Saw(testToken); n != log.Len() || n == 0 {
		t.Errorf("%d of %d requests carried the token, want all", n, log.Len())
	}
}

func TestIdempotencyKey(t *testing.T) {
	url, _ := startServer(t)
	cs := connect(t, url)
	args := map[string]any{"title": "Umbrella: Bergen", "start": "2026-05-04T07:30:00"}
	key := mcp.Meta{IdempotencyKeyMeta: "rain-Bergen-2026-05-04"}

	first := call[CreateEventOutput](t, cs, ToolCreateEvent, args, key)
	again := call[CreateEventOutput](t, cs, ToolCreateEvent, args, key)
	if first.Replayed || !again.Replayed || again.EventID != first.EventID {
		t.Errorf("first %+v, again %+v; want the same event, the second marked replayed", first, again)
	}
	// Another spelling of the same key is the same key.
	alias := call[CreateEventOutput](t, cs, ToolCreateEvent, args, mcp.Meta{"idempotency_key": "rain-Bergen-2026-05-04"})
	if alias.EventID != first.EventID {
		t.Errorf("idempotency_key spelling created %s, want %s", alias.EventID, first.EventID)
	}

	msg := toolError(t, cs, ToolCreateEvent, map[string]any{"title": "Other", "start": "2026-05-04T07:30:00"}, key)
	if !strings.Contains(msg, "different arguments") || !strings.Contains(msg, first.EventID) {
		t.Errorf("reused key with new arguments: %q, want a refusal naming %s", msg, first.EventID)
	}
	if msg := toolError(t, cs, ToolCreateEvent, args, mcp.Meta{IdempotencyKeyMeta: 42}); !strings.Contains(msg, IdempotencyKeyMeta) {
		t.Errorf("non-string key: %q, want it to name the _meta key", msg)
	}

	noKey := call[CreateEventOutput](t, cs, ToolCreateEvent, args, nil)
	if noKey.EventID == first.EventID {
		t.Error("a call without a key reused the keyed event")
	}
	if n := len(call[ListEventsOutput](t, cs, ToolListEvents, nil, nil).Events); n != 2 {
		t.Errorf("%d events stored, want 2 (one keyed, one not)", n)
	}
}

func TestBadArguments(t *testing.T) {
	url, _ := startServer(t)
	cs := connect(t, url)
	for _, tc := range []struct {
		name string
		tool string
		args map[string]any
		want string
	}{
		{"start not a date", ToolCreateEvent, map[string]any{"title": "x", "start": "tomorrow"}, `"start" is "tomorrow"`},
		{"no start", ToolCreateEvent, map[string]any{"title": "x"}, "start"},
		{"blank title", ToolCreateEvent, map[string]any{"title": "  ", "start": "2026-05-04T07:30:00"}, `"title" is empty`},
		{"zero duration", ToolCreateEvent, map[string]any{"title": "x", "start": "2026-05-04T07:30", "duration_minutes": 0}, "minimum"},
		{"two days long", ToolCreateEvent, map[string]any{"title": "x", "start": "2026-05-04T07:30", "duration_minutes": 2880}, "maximum"},
		{"unknown argument", ToolCreateEvent, map[string]any{"title": "x", "start": "2026-05-04T07:30", "place": "Oslo"}, "place"},
		{"bad list date", ToolListEvents, map[string]any{"date": "4 May"}, "date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := toolError(t, cs, tc.tool, tc.args, nil); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
		})
	}
}

func TestToolDefinitions(t *testing.T) {
	url, _ := startServer(t)
	res, err := connect(t, url).ListTools(exampletest.Context(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	if a := byName[ToolListEvents].Annotations; a == nil || !a.ReadOnlyHint {
		t.Errorf("list_events annotations = %+v, want read-only", a)
	}
	create := byName[ToolCreateEvent]
	if create.Annotations.ReadOnlyHint || create.Annotations.IdempotentHint {
		t.Errorf("create_event annotations = %+v, want neither read-only nor idempotent without a key", create.Annotations)
	}
	out, _ := json.Marshal(create.OutputSchema)
	if !strings.Contains(string(out), `"event_id"`) {
		t.Errorf("create_event output schema lacks event_id: %s", out)
	}
}

func TestRejectsWrongToken(t *testing.T) {
	url, log := startServer(t)
	for name, header := range map[string]http.Header{
		"missing":          {},
		"wrong":            {"Authorization": {"Bearer nope"}},
		"as an API key":    {"X-API-Key": {testToken}},
		"without a scheme": {"Authorization": {testToken}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := exampletest.Connect(t, url, header); err == nil {
				t.Fatal("connected without the right bearer token")
			}
		})
	}
	for _, e := range log.Entries() {
		if e.Authorized || e.Status != http.StatusUnauthorized {
			t.Errorf("%s %s: authorized=%v status=%d, want 401", e.Method, e.Path, e.Authorized, e.Status)
		}
	}
}
