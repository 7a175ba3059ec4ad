package ui

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The servers-and-audit rig: a real orchestrator over go-sdk servers (the
// example weather and calendar servers and a "tools" server in process, a
// "vault" server over loopback HTTP behind a bearer token, and a "down"
// server whose connection fails with the canary in its error), auditing into
// a log keyed with the audit key of a file keyring opened with a
// passphrase, a run manager over real workflow files, and the page.

// canary is a secret the keyring holds: the vault's bearer token. No page
// may show it, whatever echoes it.
const canary = "canary-s3cr3t-7f1e9c2ab4d8"

const failFlow = `version: 1
name: fail-once
steps:
  - id: try
    call: {server: tools, tool: fail}
    on_error: continue
`

// badArgsFlow sends the tools server's echo a number for its text: the
// orchestrator refuses the call, naming the value when it records values.
const badArgsFlow = `version: 1
name: bad-args
steps:
  - id: shout
    call: {server: tools, tool: echo}
    with: {text: 4242}
    on_error: continue
`

// orchRig is the page over a real orchestrator.
type orchRig struct {
	*rig
	o       *orchestrator.Orchestrator
	runs    *daemon.Runs
	tools   *mcp.Server
	store   *credentials.Store
	audit   string
	workdir string
}

// toolsServer offers echo and fail; tests add and change its tools.
func toolsServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echoes its text."}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "Always fails."}, func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no luck, token " + canary}}}, nil, nil
	})
	return srv
}

