package serve

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// The canary: a host plugged into mediator serve lists the
// tools, calls weather, then tries to send the result to calendar. The
// flow is refused (a tool error naming the line to add) without
// "weather -> calendar", made with it, asked about where the host can
// elicit; and neither server's key is ever in anything on the host's
// connection.
func TestCanaryWeatherToCalendar(t *testing.T) {
	w := startWorld(t)
	forecast := func(t *testing.T, h *host) string {
		t.Helper()
		res := h.call(t, "weather__get_forecast", map[string]any{"location": "Oslo"})
		if res.IsError {
			t.Fatalf("weather__get_forecast failed: %s", text(res))
		}
		return text(res)
	}
	event := func(fc string) map[string]any {
		return map[string]any{"title": "Picnic if " + fc[:min(len(fc), 40)], "start": "2026-05-04T12:00:00"}
	}
	noKeys := func(t *testing.T, h *host) {
		t.Helper()
		wire := h.wire.String()
		if wire == "" {
			t.Fatal("nothing was recorded on the host's connection")
		}
		for _, key := range []string{w.weatherKey, w.calendarKey} {
			if strings.Contains(wire, key) {
				t.Fatalf("a server's key reached the host's connection")
			}
		}
	}
	events := func(t *testing.T, r *rig) string {
		t.Helper()
		res, err := r.orch.Call(context.Background(), "calendar", "list_events", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		return text(&mcp.CallToolResult{Content: res.Content})
	}

	t.Run("refused without the flow", func(t *testing.T) {
		r := newRig(t, Options{Gateway: true}, w.orchestratorOptions())
		h := r.connect(t, nil)
		names := h.toolNames(t)
		for _, want := range []string{"calendar__create_event", "calendar__list_events", "weather__get_forecast"} {
			if !slices.Contains(names, want) {
				t.Fatalf("tools offered = %v, want %s among them", names, want)
			}
		}
		fc := forecast(t, h)
		res := h.call(t, "calendar__create_event", event(fc))
		if !res.IsError {
			t.Fatalf("calendar__create_event with weather's data was made without the flow: %s", text(res))
		}
		if got := text(res); !strings.Contains(got, `policy.flows: ["weather -> calendar"]`) {
			t.Fatalf("refusal = %q, want it to name the line to add", got)
		}
		if got := events(t, r); strings.Contains(got, "Picnic") {
			t.Fatalf("the calendar got the event anyway: %s", got)
		}
		// Data the user typed (before anything was returned) is not
		// refused: a fresh host session has no provenance.
		h2 := r.connect(t, nil)
		if res := h2.call(t, "calendar__create_event", map[string]any{"title": "Dentist", "start": "2026-05-04T08:00:00"}); res.IsError {
			t.Fatalf("a fresh session's call was refused: %s", text(res))
		}
		noKeys(t, h)
		noKeys(t, h2)
	})

	t.Run("made with the flow", func(t *testing.T) {
		r := newRig(t, Options{Gateway: true}, w.orchestratorOptions(orchestrator.Flow{From: "weather", To: "calendar"}))
		h := r.connect(t, nil)
		fc := forecast(t, h)
		if res := h.call(t, "calendar__create_event", event(fc)); res.IsError {
			t.Fatalf("calendar__create_event refused with the flow in the policy: %s", text(res))
		}
		if got := events(t, r); !strings.Contains(got, "Picnic") {
			t.Fatalf("the calendar has no event: %s", got)
		}
		noKeys(t, h)
	})

	// asking is a host whose user answers every approval form with answer.
	asking := func(answer string, asked *atomic.Int32, messages *[]string) *mcp.ClientOptions {
		return &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			*messages = append(*messages, req.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": answer}}, nil
		}}
	}
	for _, tc := range []struct {
		answer     string
		made       bool
		askedTwice bool // a second call of the same flow is asked about again
	}{
		{answerOnce, true, true},
		{answerSession, true, false},
		{answerDeny, false, true},
	} {
		t.Run("the user answers "+tc.answer, func(t *testing.T) {
			r := newRig(t, Options{Gateway: true}, w.orchestratorOptions())
			var asked atomic.Int32
			var messages []string
			h := r.connect(t, asking(tc.answer, &asked, &messages))
			fc := forecast(t, h)
			args := event(fc)
			res := h.call(t, "calendar__create_event", args)
			if res.IsError == tc.made {
				t.Fatalf("made = %v, want %v: %s", !res.IsError, tc.made, text(res))
			}
			if !tc.made && !strings.Contains(text(res), "approval was denied") {
				t.Fatalf("refusal = %q, want it to say the user denied it", text(res))
			}
			if asked.Load() != 1 {
				t.Fatalf("the user was asked %d times, want 1", asked.Load())
			}
			msg := messages[0]
			title, _ := json.Marshal(args["title"])
			for _, want := range []string{`"weather"`, `"calendar"`, `"create_event"`, `"title":` + string(title), `policy.flows: ["weather -> calendar"]`} {
				if !strings.Contains(msg, want) {
					t.Fatalf("the question does not contain %s:\n%s", want, msg)
				}
			}
			h.call(t, "calendar__create_event", map[string]any{"title": "Again", "start": "2026-05-05T12:00:00"})
			if want := map[bool]int32{true: 2, false: 1}[tc.askedTwice]; asked.Load() != want {
				t.Fatalf("after a second call the user was asked %d times, want %d", asked.Load(), want)
			}
			noKeys(t, h)
		})
	}
}
