package workflows_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// A read cut short by the run's cancellation is journalled as a call
// would be: cancelled, with why.
func TestCancelledReadKeepsItsError(t *testing.T) {
	started := make(chan struct{})
	docs := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, nil)
	docs.AddResource(&mcp.Resource{Name: "slow", URI: "docs://slow"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	o, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{{
		Config: connectors.Config{Name: "docs", Timeout: time.Minute},
		NewTransport: func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			_, err := docs.Connect(context.Background(), st, nil)
			return ct, err
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	fl, err := flow.Parse("slow.flow.yaml", []byte("version: 1\nname: slow\nsteps:\n  - id: slow\n    read: {server: docs, uri: \"docs://slow\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := workflows.OpenJournal(filepath.Join(t.TempDir(), workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o}), Journal: j, RunID: "r1"})
	}()
	<-started
	cancel()
	<-done
	atts, err := j.Attempts(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 {
		t.Fatalf("%d attempts journalled, want 1", len(atts))
	}
	if a := atts[0]; a.State != workflows.AttemptCancelled || a.Error == "" || a.ErrorClass != workflows.ClassCancelled {
		t.Fatalf("journalled read: state %q, error %q, class %q; want cancelled with its error", a.State, a.Error, a.ErrorClass)
	}
}
