package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
)

// canaries replace the random keys so the test knows exactly what must
// never appear in any output.
func canaries(t *testing.T) (func() string, []string) {
	t.Helper()
	values := []string{"CANARY-KEY-A-" + t.Name(), "CANARY-KEY-B-" + t.Name()}
	i := 0
	return func() string { v := values[i%2]; i++; return v }, values
}

// run runs the demo with canary keys and a private TMPDIR, and checks what
// every run must satisfy: no key in any output, nothing left on disk.
func runDemo(t *testing.T, city string, jsonOut bool) (stdout string, err error) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ios, _, out, errOut := iostreams.Test()
	newKey, keys := canaries(t)
	err = demoRun(t.Context(), &Options{IO: ios, City: city, JSON: jsonOut, newKey: newKey})

	all := out.String() + errOut.String()
	if err != nil {
		all += err.Error()
	}
	for _, k := range keys {
		if strings.Contains(all, k) {
			t.Errorf("a key value appears in the output or error:\n%s", all)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in its temporary directory", left)
	}
	return out.String(), err
}

func TestDemoText(t *testing.T) {
	got, err := runDemo(t, "Oslo", false)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, got)
	}
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, want := range []string{
		"mediator -> weather.get_forecast  (credential: keyring item weather/api-key)",
		"mediator -> calendar.create_event  (credential: keyring item calendar/token)",
		`sent      {"days":1,"location":"Oslo"}`,
		`"start":"` + tomorrow + `T07:30:00"`,
		"items calendar/token, weather/api-key (values never shown)",
		"tools/call",
		"X-Api-Key: key A",
		"Authorization: Bearer key B",
		"PASS  weather saw only key A",
		"PASS  calendar saw only key B",
		"PASS  neither server contacted the other",
		"carries   data from weather",
		`REFUSED   data from server "calendar" may not be sent to server "weather"`,
		"PASS  an undeclared flow is refused before sending: calendar -> weather refused (flow-refused); weather received 0 request(s) for it",
		"PASS  audit log keyed, chained and anchored: 3 record(s), one per hop (want 3), 3 with an HMAC under the keyring's audit key",
		"PASS  flow decisions audited: 1 record(s) of weather -> calendar allowed by policy.flows (want 1), 1 of calendar -> weather refused (want 1)",
		"PASS  audit log holds no key",
		"all checks passed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"FAIL", "no known key", "X-Api-Key: key B", "Bearer key A"} {
		if strings.Contains(got, bad) {
			t.Errorf("output has %q:\n%s", bad, got)
		}
	}
}

// cityWhere finds a city whose forecast is on the given side of the rain
// threshold, so both branches of the composition are exercised whatever
// the hash gives.
func cityWhere(t *testing.T, rainy bool) string {
	t.Helper()
	for _, c := range []string{"Oslo", "Bergen", "Lima", "Cairo", "Tromsø", "Madrid", "Perth", "Quito", "Nairobi", "Reykjavik"} {
		if p := weather.Predict(c, time.Now(), 1).PrecipitationProbability; (p >= rainThreshold) == rainy {
			return c
		}
	}
	t.Fatalf("no test city has rainy=%v", rainy)
	return ""
}

func TestDemoJSONComposesFromTheForecast(t *testing.T) {
	for _, tc := range []struct {
		rainy bool
		title string
	}{{true, "Umbrella: "}, {false, "Sunglasses: "}} {
		city := cityWhere(t, tc.rainy)
		t.Run(city, func(t *testing.T) {
			got, err := runDemo(t, city, true)
			if err != nil {
				t.Fatalf("demo failed: %v\n%s", err, got)
			}
			var rep struct {
				Passed bool `json:"passed"`
				Hops   []struct {
					Server, Tool, Credential, Refused string
					Carries                           []string
					Arguments                         map[string]any
					Result                            map[string]any
				} `json:"hops"`
				Checks []check              `json:"checks"`
				Logs   map[string][]logLine `json:"server_logs"`
			}
			if err := json.Unmarshal([]byte(got), &rep); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, got)
			}
			if !rep.Passed || len(rep.Checks) != 7 || len(rep.Hops) != 3 {
				t.Fatalf("passed=%v, %d checks, %d hops; want passed with 7 checks and 3 hops:\n%s", rep.Passed, len(rep.Checks), len(rep.Hops), got)
			}
			fc, ev, back := rep.Hops[0], rep.Hops[1], rep.Hops[2]
			if len(fc.Carries) != 0 || !slices.Equal(ev.Carries, []string{"weather"}) || back.Refused == "" || back.Result != nil {
				t.Errorf("provenance of the hops: %v, %v; the way back refused %q with result %v", fc.Carries, ev.Carries, back.Refused, back.Result)
			}
			if fc.Credential != "weather/api-key" || ev.Credential != "calendar/token" {
				t.Errorf("credentials %q, %q; want the keyring item names", fc.Credential, ev.Credential)
			}
			want := map[string]any{
				"title": tc.title + city,
				"start": fc.Result["date"].(string) + "T07:30:00",
				"notes": fc.Result["summary"],
			}
			for k, v := range want {
				if ev.Arguments[k] != v {
					t.Errorf("create_event %s = %v, want %v (from the forecast)", k, ev.Arguments[k], v)
				}
			}
			if ev.Result["event_id"] == "" || ev.Result["title"] != want["title"] {
				t.Errorf("calendar answered %v", ev.Result)
			}
			for server, lines := range rep.Logs {
				for _, l := range lines {
					for h, label := range l.Credentials {
						if !strings.HasSuffix(label, map[string]string{"weather": "key A", "calendar": "key B"}[server]) {
							t.Errorf("%s's log shows %s: %s", server, h, label)
						}
					}
				}
			}
		})
	}
}

