//go:build linux

package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/internal/fakellm"
)

// Canaries of the chat's end-to-end test: each server's key and the
// model's. None may be on any screen, and each only where it belongs.
const (
	chatWeatherKey  = "canary-weather-key-Tq4Wv9"
	chatCalendarKey = "canary-calendar-token-Rm2Xk7"
	chatModelKey    = "canary-llm-key-Pz8Ns3"
)

// TestChatInTmux drives the real binary on a real terminal through a
// short session: the model asks for a forecast, then books an event built
// from it; the chat stops the flow weather -> calendar and asks, the user
// allows it for the session, and /policy shows that approval. The screens
// are saved to docs/chat-session.txt when MEDIATOR_CHAT_CAPTURE=1 (the
// README quotes it).
func TestChatInTmux(t *testing.T) {
	bin := buildMediator(t)
	h := newMediatorHome(t, bin, nil)

	wlog, clog := guard.NewRequestLog(nil), guard.NewRequestLog(nil)
	ws := httptest.NewServer(weather.NewHandler(chatWeatherKey, wlog))
	defer ws.Close()
	cs := httptest.NewServer(calendar.NewHandler(chatCalendarKey, clog))
	defer cs.Close()
	llm := fakellm.Start(chatModelKey,
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "w1", Name: "weather__get_forecast", Args: `{"location":"Lisbon","days":1}`}}},
		fakellm.Turn{ToolCalls: []fakellm.ToolCall{{ID: "c1", Name: "calendar__create_event", Args: `{"title":"Umbrella day in Lisbon","start":"2026-12-08T08:00:00"}`}}},
		fakellm.Turn{Text: "Booked **Umbrella day in Lisbon** for tomorrow at 08:00."},
	)
	defer llm.Close()

	cfg := fmt.Sprintf(`credentials:
  backend: file
  file_dir: %s
llm:
  provider: openai-compatible
  model: fake-model
  base_url: %s
  api_key_secret: api_key
approvals:
  allow: ["weather.*", "calendar.*"]
servers:
  weather:
    url: %s/mcp
    auth: {type: api-key, secret: api-key}
  calendar:
    url: %s/mcp
    auth: {type: bearer, secret: token}
`, h.keyring, llm.OpenAIURL(), ws.URL, cs.URL)
	if err := os.WriteFile(filepath.Join(h.config, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ server, name, value string }{
		{"weather", "api-key", chatWeatherKey}, {"calendar", "token", chatCalendarKey}, {"llm", "api_key", chatModelKey},
	} {
		if out, errOut, err := h.run(s.value+"\n", "secret", "set", s.server, s.name); err != nil {
			t.Fatalf("secret set %s %s: %v\n%s%s", s.server, s.name, err, out, errOut)
		}
	}

	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + h.dir,
		"TERM=xterm-256color",
		"XDG_CONFIG_HOME=" + filepath.Join(h.dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(h.dir, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=" + canaryPassphrase,
	}
	pane := startTmux(t, 100, 32, env, bin, "chat")
	var screens []string
	keep := func(s string) { screens = append(screens, s) }

	pane.WaitFor("fake-model", "context:")
	pane.Type("/servers", "Enter")
	keep(pane.WaitFor("weather", "calendar", "ready"))

	pane.Type("Will it rain in Lisbon tomorrow? If so, put an umbrella reminder in my calendar.", "Enter")
	keep(pane.WaitFor("weather -> calendar", "Umbrella day in Lisbon"))
	pane.Type("s")
	keep(pane.WaitFor("Booked", "context: calendar, weather"))

	pane.Type("/policy", "Enter")
	keep(pane.WaitFor("weather -> calendar tools/call create_event"))
	pane.Type("/quit", "Enter")
	pane.WaitExit()

	all := strings.Join(screens, "\n")
	for _, c := range []string{chatWeatherKey, chatCalendarKey, chatModelKey, canaryPassphrase} {
		if strings.Contains(all, c) {
			t.Errorf("a screen shows the canary %q", c)
		}
		if strings.Contains(llm.Bodies(), c) {
			t.Errorf("the model was sent the canary %q", c)
		}
	}
	if n := clog.Saw(chatWeatherKey); n != 0 {
		t.Errorf("calendar saw weather's key in %d requests", n)
	}
	if n := wlog.Saw(chatCalendarKey); n != 0 {
		t.Errorf("weather saw calendar's key in %d requests", n)
	}
	if os.Getenv("MEDIATOR_CHAT_CAPTURE") == "1" {
		out := filepath.Join("..", "..", "docs", "chat-session.txt")
		if err := os.WriteFile(out, []byte(strings.Join(screens, "\n---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The session was saved with its provenance, and lists.
	out, errOut, err := h.run("", "chat", "sessions")
	if err != nil || !strings.Contains(out, "Will it rain in Lisbon") {
		t.Errorf("chat sessions: %v\n%s%s", err, out, errOut)
	}
}
