package weather

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/internal/exampletest"
)

const testKey = "weather-key-canary-7f3a"

// fixedNow makes "tomorrow" a known date.
var fixedNow = func() time.Time { return time.Date(2026, 5, 3, 15, 0, 0, 0, time.UTC) }

func startServer(t *testing.T) (string, *guard.RequestLog) {
	t.Helper()
	log := guard.NewRequestLog(nil)
	srv := exampletest.Serve(t, newHandler(testKey, log, NewServer(fixedNow)))
	return srv.URL, log
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	cs, err := exampletest.Connect(t, url, http.Header{KeyHeader: {testKey}})
	if err != nil {
		t.Fatalf("connect with the right key: %v", err)
	}
	return cs
}

func decode[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %v", res.Content)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return v
}

func TestGetForecastOverHTTP(t *testing.T) {
	url, log := startServer(t)
	cs := connect(t, url)
	ctx := exampletest.Context(t)

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolGetForecast, Arguments: map[string]any{"location": "Oslo"}})
	if err != nil {
		t.Fatal(err)
	}
	got := decode[Forecast](t, res)
	want := Predict("Oslo", fixedNow(), 1)
	if got.Date != "2026-05-04" || len(got.Days) != 1 {
		t.Errorf("default forecast = %+v, want one day dated 2026-05-04 (the day after now)", got)
	}
	if got.Summary != want.Summary || got.TemperatureC != want.TemperatureC || got.PrecipitationProbability != want.PrecipitationProbability {
		t.Errorf("forecast = %+v, want %+v", got, want)
	}
	if p := got.PrecipitationProbability; p < 0 || p > 1 {
		t.Errorf("precipitation_probability = %v, want within 0..1", p)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolGetForecast, Arguments: map[string]any{"location": "Bergen", "days": 3}})
	if err != nil {
		t.Fatal(err)
	}
	three := decode[Forecast](t, res)
	var dates []string
	for _, d := range three.Days {
		dates = append(dates, d.Date)
	}
	if strings.Join(dates, ",") != "2026-05-04,2026-05-05,2026-05-06" {
		t.Errorf("3-day dates = %v", dates)
	}
	if three.Days[0].Summary != three.Summary || three.Days[0].Date != three.Date {
		t.Errorf("top-level fields %+v differ from the first day %+v", three, three.Days[0])
	}

	for _, e := range log.Entries() {
		if !e.Authorized || e.Presented != testKey || e.Credentials[http.CanonicalHeaderKey(KeyHeader)] != testKey {
			t.Errorf("logged %s %s authorized=%v, want every request authorized with the key", e.Method, e.Path, e.Authorized)
		}
	}
	if log.Len() < 3 || log.Saw(testKey) != log.Len() {
		t.Errorf("log has %d requests, %d carrying the key; want at least 3, all with it", log.Len(), log.Saw(testKey))
	}
}

func TestToolDefinition(t *testing.T) {
	url, _ := startServer(t)
	cs := connect(t, url)
	res, err := cs.ListTools(exampletest.Context(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 1 || res.Tools[0].Name != ToolGetForecast {
		t.Fatalf("tools = %v, want only %s", res.Tools, ToolGetForecast)
	}
	tool := res.Tools[0]
	if a := tool.Annotations; a == nil || !a.ReadOnlyHint {
		t.Errorf("annotations = %+v, want read-only", a)
	}
	out, _ := json.Marshal(tool.OutputSchema)
	for _, field := range []string{"location", "date", "summary", "temperature_c", "precipitation_probability"} {
		if !strings.Contains(string(out), `"`+field+`"`) {
			t.Errorf("output schema lacks %q: %s", field, out)
		}
	}
	in, _ := json.Marshal(tool.InputSchema)
	if !strings.Contains(string(in), `"maximum":7`) || !strings.Contains(string(in), `"default":1`) {
		t.Errorf("input schema lacks the days bounds or default: %s", in)
	}
}

func TestBadArguments(t *testing.T) {
	url, _ := startServer(t)
	cs := connect(t, url)
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"too many days", map[string]any{"location": "Oslo", "days": 8}, "maximum"},
		{"zero days", map[string]any{"location": "Oslo", "days": 0}, "minimum"},
		{"no location", map[string]any{"days": 2}, "location"},
		{"blank location", map[string]any{"location": "   "}, `"location" is empty`},
		{"days not a number", map[string]any{"location": "Oslo", "days": "two"}, "days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(exampletest.Context(t), &mcp.CallToolParams{Name: ToolGetForecast, Arguments: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError {
				t.Fatalf("got a result, want a tool error mentioning %q", tc.want)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, tc.want) {
				t.Errorf("error %q does not mention %q", text, tc.want)
			}
		})
	}
}

func TestRejectsMissingOrWrongKey(t *testing.T) {
	url, log := startServer(t)
	for name, header := range map[string]http.Header{
		"missing":          {},
		"wrong":            {KeyHeader: {"not-the-key"}},
		"bearer instead":   {"Authorization": {"Bearer " + testKey}},
		"key as substring": {KeyHeader: {testKey + "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := exampletest.Connect(t, url, header); err == nil {
				t.Fatal("connected without the right key")
			}
		})
	}
	for _, e := range log.Entries() {
		if e.Authorized || e.Status != http.StatusUnauthorized {
			t.Errorf("%s %s: authorized=%v status=%d, want rejected with 401", e.Method, e.Path, e.Authorized, e.Status)
		}
	}

	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), KeyHeader) {
		t.Errorf("status %d, WWW-Authenticate %q; want 401 naming %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), KeyHeader)
	}
}

func TestPredictIsStable(t *testing.T) {
	now := fixedNow()
	if a, b := Predict("Oslo", now, 2), Predict("  oslo ", now, 2); a.Days[1] != b.Days[1] {
		t.Errorf("case or spaces changed the forecast: %+v vs %+v", a.Days[1], b.Days[1])
	}
	if a, b := Predict("Oslo", now, 1), Predict("Oslo", now.AddDate(0, 0, 10), 1); a.Summary != b.Summary {
		t.Errorf("the date changed the numbers: %q vs %q", a.Summary, b.Summary)
	}
	differ := false
	for _, city := range []string{"Bergen", "Lima", "Tromsø", "Cairo"} {
		if Predict(city, now, 1).Summary != Predict("Oslo", now, 1).Summary {
			differ = true
		}
	}
	if !differ {
		t.Error("every city has Oslo's forecast")
	}
}