func TestDemoStopsOnAToolError(t *testing.T) {
	// weather refuses locations over 100 characters.
	got, err := runDemo(t, strings.Repeat("x", 101), false)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitToolError {
		t.Fatalf("err = %v, want an ExitError with code %d", err, cmdutil.ExitToolError)
	}
	if !strings.Contains(err.Error(), "hop 1, weather.get_forecast") || !strings.Contains(got, "FAILED") || !strings.Contains(got, "demo stopped") {
		t.Errorf("error %q and output do not say hop 1 failed:\n%s", err, got)
	}
	if strings.Contains(got, "calendar.create_event") {
		t.Errorf("the demo went on to the calendar after the forecast failed:\n%s", got)
	}
}

func TestDemoRejectsEmptyCity(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	err := demoRun(t.Context(), &Options{IO: ios, City: "  "})
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--city") {
		t.Fatalf("err = %v, want a usage error naming --city", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q before rejecting the flag", out)
	}
}

func TestCommand(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ios, _, out, _ := iostreams.Test()
	cmd := NewCmdDemo(ios)
	cmd.SetArgs([]string{"--city", "Bergen", "--json"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("mediator demo --city Bergen --json: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.Passed || rep.City != "Bergen" {
		t.Errorf("report %+v (err %v), want passed for Bergen", rep, err)
	}
	cmd = NewCmdDemo(ios)
	cmd.SetArgs([]string{"extra"})
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	if err := cmd.Execute(); err == nil {
		t.Error("an argument was accepted")
	}
}

// The checks must fail when a server did see something it should not; a
// demo whose checks cannot fail proves nothing.
func TestChecksCatchLeaks(t *testing.T) {
	keys := &demoKeys{a: credentials.NewSecret("key-a-value"), b: credentials.NewSecret("key-b-value")}
	policy := guard.Policy{Realm: "weather", Header: "X-API-Key", Key: "key-a-value"}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	send := func(log *guard.RequestLog, header http.Header, body string) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header = header
		guard.Require(ok, policy, log).ServeHTTP(httptest.NewRecorder(), r)
	}
	clean := func() *guard.RequestLog {
		log := guard.NewRequestLog(nil)
		send(log, http.Header{"X-Api-Key": {"key-a-value"}}, `{"method":"tools/call"}`)
		return log
	}
	calendarLog := guard.NewRequestLog(nil)
	send(calendarLog, http.Header{"X-Api-Key": {"key-b-value"}}, "")

	if c := verifyLog("weather", clean(), keys.a, "key A", keys.b, "key B"); !c.Passed {
		t.Fatalf("a clean log failed: %+v", c)
	}
	for name, leak := range map[string]func(*guard.RequestLog){
		"other key in the body": func(l *guard.RequestLog) {
			send(l, http.Header{"X-Api-Key": {"key-a-value"}}, `{"notes":"key-b-value"}`)
		},
		"other key in a header": func(l *guard.RequestLog) {
			send(l, http.Header{"X-Api-Key": {"key-a-value"}, "Authorization": {"Bearer key-b-value"}}, "")
		},
		"unauthenticated request": func(l *guard.RequestLog) { send(l, http.Header{}, "") },
	} {
		t.Run(name, func(t *testing.T) {
			log := clean()
			leak(log)
			if c := verifyLog("weather", log, keys.a, "key A", keys.b, "key B"); c.Passed {
				t.Errorf("verifyLog passed: %+v", c)
			}
			if c := verifyIsolation(log, clean(), keys); c.Passed {
				t.Errorf("verifyIsolation passed: %+v", c)
			}
		})
	}
	if c := verifyLog("weather", guard.NewRequestLog(nil), keys.a, "key A", keys.b, "key B"); c.Passed {
		t.Error("a server that received nothing passed")
	}

	dir := t.TempDir()
	store, err := credentials.Open(t.Context(), credentials.Options{Backend: credentials.BackendFile, FileDir: filepath.Join(dir, "keyring"),
		Passphrase: func(string) (string, error) { return "demo-test-passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyAudit(t.Context(), filepath.Join(dir, "missing.jsonl"), store, 2); c.Passed {
		t.Errorf("without an audit key: %+v", c)
	}
	if _, err := store.AuditKey(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if c := verifyAudit(t.Context(), filepath.Join(dir, "missing.jsonl"), store, 2); c.Passed {
		t.Errorf("a missing audit log passed: %+v", c)
	}
	leaky := filepath.Join(dir, "leaky.jsonl")
	if err := os.WriteFile(leaky, []byte(fmt.Sprintf(`{"args":"%s"}`+"\n", "key-b-value")), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := verifyAuditClean(leaky, keys); c.Passed {
		t.Errorf("an audit log holding key B passed: %+v", c)
	}
	if c := verifyAudit(t.Context(), leaky, store, 1); c.Passed {
		t.Errorf("an unchained record passed: %+v", c)
	}
}
