// Package calendar is an example MCP server: a calendar that answers only
// callers presenting its token as "Authorization: Bearer <token>". It keeps
// events in memory and makes create_event idempotent on a key in the
// request's _meta, so a retried call never books twice.
package calendar

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/examples/guard"
)

const (
	// Name is the server's name in its implementation info and auth realm.
	Name = "calendar"
	// KeyEnv is the environment variable calendar-server reads its token from.
	KeyEnv = "CALENDAR_TOKEN"

	ToolCreateEvent = "create_event"
	ToolListEvents  = "list_events"

	// IdempotencyKeyMeta is the _meta key create_event reads its idempotency
	// key from. Keys named idempotency_key or idempotencyKey, with or without
	// a "prefix/", are accepted too: MCP has no standard name for it.
	IdempotencyKeyMeta = "mediator/idempotency-key"

	// DefaultDurationMinutes applies when create_event gets no duration.
	DefaultDurationMinutes = 30
	maxDurationMinutes     = 24 * 60
	maxTitleLen            = 200
	maxNotesLen            = 2000
)

// CreateEventInput is create_event's arguments.
type CreateEventInput struct {
	Title           string `json:"title"`
	Start           string `json:"start" jsonschema:"local date and time, e.g. 2026-05-04T07:30:00; an offset such as +02:00 or Z may follow"`
	DurationMinutes int    `json:"duration_minutes,omitempty" jsonschema:"length in minutes, 1 to 1440 (default 30)"`
	Notes           string `json:"notes,omitempty"`
}

// Event is one calendar entry.
type Event struct {
	EventID         string `json:"event_id"`
	Title           string `json:"title"`
	Start           string `json:"start"`
	End             string `json:"end"`
	DurationMinutes int    `json:"duration_minutes"`
	Notes           string `json:"notes,omitempty"`
}

// CreateEventOutput is create_event's structured result.
type CreateEventOutput struct {
	EventID         string `json:"event_id"`
	Title           string `json:"title"`
	Start           string `json:"start"`
	End             string `json:"end"`
	DurationMinutes int    `json:"duration_minutes"`
	Notes           string `json:"notes,omitempty"`
	// Replayed is true when an earlier call with the same idempotency key
	// created the event and this call only returned it.
	Replayed bool `json:"replayed" jsonschema:"true when an earlier call with the same idempotency key created this event"`
}

// ListEventsInput is list_events' arguments.
type ListEventsInput struct {
	Date string `json:"date,omitempty" jsonschema:"only events starting on this day, YYYY-MM-DD"`
}

// ListEventsOutput is list_events' structured result.
type ListEventsOutput struct {
	Events []Event `json:"events"`
}

// store is one server's calendar.
type store struct {
	mu     sync.Mutex
	events []Event
	// byKey remembers which event an idempotency key created and the
	// arguments it was created with, to refuse a reused key with new ones.
	byKey map[string]keyed
}

type keyed struct {
	eventID string
	args    CreateEventInput
}

// NewServer returns a calendar MCP server with an empty calendar of its own.
func NewServer() *mcp.Server {
	st := &store{byKey: map[string]keyed{}}
	s := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "Example calendar service", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:  ToolCreateEvent,
		Title: "Create a calendar event",
		Description: "Adds an event and returns its event_id. Send an idempotency key in _meta[\"" + IdempotencyKeyMeta +
			"\"] to make retries safe: a repeated key returns the event it created instead of a new one.",
		InputSchema: createEventInputSchema(),
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(false)},
	}, st.create)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolListEvents,
		Title:       "List calendar events",
		Description: "Lists events in start order, optionally only those on one date.",
		InputSchema: listEventsInputSchema(),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}, st.list)
	return s
}

