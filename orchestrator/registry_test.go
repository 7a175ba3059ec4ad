package orchestrator_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

func TestValidateServerName(t *testing.T) {
	good := []string{"weather", "my-server", "a", "A1", "my_server", "a_b_c", "x-1_y-2", "9lives"}
	bad := []string{"", "my.server", "my__server", "_weather", "weather_", "-x", "with space", "ünï", "a/b", "a___b"}
	for _, n := range good {
		if err := orchestrator.ValidateServerName(n); err != nil {
			t.Errorf("ValidateServerName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		err := orchestrator.ValidateServerName(n)
		if err == nil {
			t.Errorf("ValidateServerName(%q) = nil, want an error", n)
			continue
		}
		if n != "" && !strings.Contains(err.Error(), "no '.', no '__'") {
			t.Errorf("ValidateServerName(%q) = %v; want the rule spelled out", n, err)
		}
	}
}

func TestNewRejectsBadServerSet(t *testing.T) {
	srv := newTestServer(serverOpts{name: "w"})
	_, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", srv.Server),
		inProcessServer("weather", srv.Server),
		inProcessServer("bad.name", srv.Server),
		{Config: connectors.Config{Name: "filtered", URL: "http://127.0.0.1:1"}, Tools: orchestrator.ToolFilter{Allow: []string{"get_[x"}}},
	}})
	var oe *orchestrator.Error
	if !errors.As(err, &oe) || oe.Kind != orchestrator.KindInvalidConfig || !oe.Usage() {
		t.Fatalf("New = %v, want a usage KindInvalidConfig *Error", err)
	}
	// Every problem at once, each naming its server.
	for _, want := range []string{`server "weather" is configured twice`, `server "bad.name"`, `server "filtered": tools: pattern "get_[x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestServersRowsHideSecrets(t *testing.T) {
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "web", URL: "https://user:hunter2@example.com/mcp?api_key=hunter3&x=1"}},
		{Config: connectors.Config{Name: "local", Command: "npx", Args: []string{"-y", "@scope/server", "two words"}}},
		inProcessServer("mem", newTestServer(serverOpts{name: "m"}).Server),
	}})
	rows := o.Servers()
	if len(rows) != 3 {
		t.Fatalf("Servers() = %d rows, want 3", len(rows))
	}
	want := map[string][2]string{
		"local": {"stdio", `npx -y @scope/server "two words"`},
		"mem":   {"in-process", "in-process"},
		"web":   {"streamable-http", "https://user:xxxxx@example.com/mcp?api_key=hunter3&x=1"},
	}
	for _, r := range rows {
		w := want[r.Name]
		if r.Transport != w[0] || r.Endpoint != w[1] {
			t.Errorf("%s: transport %q endpoint %q, want %q %q", r.Name, r.Transport, r.Endpoint, w[0], w[1])
		}
		if r.State != connectors.StateIdle {
			t.Errorf("%s: state %s before Connect, want idle", r.Name, r.State)
		}
		if strings.Contains(r.Endpoint, "hunter2") {
			t.Errorf("%s: endpoint %q leaks a credential", r.Name, r.Endpoint)
		}
	}
	if rows[0].Name != "local" || rows[2].Name != "web" {
		t.Errorf("rows not in name order: %v, %v, %v", rows[0].Name, rows[1].Name, rows[2].Name)
	}
}

func TestConnectTwoServersInProcessAndHTTP(t *testing.T) {
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
		httpServer(t, "calendar", newTestServer(serverOpts{name: "calendar"}).Server),
	}})
	o.Connect(ctx)
	for _, r := range o.Servers() {
		if r.State != connectors.StateReady || r.Tools != 5 || r.ToolsErr != nil {
			t.Errorf("%s: state %s (%v), %d tools (%v); want ready with 5 tools", r.Name, r.State, r.Err, r.Tools, r.ToolsErr)
		}
	}
	tools, err := o.Tools(ctx, "")
	if err != nil {
		t.Fatalf("Tools: %v", err)
	}
	if len(tools) != 10 {
		t.Fatalf("Tools(\"\") = %d entries, want 10", len(tools))
	}
	first := tools[0]
	if first.Server != "calendar" || first.Name != "create_event" || first.Qualified != "calendar.create_event" ||
		first.LLMName != "calendar__create_event" || !first.Allowed || first.Pin != orchestrator.PinPinned || first.Tool == nil {
		t.Errorf("first entry = %+v", first)
	}
	// Chain one server's result into the other's arguments, through mediator.
	fc, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Paris"})
	if err != nil {
		t.Fatalf("weather call: %v", err)
	}
	ev, err := o.Call(ctx, "calendar", "create_event", map[string]any{"title": textOf(fc), "where": map[string]any{"room": "1"}})
	if err != nil {
		t.Fatalf("calendar call: %v", err)
	}
	if got := textOf(ev); got != "created forecast for Paris: sunny" {
		t.Errorf("chained result = %q", got)
	}
	if ev.Server != "calendar" || ev.Tool != "create_event" || ev.CallID == "" || ev.CallID == fc.CallID || ev.Duration <= 0 {
		t.Errorf("provenance = %+v", ev)
	}
}

func TestConnectNeverBlockedByHangingServer(t *testing.T) {
	ctx := testContext(t)
	weather := newTestServer(serverOpts{name: "weather"})
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		hangingServer(t, "hang", 300*time.Millisecond),
		inProcessServer("weather", weather.Server),
	}})
	o.Connect(ctx) // returns once the hanging server's own timeout settles it
	rows := o.Servers()
	if rows[0].Name != "hang" || rows[0].State != connectors.StateFailed || rows[0].Err == nil {
		t.Errorf("hang: state %s err %v, want failed with a reason", rows[0].State, rows[0].Err)
	}
	if rows[1].State != connectors.StateReady {
		t.Errorf("weather: state %s (%v), want ready", rows[1].State, rows[1].Err)
	}
	if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": "hi"}); err != nil {
		t.Errorf("weather call after the other server failed: %v", err)
	}
	// A call retries the connect, bounded by the server's own timeout.
	_, err := o.Call(ctx, "hang", "echo", nil)
	var oe *orchestrator.Error
	if !errors.As(err, &oe) || oe.Kind != orchestrator.KindConnection || oe.ConnectorKind() != connectors.KindTimeout {
		t.Fatalf("call to the hanging server = %v, want KindConnection of connector kind timeout", err)
	}
	if oe.Class() != "connection/timeout" {
		t.Errorf("Class = %q", oe.Class())
	}
}

func TestCallToUnreachableServerIsConnectionError(t *testing.T) {
	ctx := testContext(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close() // nothing listens there any more
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "gone", URL: url, Timeout: 5 * time.Second}},
	}})
	_, err := o.Call(ctx, "gone", "echo", nil)
	var oe *orchestrator.Error
	if !errors.As(err, &oe) || oe.Kind != orchestrator.KindConnection || oe.Usage() || oe.Server != "gone" {
		t.Fatalf("call to unreachable server = %v, want a KindConnection *Error", err)
	}
	if ck := oe.ConnectorKind(); ck != connectors.KindTransport {
		t.Errorf("ConnectorKind = %q, want %q", ck, connectors.KindTransport)
	}
	if oe.Class() != "connection/transport" {
		t.Errorf("Class = %q", oe.Class())
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Errorf("connection error %v does not wrap a *connectors.Error", err)
	}
	if strings.Count(err.Error(), `server "gone"`) != 1 {
		t.Errorf("error %q should name the server once", err)
	}
}

func TestLazyConnectOnlyConnectsTheCalledServer(t *testing.T) {
	ctx := testContext(t)
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("calendar", newTestServer(serverOpts{name: "calendar"}).Server),
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	res, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Oslo"})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if textOf(res) != "forecast for Oslo: sunny" {
		t.Errorf("result %q", textOf(res))
	}
	rows := o.Servers()
	if rows[0].State != connectors.StateIdle || rows[1].State != connectors.StateReady {
		t.Errorf("states calendar=%s weather=%s, want idle and ready", rows[0].State, rows[1].State)
	}
	// Tools("") covers connected servers only.
	tools, err := o.Tools(ctx, "")
	if err != nil || len(tools) != 5 || tools[0].Server != "weather" {
		t.Errorf("Tools(\"\") = %d entries, %v; want weather's 5", len(tools), err)
	}
}

func TestCloseThenCall(t *testing.T) {
	ctx := testContext(t)
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	if err != nil {
		t.Fatal(err)
	}
	o.Connect(ctx)
	if err := o.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = o.Call(ctx, "weather", "echo", map[string]any{"text": "x"})
	var oe *orchestrator.Error
	if !errors.As(err, &oe) || oe.Kind != orchestrator.KindClosed {
		t.Errorf("Call after Close = %v, want KindClosed", err)
	}
}

// Each log record names its server once, and a server that cannot be
// reached is not a warning: the caller shows it (the CLI in its table), so
// the default level would print it twice.
func TestConnectLogs(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // connection refused from here on
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := newOrchestrator(t, orchestrator.Options{Logger: log, Servers: []orchestrator.ServerConfig{
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
		{Config: connectors.Config{Name: "leak", URL: gone.URL, Timeout: 5 * time.Second}},
	}})
	o.Connect(testContext(t))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	var leak int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if n := strings.Count(line, " server="); n > 1 {
			t.Errorf("server named %d times: %s", n, line)
		}
		if strings.Contains(line, "server=leak") {
			leak++
		}
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("above info: %s", line)
		}
	}
	if leak == 0 || !strings.Contains(out, `msg="server unavailable" server=leak`) {
		t.Errorf("no record of the failed server:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
