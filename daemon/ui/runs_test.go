package ui

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The list pages through the runs the token reaches, 25 at a time, newest
// first, and a rain-* token sees none of another workflow's.
func TestRunsListPages(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "other.flow.yaml"), []byte("version: 1\nname: other\nsteps:\n  - id: s\n    call: {server: x, tool: y}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := daemon.LoadCatalog(t.Context(), dir, flow.ValidateOptions{})
	if err != nil || !cat.Get("other").Valid() {
		t.Fatalf("catalog: %v %v", err, cat.Get("other").Problems)
	}
	runs, err := daemon.NewRuns(daemon.RunsOptions{StateDir: t.TempDir(), Catalog: cat, Orchestrator: func() *orchestrator.Orchestrator { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runs.Shutdown(t.Context()) })
	var ids []string
	for range runsPageSize + 2 {
		id, err := runs.Submit(t.Context(), "other", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	page, err := New(Options{Runs: runs, Tokens: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page)
	t.Cleanup(srv.Close)
	rg := &rig{t: t, srv: srv}
	c := rg.client()
	rg.login(c, tokenAll)
	_, first := rg.do(c, "GET", "/ui/runs", nil, "")
	rows := regexp.MustCompile(`<tr data-run="([^"]+)"`)
	got := rows.FindAllStringSubmatch(first, -1)
	if len(got) != runsPageSize || got[0][1] != ids[len(ids)-1] {
		t.Fatalf("first page: %d rows, first %v; want %d, newest first", len(got), got[0], runsPageSize)
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first)
	if next == nil || !strings.Contains(first, `data-live="/ui/runs/live"`) {
		t.Fatalf("first page: no next link or no live stream")
	}
	resp, second := rg.do(c, "GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil, "")
	got = rows.FindAllStringSubmatch(second, -1)
	if resp.StatusCode != http.StatusOK || len(got) != 2 || got[1][1] != ids[0] || strings.Contains(second, `rel="next"`) || strings.Contains(second, "data-live") {
		t.Errorf("second page: %d, %d rows %v", resp.StatusCode, len(got), got)
	}
	if !strings.Contains(second, "Newest runs") {
		t.Errorf("second page has no link back to the first")
	}
	rain := rg.client()
	rg.login(rain, tokenRain)
	if _, body := rg.do(rain, "GET", "/ui/runs", nil, ""); rows.MatchString(body) || !strings.Contains(body, "No runs match") {
		t.Errorf("the rain token sees another workflow's runs")
	}
	if resp, body := rg.do(rain, "GET", "/ui/runs/"+ids[0], nil, ""); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "<dl") {
		t.Errorf("the rain token opened another workflow's run: %d", resp.StatusCode)
	}
	if resp, _ := rg.do(c, "GET", "/ui/runs?cursor=bogus", nil, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bogus cursor: %d, want 400", resp.StatusCode)
	}
}

// A run's input values show only with audit.include_values, and then
// masked; without it only their names.
func TestInputValuesOnlyWithIncludeValues(t *testing.T) {
	const secret = "canary-ui-input-Pw4Rt9"
	dir := t.TempDir()
	body := "version: 1\nname: other\ninputs:\n  city: {type: string}\n  key: {type: string}\nsteps:\n  - id: s\n    call: {server: x, tool: y}\n    with: {q: ${ .inputs.city }}\n"
	if err := os.WriteFile(filepath.Join(dir, "other.flow.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := daemon.LoadCatalog(t.Context(), dir, flow.ValidateOptions{})
	if err != nil || !cat.Get("other").Valid() {
		t.Fatalf("catalog: %v %v", err, cat.Get("other").Problems)
	}
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(secret))
	runs, err := daemon.NewRuns(daemon.RunsOptions{StateDir: t.TempDir(), Catalog: cat, Orchestrator: func() *orchestrator.Orchestrator { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runs.Shutdown(t.Context()) })
	id, err := runs.Submit(t.Context(), "other", map[string]any{"city": "Oslo-visible", "key": secret}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, include := range []bool{false, true} {
		page, err := New(Options{Runs: runs, Tokens: testTokens, IncludeValues: include, Redactor: func() *credentials.Redactor { return red }})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(page)
		rg := &rig{t: t, srv: srv}
		c := rg.client()
		rg.login(c, tokenAll)
		_, body := rg.do(c, "GET", "/ui/runs/"+id, nil, "")
		srv.Close()
		if strings.Contains(body, secret) {
			t.Errorf("include_values %v: the page shows the secret input", include)
		}
		if got := strings.Contains(body, "Oslo-visible"); got != include {
			t.Errorf("include_values %v: the input's value shown: %v", include, got)
		}
		if !strings.Contains(body, "<code>city</code>") && !include {
			t.Errorf("without include_values the inputs' names are not shown")
		}
	}
}
