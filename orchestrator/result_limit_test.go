package orchestrator_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A result over the server's max_result_bytes fails the call with no
// result, the audit log says so with its own class, and the next call to
// the server works.
func TestResultOverLimitIsAuditedAndTheNextCallWorks(t *testing.T) {
	ctx := testContext(t)
	srv := httptest.NewServer(hostile.FloodHandler(hostile.FloodOptions{JSONResponse: true}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: path,
		Servers: []orchestrator.ServerConfig{{Config: connectors.Config{
			Name: "weather", URL: srv.URL, Timeout: 20 * time.Second, MaxResultBytes: 1 << 20,
		}}},
	})

	res, err := o.Call(ctx, "weather", "flood", map[string]any{"bytes": 300_000_000})
	if res != nil {
		t.Errorf("a result came back with the error: %d content items", len(res.Content))
	}
	oe := asError(t, err, orchestrator.KindConnection)
	if oe.ConnectorKind() != connectors.KindTooLarge || orchestrator.ErrorClass(err) != "connection/too-large" {
		t.Errorf("class %s: %v", orchestrator.ErrorClass(err), err)
	}
	for _, want := range []string{"weather.flood", "more than 1 MiB", "max_result_bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	res, err = o.Call(ctx, "weather", "echo", map[string]any{"message": "still here"})
	if err != nil {
		t.Fatalf("the call after the refused one: %v", err)
	}
	if got := textOf(res); got != "echo: still here" {
		t.Errorf("echo returned %q", got)
	}

	syncAudit(t, o)
	recs, _ := readAudit(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d audit records, want 2", len(recs))
	}
	if r := recs[0]; r.Tool != "flood" || r.Outcome != "error" || r.ErrorClass != "connection/too-large" || !strings.Contains(r.Error, "max_result_bytes") {
		t.Errorf("the refused call's record: %+v", r)
	}
	if r := recs[1]; r.Tool != "echo" || r.Outcome != "ok" {
		t.Errorf("the next call's record: %+v", r)
	}
}
