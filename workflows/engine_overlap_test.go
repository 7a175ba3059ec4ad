package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestIndependentStepsOverlap: two steps that do not depend on each other
// must be in flight at the same time. Each call waits at a rendezvous
// until the other has arrived, so run one after the other they could
// never both finish; the context bounds the wait, so a regression fails
// rather than hangs. No timing is measured.
func TestIndependentStepsOverlap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	arrived := 0
	both := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "meet", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "meet", InputSchema: objectSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			mu.Lock()
			arrived++
			if arrived == 2 {
				close(both)
			}
			mu.Unlock()
			select {
			case <-both:
				return structured(map[string]any{"met": true}), nil
			case <-ctx.Done():
				return toolErr("the other call never arrived: %v", ctx.Err()), nil
			}
		})
	st, ct := mcp.NewInMemoryTransports()
	if _, err := s.Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	f := parseFlow(t, `
version: 1
name: overlap
steps:
  - id: left
    call: {server: m, tool: meet}
  - id: right
    call: {server: m, tool: meet}
outputs:
  met: ${ [.steps.left.result.met, .steps.right.result.met] }
`)
	// The rendezvous must not outlive the run if the steps do not
	// overlap: a shorter deadline for the run than for the test.
	runCtx, runCancel := context.WithTimeout(ctx, 5*time.Second)
	defer runCancel()
	res, err := Run(runCtx, f, RunOptions{Runtime: NewLocalRuntime(&SessionCaller{Sessions: map[string]*mcp.ClientSession{"m": cs}}), TrustAnnotations: trustAll})
	if err != nil {
		t.Fatalf("independent steps did not overlap: %v", err)
	}
	if engJSON(res.Outputs["met"]) != `[true,true]` {
		t.Fatalf("outputs %v", res.Outputs)
	}
}
