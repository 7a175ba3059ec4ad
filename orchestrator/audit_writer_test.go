package orchestrator_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// auditReader is a server whose one tool reports how many records of
// another server's calls the audit log on disk holds when it is called.
func auditReader(t *testing.T, path, of string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "reader", Version: "test"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "count"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		n := 0
		recs, _ := readAudit(t, path)
		for _, r := range recs {
			if r.Server == of {
				n++
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(n)}}}, nil, nil
	})
	return s
}

// Records are written behind the calls, but never behind a data flow: when
// a call reaches a second server, the records of every earlier call to
// another server are already on disk.
func TestAuditRecordOnDiskBeforeAnotherServerIsCalled(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: path,
		Servers: []orchestrator.ServerConfig{
			inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
			inProcessServer("reader", auditReader(t, path, "weather")),
		},
	})
	for i := 1; i <= 30; i++ {
		if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Oslo"}); err != nil {
			t.Fatal(err)
		}
		res, err := o.Call(ctx, "reader", "count", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := textOf(res); got != strconv.Itoa(i) {
			t.Fatalf("call %d: the second server was called when the log held %s of weather's %d records", i, got, i)
		}
	}
}

// A record that cannot be written fails the calls after it before they are
// sent, until a record can be written again; SyncAudit and Close report it.
func TestAuditWriteFailureFailsClosed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/full, whose writes fail with ENOSPC")
	}
	ctx := testContext(t)
	srv := newTestServer(serverOpts{name: "weather"})
	o, err := orchestrator.New(orchestrator.Options{
		AuditPath: "/dev/full",
		Servers:   []orchestrator.ServerConfig{inProcessServer("weather", srv.Server)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first call goes out: nothing has failed yet.
	if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	// Its record cannot be written...
	err = o.SyncAudit(ctx)
	oe := asError(t, err, orchestrator.KindAudit)
	if !strings.Contains(oe.Error(), "1 audit record(s) could not be written") || !strings.Contains(oe.Error(), "no space") {
		t.Errorf("message %q does not say the record was lost and why", oe)
	}
	// ...so the calls after it are refused unsent, and each refusal's own
	// record is lost too.
	for i := range 2 {
		_, err = o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Rome"})
		oe = asError(t, err, orchestrator.KindAudit)
		if want := strconv.Itoa(i+1) + " audit record(s)"; !strings.Contains(oe.Error(), want) {
			t.Errorf("message %q, want %q", oe, want)
		}
		if err := o.SyncAudit(ctx); err == nil {
			t.Fatal("SyncAudit reports no loss")
		}
	}
	if n := srv.calls.Load(); n != 1 {
		t.Errorf("the server received %d calls, want 1: a call went out after an audit record was lost", n)
	}
	if err := o.Close(); err == nil || !strings.Contains(err.Error(), "3 audit record(s) could not be written") {
		t.Errorf("Close = %v, want the loss of all three records", err)
	}
}
