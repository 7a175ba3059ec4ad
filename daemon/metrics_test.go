package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The registry counts runs by workflow and state, times call steps by
// their server, and counts failures by class and refusals by server;
// /metrics serves them in Prometheus's text format.
func TestMetrics(t *testing.T) {
	m := NewMetrics()
	var nilM *Metrics
	nilM.RunState("x", "queued") // a nil *Metrics records nothing

	step := &flow.Step{ID: "fetch", Call: &flow.Call{Server: "weather", Tool: "forecast"}}
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	m.RunState("rain", StatusQueued)
	m.RunState("rain", workflows.RunRunning)
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepStarted, Path: "fetch", Step: step, Time: t0})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepFinished, Path: "fetch", Step: step, Time: t0.Add(300 * time.Millisecond), Status: workflows.StatusSucceeded})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepStarted, Path: "send", Step: step, Time: t0})
	m.EngineEvent("rain", "r1", workflows.Event{Kind: workflows.EventStepFinished, Path: "send", Step: step, Time: t0.Add(time.Millisecond), Status: workflows.StatusFailed, Err: errors.New("disk full")})
	m.RunState("rain", workflows.RunFailed)
	m.ToolCall("weather", 20*time.Millisecond)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`mediator_runs_total{state="queued",workflow="rain"} 1`,
		`mediator_runs_total{state="failed",workflow="rain"} 1`,
		`mediator_step_duration_seconds_count{server="weather",status="succeeded"} 1`,
		`mediator_step_duration_seconds_sum{server="weather",status="succeeded"} 0.3`,
		`mediator_errors_total{class="other"} 1`,
		`mediator_tool_call_duration_seconds_count{server="weather"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "disk full") {
		t.Error("an error's text reached a label")
	}
	if len(m.started) != 0 {
		t.Errorf("steps kept after they finished: %v", m.started)
	}
}

// A long-running daemon keeps an OAuth server's login alive: its token
// (3 s) is renewed ahead of expiry, counted by mediator_auth_refreshes_total,
// and the resource server never sees an expired token. A refresh token
// revoked at the authorization server turns that server auth-required in
// /readyz, saying the login expired and how to log in, while the other
// server stays ready and keeps answering; the refusals are counted.
func TestLoginExpiredInReadyz(t *testing.T) {
	as := oauthtest.New(t)
	as.Mu.Lock()
	as.TokenTTL = 3 * time.Second
	as.Mu.Unlock()
	ring, err := credentials.Open(t.Context(), credentials.Options{Backend: credentials.BackendFile, FileDir: t.TempDir(),
		Passphrase: func(string) (string, error) { return "test passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	bank := connectors.Config{Name: "bank", URL: as.MCPURL(), Timeout: 10 * time.Second, Auth: connectors.AuthConfig{
		Type: connectors.AuthOAuth, RedirectURL: oauthtest.RedirectURL(t), AllowInsecureLocalhost: true}}
	login, err := connectors.New(connectors.Options{Config: bank, Secrets: ring.ForServer("bank"), Login: &connectors.Login{Fetcher: &oauth.HeadlessFetcher{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = login.Close()

	o, err := orchestrator.New(orchestrator.Options{Secrets: ring, AuditPath: filepath.Join(t.TempDir(), "audit.jsonl"), Servers: []orchestrator.ServerConfig{
		{Config: bank},
		{Config: connectors.Config{Name: "canary", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(canaryServer())},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	o.Connect(t.Context())
	runs, err := NewRuns(RunsOptions{StateDir: t.TempDir(), Orchestrator: func() *orchestrator.Orchestrator { return o }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runs.Shutdown(context.Background()) })
	m := NewMetrics()
	m.WatchServers(o.Servers)
	h, err := APIHandler(APIOptions{Runs: runs, Orchestrator: func() *orchestrator.Orchestrator { return o }, Metrics: m.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ready := func() map[string]serverState {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Servers []serverState }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		out := map[string]serverState{}
		for _, s := range body.Servers {
			out[s.Name] = s
		}
		return out
	}
	metric := func(outcome string) string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		prefix := `mediator_auth_refreshes_total{outcome="` + outcome + `",server="bank"} `
		for line := range strings.SplitSeq(rec.Body.String(), "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return v
			}
		}
		return ""
	}
	// until polls cond, which has no event to wait on, within the test.
	until := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-t.Context().Done():
				t.Fatalf("never: %s", what)
			}
		}
	}

	if st := ready(); st["bank"].State != "ready" || st["canary"].State != "ready" {
		t.Fatalf("/readyz before: %+v", st)
	}
	renewals := func() oauth.Renewals {
		for _, s := range o.Servers() {
			if s.Name == "bank" {
				return s.OAuthRenewals
			}
		}
		return oauth.Renewals{}
	}
	until("a renewal", func() bool { return renewals().OK >= 1 })
	if _, err := o.Call(t.Context(), "bank", "whoami", nil); err != nil {
		t.Fatal(err)
	}
	if v := metric("ok"); v == "" || v == "0" {
		t.Errorf("mediator_auth_refreshes_total ok = %q after a renewal", v)
	}

	as.RevokeRefreshTokens()
	until("bank auth-required in /readyz", func() bool { return ready()["bank"].State == string(connectors.StateAuthRequired) })
	st := ready()
	if st["canary"].State != "ready" || !strings.Contains(st["bank"].Error, "the login has expired") || !strings.Contains(st["bank"].Error, "mediator auth login bank") {
		t.Errorf("/readyz after the revocation: %+v", st)
	}
	if _, err := o.Call(t.Context(), "canary", "echo", map[string]any{"tag": "still"}); err != nil {
		t.Errorf("the other server stopped answering: %v", err)
	}
	if _, err := o.Call(t.Context(), "bank", "whoami", nil); err == nil {
		t.Error("a call to the server whose login expired went through")
	}
	// The call's connect attempt tried the refresh token again: each
	// refusal counts.
	if v := metric("refused"); v == "" || v == "0" {
		t.Errorf("mediator_auth_refreshes_total refused = %q", v)
	}
	as.Mu.Lock()
	defer as.Mu.Unlock()
	if as.PresentedExpired != 0 {
		t.Errorf("the resource server saw %d expired tokens", as.PresentedExpired)
	}
}

// mediator_auth_refreshes_total keeps counting across a reload that
// replaced the connectors (their counts start again from zero); a server
// without renewals has no series.
func TestAuthRefreshesSurviveReload(t *testing.T) {
	statuses := []orchestrator.ServerStatus{{Name: "bank"}, {Name: "files"}}
	statuses[0].OAuthRenewals = oauth.Renewals{OK: 3, Failed: 1}
	m := NewMetrics()
	m.WatchServers(func() []orchestrator.ServerStatus { return statuses })
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	scrape()
	statuses[0].OAuthRenewals = oauth.Renewals{OK: 1, Refused: 1} // a new connector
	text := scrape()
	for _, want := range []string{
		`mediator_auth_refreshes_total{outcome="ok",server="bank"} 4`,
		`mediator_auth_refreshes_total{outcome="failed",server="bank"} 1`,
		`mediator_auth_refreshes_total{outcome="refused",server="bank"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, `server="files"`) {
		t.Error("a server without renewals has a series")
	}
}
