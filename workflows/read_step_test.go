package workflows_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// readServers are "docs", whose resources are docs://readme and
// docs://page/{n} (it counts the reads that reach it), and "a", whose
// echo tool answers its arguments as structured content.
func readServers(t *testing.T, docsCfg func(*orchestrator.ServerConfig)) (o *orchestrator.Orchestrator, reads, pages *atomic.Int64) {
	t.Helper()
	reads, pages = new(atomic.Int64), new(atomic.Int64)
	docs := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, nil)
	docs.AddResource(&mcp.Resource{Name: "readme", URI: "docs://readme"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		reads.Add(1)
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "docs://readme", MIMEType: "text/plain", Text: "read me"}}}, nil
	})
	docs.AddResourceTemplate(&mcp.ResourceTemplate{Name: "page", URITemplate: "docs://page/{n}"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		reads.Add(1)
		pages.Add(1)
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "page " + strings.TrimPrefix(req.Params.URI, "docs://page/")}}}, nil
	})
	a := mcp.NewServer(&mcp.Implementation{Name: "a", Version: "1"}, nil)
	a.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	var failed atomic.Bool
	a.AddTool(&mcp.Tool{Name: "fail_once", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if !failed.Swap(true) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "not yet"}}}, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	inProc := func(s *mcp.Server) func(context.Context) (mcp.Transport, error) {
		return func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			_, err := s.Connect(context.Background(), st, nil)
			return ct, err
		}
	}
	docsCfgV := orchestrator.ServerConfig{Config: connectors.Config{Name: "docs", Timeout: 10 * time.Second}, NewTransport: inProc(docs)}
	if docsCfg != nil {
		docsCfg(&docsCfgV)
	}
	var err error
	o, err = orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{
		docsCfgV,
		{Config: connectors.Config{Name: "a", Timeout: 10 * time.Second}, NewTransport: inProc(a)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, reads, pages
}

const readFlow = `version: 1
name: reads
flows:
  - a -> docs
  - docs -> a
steps:
  - id: pick
    call: {server: a, tool: echo}
    with: {n: "7"}
  - id: page
    read: {server: docs, uri: "${ \"docs://page/\" + .steps.pick.result.n }"}
  - id: readme
    read: {server: docs, uri: "docs://readme"}
  - id: post
    call: {server: a, tool: echo}
    with:
      text: ${ .steps.page.text }
      uri: ${ .steps.readme.result.contents[0].uri }
      mime: ${ .steps.readme.content[0].mimeType }
outputs:
  post: ${ .steps.post.result }
`

// A read step reads through the orchestrator with a URI computed from
// another server's output, its view is {contents} with text, and the
// journal records it; a resume reuses the journalled contents without
// reading again.
func TestReadStepRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, reads, _ := readServers(t, nil)
	fl, err := flow.Parse("reads.flow.yaml", []byte(readFlow))
	if err != nil {
		t.Fatal(err)
	}
	if ps := flow.Validate(ctx, fl, flow.ValidateOptions{}).Errors(); len(ps) > 0 {
		t.Fatalf("validate: %v", ps)
	}
	j, err := workflows.OpenJournal(filepath.Join(t.TempDir(), workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rt := workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o})
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: rt, Journal: j, RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	post, _ := res.Outputs["post"].(map[string]any)
	if post["text"] != "page 7" || post["uri"] != "docs://readme" || post["mime"] != "text/plain" {
		t.Fatalf("outputs %v", res.Outputs)
	}
	if reads.Load() != 2 {
		t.Errorf("%d reads reached the server, want 2", reads.Load())
	}
	atts, err := j.Attempts(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var readRecs int
	for _, a := range atts {
		if a.Tool == workflows.ReadTool && a.Server == "docs" && a.State == workflows.AttemptSucceeded && len(a.Result) > 0 {
			readRecs++
		}
	}
	if readRecs != 2 {
		t.Errorf("journal: %d succeeded reads, want 2", readRecs)
	}

	// A run that fails after its reads, resumed: the reads are reused.
	fl, err = flow.Parse("reads.flow.yaml", []byte(strings.Replace(readFlow, "call: {server: a, tool: echo}\n    with:\n      text", "call: {server: a, tool: fail_once}\n    with:\n      text", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: rt, Journal: j, RunID: "r2"}); err == nil {
		t.Fatalf("the first run of fail_once succeeded: %v", res.Status)
	}
	before := reads.Load()
	res, err = workflows.Resume(ctx, fl, "r2", workflows.RunOptions{Runtime: rt, Journal: j}, workflows.ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if post, _ := res.Outputs["post"].(map[string]any); post["text"] != "page 7" || reads.Load() != before {
		t.Errorf("resumed: outputs %v, %d reads made again", res.Outputs, reads.Load()-before)
	}
}

// A read whose URI carries another server's data without the flow
// declared is refused before anything is sent, as a call would be; so is
// a URI the server's resources filter denies, in the orchestrator.
func TestReadStepRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, _, pages := readServers(t, nil)
	fl, err := flow.Parse("reads.flow.yaml", []byte(strings.Replace(readFlow, "  - a -> docs\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o})
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: rt})
	if err == nil || res.Status != workflows.RunFailed || !strings.Contains(err.Error(), `add "a -> docs"`) || !strings.Contains(err.Error(), "read of a resource of server \"docs\"") {
		t.Fatalf("status %s, err %v", res.Status, err)
	}
	if pages.Load() != 0 {
		t.Errorf("%d reads reached the server although the flow was refused", pages.Load())
	}

	o, _, pages = readServers(t, func(c *orchestrator.ServerConfig) { c.Resources.Deny = []string{"docs://page/**"} })
	fl, err = flow.Parse("reads.flow.yaml", []byte(readFlow))
	if err != nil {
		t.Fatal(err)
	}
	res, err = workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o})})
	if err == nil || !strings.Contains(err.Error(), `deny pattern "docs://page/**"`) || res.Steps["page"] != "failed" {
		t.Fatalf("status %s, steps %v, err %v", res.Status, res.Steps, err)
	}
	if pages.Load() != 0 {
		t.Errorf("a denied read reached the server")
	}
}

// sourcesSeen records the sources each read carries to its caller.
type sourcesSeen struct {
	workflows.OrchestratorCaller
	got map[string][]string
}

func (s sourcesSeen) ReadResource(ctx context.Context, req workflows.ReadRequest) (*mcp.ReadResourceResult, error) {
	s.got[req.Step] = req.Sources
	return s.OrchestratorCaller.ReadResource(ctx, req)
}

// A read hands the orchestrator its provenance: the servers whose data
// is in its URI, none for a literal URI.
func TestReadStepCarriesProvenance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, _, _ := readServers(t, nil)
	fl, err := flow.Parse("reads.flow.yaml", []byte(readFlow))
	if err != nil {
		t.Fatal(err)
	}
	seen := sourcesSeen{OrchestratorCaller: workflows.OrchestratorCaller{O: o}, got: map[string][]string{}}
	if _, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(seen)}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen.got["page"], ","); got != "a" {
		t.Errorf("page's sources %q, want a", got)
	}
	if got := seen.got["readme"]; len(got) != 0 {
		t.Errorf("readme's sources %q, want none", got)
	}
}

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