// vaultServer answers only the bearer token "other-token"; any other is
// refused with the token it got echoed back, as careless servers do.
func vaultServer(t *testing.T) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "vault"}, nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer other-token" {
			http.Error(w, "token expired: "+got, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func newOrchRig(t *testing.T, includeValues bool) *orchRig {
	t.Helper()
	dir := t.TempDir()
	store, err := credentials.Open(t.Context(), credentials.Options{
		Backend: credentials.BackendFile, FileDir: filepath.Join(dir, "keyring"),
		Passphrase: func(string) (string, error) { return "ui-test-passphrase-Zq81", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("vault", "token", credentials.NewSecret(canary)); err != nil {
		t.Fatal(err)
	}
	rg := &orchRig{store: store, audit: filepath.Join(dir, "audit.jsonl"), workdir: filepath.Join(dir, "workflows"), tools: toolsServer()}
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	rg.o, err = orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(now))},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendar.NewServer())},
			{Config: connectors.Config{Name: "tools", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(rg.tools)},
			{Config: connectors.Config{Name: "vault", URL: vaultServer(t), Timeout: 10 * time.Second,
				Auth: connectors.AuthConfig{Type: connectors.AuthBearer, Secret: "token"}}},
			{Config: connectors.Config{Name: "down", Timeout: 10 * time.Second}, NewTransport: func(context.Context) (mcp.Transport, error) {
				return nil, errors.New("connection refused; the server said: bad key " + canary)
			}},
		},
		Secrets: store, Redactor: store.Redactor(), AuditKeys: store,
		AuditPath: rg.audit, AuditIncludeValues: includeValues, PinDir: filepath.Join(dir, "pins"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rg.o.Close() })
	rg.o.Connect(t.Context())

	if err := os.MkdirAll(rg.workdir, 0o700); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "flows", "rain-reminders.flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"rain-reminders.flow.yaml": string(example), "fail-once.flow.yaml": failFlow, "bad-args.flow.yaml": badArgsFlow} {
		if err := os.WriteFile(filepath.Join(rg.workdir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	known := func(name string) error { return nil }
	cat, err := daemon.LoadCatalog(t.Context(), rg.workdir, flow.ValidateOptions{Server: known})
	if err != nil {
		t.Fatal(err)
	}
	rg.runs, err = daemon.NewRuns(daemon.RunsOptions{StateDir: filepath.Join(dir, "state"), Catalog: cat,
		Orchestrator:     func() *orchestrator.Orchestrator { return rg.o },
		TrustAnnotations: func(string) bool { return true }, Server: known,
		Redactor: func() *credentials.Redactor { return store.Redactor() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rg.runs.Shutdown(context.Background()) })

	ss := NewSessions()
	page, err := New(Options{Runs: rg.runs, Tokens: testTokens, Sessions: ss, IncludeValues: includeValues,
		Orchestrator: func() *orchestrator.Orchestrator { return rg.o },
		Redactor:     func() *credentials.Redactor { return store.Redactor() }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page)
	t.Cleanup(srv.Close)
	rg.rig = &rig{t: t, srv: srv, ui: page, ss: ss}
	return rg
}

// run submits a run and waits for it to end.
func (rg *orchRig) run(t *testing.T, workflow string, inputs map[string]any) string {
	t.Helper()
	sub, err := rg.runs.SubmitRun(t.Context(), workflow, inputs, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.runs.Wait(t.Context(), sub.ID); err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// get fetches path with a client logged in with token and wants status.
func (rg *orchRig) get(t *testing.T, token, path string, status int) string {
	t.Helper()
	c := rg.client()
	rg.login(c, token)
	resp, body := rg.do(c, "GET", path, nil, "")
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d\n%s", path, resp.StatusCode, status, body)
	}
	if strings.Contains(body, canary) {
		t.Fatalf("GET %s shows the canary secret:\n%s", path, body)
	}
	return body
}

var auditRowRE = regexp.MustCompile(`(?s)<tr data-seq="(\d+)" data-outcome="([a-z-]+)">(.*?)</tr>`)

// auditRows are the records the page shows, as seq, outcome and the
// row's text without tags.
func auditRows(body string) [][3]string {
	var out [][3]string
	tags := regexp.MustCompile(`<[^>]+>`)
	for _, m := range auditRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, [3]string{m[1], m[2], strings.Join(strings.Fields(tags.ReplaceAllString(m[3], " ")), " ")})
	}
	return out
}

// The Audit page of a run shows that run's records, read from the real
// log the orchestrator wrote: each call's step, server and tool, outcome,
// error class, the policy rule that let weather's data reach calendar,
// and the chain verified with the keyring's audit key. A tampered log
// shows as broken at the line edited, a record being written as an
// unsealed tail.
func TestAuditPage(t *testing.T) {
	rg := newOrchRig(t, false)
	rain := rg.run(t, "rain-reminders", map[string]any{"cities": []any{"Oslo", "Bergen"}, "threshold": 0})
	fail := rg.run(t, "fail-once", nil)

	body := rg.get(t, tokenAll, "/ui/runs/"+rain+"/audit", http.StatusOK)
	if !strings.Contains(body, `data-verify="verified"`) || !strings.Contains(body, "every keyed record&#39;s MAC checked with the audit key") {
		t.Errorf("verification state:\n%s", body)
	}
	rows := auditRows(body)
	var forecasts, reminders int
	for _, r := range rows {
		switch {
		case strings.Contains(r[2], "weather / get_forecast"):
			forecasts++
			if r[1] != "ok" || !strings.Contains(r[2], "forecast[") || !strings.Contains(r[2], "no data from other servers") {
				t.Errorf("forecast record: %v", r)
			}
		case strings.Contains(r[2], "calendar / create_event"):
			reminders++
			if r[1] != "ok" || !strings.Contains(r[2], "remind[") || !strings.Contains(r[2], "data from weather: allowed by weather -&gt; calendar") {
				t.Errorf("reminder record: %v", r)
			}
		default:
			t.Errorf("a record of another run or server: %v", r)
		}
	}
	if forecasts != 2 || reminders != 2 {
		t.Errorf("%d forecasts and %d reminders shown, want 2 and 2:\n%v", forecasts, reminders, rows)
	}
	if strings.Contains(body, `"location"`) || strings.Contains(body, "Oslo") {
		t.Errorf("argument values shown without audit.include_values:\n%s", body)
	}

	body = rg.get(t, tokenAll, "/ui/runs/"+fail+"/audit", http.StatusOK)
	rows = auditRows(body)
	if len(rows) != 1 || rows[0][1] != orchestrator.OutcomeToolError || !strings.Contains(rows[0][2], "tools / fail") || !strings.Contains(rows[0][2], "try") {
		t.Errorf("failed call's record: %v", rows)
	}

	// Scope: a token that does not reach the workflow gets a 404.
	rg.get(t, tokenRain, "/ui/runs/"+fail+"/audit", http.StatusNotFound)
	rg.get(t, tokenRain, "/ui/runs/"+rain+"/audit", http.StatusOK)

	// A record being appended: shown as an unsealed tail, not as broken.
	data, err := os.ReadFile(rg.audit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rg.audit, append(append([]byte{}, data...), `{"seq":99,"time":"20`...), 0o600); err != nil {
		t.Fatal(err)
	}
	body = rg.get(t, tokenAll, "/ui/runs/"+rain+"/audit", http.StatusOK)
	if !strings.Contains(body, `data-verify="unsealed-tail"`) || len(auditRows(body)) != 4 {
		t.Errorf("a record being written:\n%s", body)
	}

	// An edited record: broken at its line; only the records before it.
	lines := strings.SplitAfter(string(data), "\n")
	lines[2] = strings.Replace(lines[2], `"duration_ms":`, `"duration_ms":1`, 1)
	if err := os.WriteFile(rg.audit, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	body = rg.get(t, tokenAll, "/ui/runs/"+rain+"/audit", http.StatusOK)
	if !strings.Contains(body, `data-verify="broken"`) || !strings.Contains(body, "Broken: the chain breaks at line 3 (the record after seq 2)") ||
		len(auditRows(body)) != 2 {
		t.Errorf("an edited record:\n%s", body)
	}
}

// With audit.include_values, the page shows the arguments the log holds,
// masked: the canary a run was given is in no page.
func TestAuditPageValuesMasked(t *testing.T) {
	rg := newOrchRig(t, true)
	id := rg.run(t, "rain-reminders", map[string]any{"cities": []any{"Oslo", "x " + canary}, "threshold": 0})
	log, err := os.ReadFile(rg.audit)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), canary) || !strings.Contains(string(log), `"args":`) {
		t.Fatalf("the log holds the canary, or no values:\n%s", log)
	}
	body := rg.get(t, tokenAll, "/ui/runs/"+id+"/audit", http.StatusOK)
	if !strings.Contains(body, `&#34;location&#34;: &#34;Oslo&#34;`) || !strings.Contains(body, `<tr class="args">`) {
		t.Errorf("argument values not shown:\n%s", body)
	}
}

// A record written with argument values (audit.include_values on) shows
// its error message only while the page shows values too.
func TestAuditPageErrorsWithValues(t *testing.T) {
	rg := newOrchRig(t, true)
	id := rg.run(t, "bad-args", nil)
	body := rg.get(t, tokenAll, "/ui/runs/"+id+"/audit", http.StatusOK)
	rows := auditRows(body)
	if len(rows) != 1 || rows[0][1] != orchestrator.OutcomeRefused || !strings.Contains(rows[0][2], "invalid-arguments") || !strings.Contains(rows[0][2], "4242") {
		t.Fatalf("refused call's record with values: %v", rows)
	}
	off, err := New(Options{Runs: rg.runs, Tokens: testTokens, Orchestrator: func() *orchestrator.Orchestrator { return rg.o },
		Redactor: func() *credentials.Redactor { return rg.store.Redactor() }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(off)
	t.Cleanup(srv.Close)
	rgOff := &orchRig{rig: &rig{t: t, srv: srv, ui: off, ss: off.sessions}}
	rows = auditRows(rgOff.get(t, tokenAll, "/ui/runs/"+id+"/audit", http.StatusOK))
	if len(rows) != 1 || strings.Contains(rows[0][2], "4242") || !strings.Contains(rows[0][2], "shown only with audit.include_values") {
		t.Errorf("the same record without values: %v", rows)
	}
}