func (st *store) create(ctx context.Context, req *mcp.CallToolRequest, in CreateEventInput) (*mcp.CallToolResult, CreateEventOutput, error) {
	start, err := parseStart(in.Start)
	if err != nil {
		return nil, CreateEventOutput{}, err
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		return nil, CreateEventOutput{}, fmt.Errorf(`argument "title" is empty: give the event a name such as "Umbrella: Oslo"`)
	}
	if in.DurationMinutes == 0 {
		in.DurationMinutes = DefaultDurationMinutes
	}
	in.Start = formatLike(start, in.Start)
	key, err := idempotencyKey(req.Params.Meta)
	if err != nil {
		return nil, CreateEventOutput{}, err
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if key != "" {
		if k, ok := st.byKey[key]; ok {
			if k.args != in {
				return nil, CreateEventOutput{}, fmt.Errorf("idempotency key %q was first used with different arguments (it created %s); use a new key for a different event", key, k.eventID)
			}
			return nil, output(st.byID(k.eventID), true), nil
		}
	}
	ev := Event{
		EventID:         fmt.Sprintf("evt_%04d", len(st.events)+1),
		Title:           in.Title,
		Start:           in.Start,
		End:             formatLike(start.Add(time.Duration(in.DurationMinutes)*time.Minute), in.Start),
		DurationMinutes: in.DurationMinutes,
		Notes:           in.Notes,
	}
	st.events = append(st.events, ev)
	if key != "" {
		st.byKey[key] = keyed{eventID: ev.EventID, args: in}
	}
	return nil, output(ev, false), nil
}

func (st *store) byID(id string) Event {
	i := slices.IndexFunc(st.events, func(e Event) bool { return e.EventID == id })
	return st.events[i] // byKey only ever names stored events
}

func output(e Event, replayed bool) CreateEventOutput {
	return CreateEventOutput{EventID: e.EventID, Title: e.Title, Start: e.Start, End: e.End,
		DurationMinutes: e.DurationMinutes, Notes: e.Notes, Replayed: replayed}
}

func (st *store) list(ctx context.Context, req *mcp.CallToolRequest, in ListEventsInput) (*mcp.CallToolResult, ListEventsOutput, error) {
	if in.Date != "" {
		if _, err := time.Parse(time.DateOnly, in.Date); err != nil {
			return nil, ListEventsOutput{}, fmt.Errorf(`argument "date" is %q: want YYYY-MM-DD, e.g. 2026-05-04`, in.Date)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := ListEventsOutput{Events: []Event{}}
	for _, e := range st.events {
		if in.Date == "" || strings.HasPrefix(e.Start, in.Date+"T") {
			out.Events = append(out.Events, e)
		}
	}
	slices.SortStableFunc(out.Events, func(a, b Event) int { return strings.Compare(a.Start, b.Start) })
	return nil, out, nil
}

// startLayouts are the accepted forms of create_event's start, local
// date-times first because that is what a calendar user writes.
var startLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", time.RFC3339}

func parseStart(s string) (time.Time, error) {
	for _, layout := range startLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf(`argument "start" is %q: want a date-time like 2026-05-04T07:30:00 (local), optionally with an offset like +02:00`, s)
}

// formatLike prints t the way the caller wrote start: without an offset
// when start had none, so local times stay local.
func formatLike(t time.Time, start string) string {
	if _, err := time.Parse(time.RFC3339, start); err == nil {
		return t.Format(time.RFC3339)
	}
	return t.Format("2006-01-02T15:04:05")
}

// idempotencyKey finds the idempotency key in _meta, "" when there is none.
// IdempotencyKeyMeta wins; among the other accepted spellings the first in
// sorted order does, so the choice never depends on map order.
func idempotencyKey(meta mcp.Meta) (string, error) {
	names := slices.Sorted(maps.Keys(meta))
	if i := slices.Index(names, IdempotencyKeyMeta); i > 0 {
		names[0], names[i] = names[i], names[0]
	}
	for _, k := range names {
		switch k[strings.LastIndex(k, "/")+1:] {
		case "idempotency-key", "idempotency_key", "idempotencyKey":
		default:
			continue
		}
		s, ok := meta[k].(string)
		if !ok || s == "" {
			return "", fmt.Errorf("_meta[%q] must be a non-empty string, got %v", k, meta[k])
		}
		return s, nil
	}
	return "", nil
}

// createEventInputSchema adds to the inferred schema the bounds and default
// a struct tag cannot express; the SDK enforces them before the handler runs.
func createEventInputSchema() *jsonschema.Schema {
	s := mustSchema[CreateEventInput]()
	p := s.Properties
	p["title"].MinLength, p["title"].MaxLength = new(1), new(maxTitleLen)
	p["duration_minutes"].Minimum, p["duration_minutes"].Maximum = new(1.0), new(float64(maxDurationMinutes))
	p["duration_minutes"].Default = json.RawMessage(fmt.Sprint(DefaultDurationMinutes))
	p["notes"].MaxLength = new(maxNotesLen)
	return s
}

func listEventsInputSchema() *jsonschema.Schema {
	s := mustSchema[ListEventsInput]()
	s.Properties["date"].Pattern = `^\d{4}-\d{2}-\d{2}$`
	return s
}

func mustSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(fmt.Sprintf("calendar: input schema: %v", err)) // a programming error, caught by every test
	}
	return s
}

// NewHandler serves a new calendar over streamable HTTP to callers
// presenting "Authorization: Bearer <key>", recording every request in log.
func NewHandler(key string, log *guard.RequestLog) http.Handler {
	s := NewServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	return guard.Require(h, guard.Policy{Realm: Name, Bearer: true, Key: key}, log)
}
