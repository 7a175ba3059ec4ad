package orchestrator_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The first call starts its server while the audit key is read; a server
// that cannot be reached is tried once for it, not once by the listing
// started alongside and again by the call, and the failure is recorded.
func TestFirstCallConnectsOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var attempts atomic.Int32
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: path, AuditKeys: testKeyring(t, filepath.Join(dir, "keyring")),
		Servers: []orchestrator.ServerConfig{{
			Config: connectors.Config{Name: "down", Timeout: time.Minute},
			NewTransport: func(context.Context) (mcp.Transport, error) {
				attempts.Add(1)
				return nil, errors.New("no such server")
			},
		}},
	})
	_, err := o.Call(testContext(t), "down", "anything", map[string]any{})
	asError(t, err, orchestrator.KindConnection)
	if n := attempts.Load(); n != 1 {
		t.Errorf("the first call made %d connect attempts, want 1", n)
	}
	if err := o.SyncAudit(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := readAudit(t, path); len(recs) != 1 || recs[0].Outcome != orchestrator.OutcomeError {
		t.Errorf("audit records: %+v, want the failed call", recs)
	}
}

// An audit log that cannot be continued refuses the first call at once:
// the connect started alongside the key's read is canceled, not waited
// for, and nothing is sent.
func TestFirstCallAuditFailureCancelsConnect(t *testing.T) {
	path, _ := keyedLog(t, 1)
	connecting, canceled := make(chan struct{}), make(chan struct{})
	o := newOrchestrator(t, orchestrator.Options{
		// Another keyring: its key did not write this log.
		AuditPath: path, AuditKeys: testKeyring(t, filepath.Join(t.TempDir(), "other")),
		Servers: []orchestrator.ServerConfig{{
			Config: connectors.Config{Name: "slow", Timeout: time.Hour},
			NewTransport: func(ctx context.Context) (mcp.Transport, error) {
				close(connecting)
				<-ctx.Done()
				close(canceled)
				return nil, ctx.Err()
			},
		}},
	})
	_, err := o.Call(testContext(t), "slow", "anything", map[string]any{})
	asError(t, err, orchestrator.KindAudit)
	select {
	case <-connecting:
		select {
		case <-canceled:
		default:
			t.Error("the call returned with the audit error while its server's connect went on")
		}
	default: // the log failed before the connect began
	}
}
