package flowrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// TestTrackerSubFlow runs a flow whose step uses a sub-flow, once and per
// item, against a real go-sdk server: the tracker lists the sub-flow's
// steps under the step that uses it and counts their calls there, apart
// from the caller's step of the same id, its finally steps after them.
func TestTrackerSubFlow(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("sub.flow.yaml", "version: 1\nname: sub\ninputs:\n  n: {type: number}\nsteps:\n  - id: echo\n    call: {server: s, tool: echo}\n    with: {n: \"${ .inputs.n }\"}\noutputs:\n  n: ${ .steps.echo.result.n }\n"+
		"finally:\n  - id: tidy\n    call: {server: s, tool: echo}\n    with: {status: \"${ .run.status }\"}\n")
	main := write("main.flow.yaml", `version: 1
name: main
steps:
  - id: echo
    call: {server: s, tool: echo}
    with: {n: 0}
  - id: one
    uses: sub.flow.yaml
    with: {n: 1}
  - id: many
    for_each: ${ [1, 2, 3] }
    uses: sub.flow.yaml
    with: {n: "${ .item }"}
finally:
  - id: last
    call: {server: s, tool: echo}
`)
	data, _ := os.ReadFile(main)
	f, ps := flow.Check(context.Background(), main, data, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true})
	if errs := ps.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	tr := NewTracker(f, time.Now())
	var lines []string
	rt := workflows.NewLocalRuntime(&workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"s": cs}})
	// The tracker is called from the engine's goroutines; Handle locks.
	res, err := workflows.Run(ctx, f, workflows.RunOptions{Runtime: rt, Progress: func(ev workflows.Event) {
		if l := tr.Handle(ev); l != "" && strings.Contains(l, "uses/") {
			tr.mu.Lock()
			lines = append(lines, l)
			tr.mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != workflows.RunSucceeded {
		t.Fatalf("run %s", res.Status)
	}
	rows, _, _, _ := tr.Snapshot()
	var got []string
	for _, r := range rows {
		got = append(got, strings.Repeat(" ", r.Depth)+r.Path+"="+r.Status)
	}
	want := "echo=succeeded|one=succeeded| one.uses/echo=succeeded| one.uses/finally/tidy=succeeded|many=succeeded| many.uses/echo=succeeded| many.uses/finally/tidy=succeeded|=succeeded| finally/last=succeeded"
	if strings.Join(got, "|") != want {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	for _, r := range rows {
		if r.Path == "many.uses/echo" && r.Done[workflows.StatusSucceeded] != 3 {
			t.Errorf("sub-flow step under the for_each counted %v, want 3 succeeded", r.Done)
		}
	}
	if joined := strings.Join(lines, "\n"); !strings.Contains(joined, "✓ one.uses/echo: succeeded") {
		t.Errorf("plain lines:\n%s", joined)
	}
}
