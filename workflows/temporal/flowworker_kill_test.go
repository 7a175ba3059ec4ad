package temporal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// flowWorkerProcessEnv, when set ("HOST:PORT|NAMESPACE|PREFIX|IDENTITY"),
// makes the test binary a flow worker in a process of its own
// (flowWorkerProcess), which a test can kill.
const flowWorkerProcessEnv = "MEDIATOR_TEMPORAL_TEST_FLOW_WORKER"

// flowWorkerProcess runs a flow worker polling PREFIX+"flows", its
// activities on PREFIX+QueueFor(server), under IDENTITY; it holds no
// caller. It prints "ready" once started and runs until killed or until
// its stdin closes.
func flowWorkerProcess(spec string) int {
	parts := strings.Split(spec, "|")
	if len(parts) != 4 {
		fmt.Fprintf(os.Stderr, "%s: want HOST:PORT|NAMESPACE|PREFIX|IDENTITY, got %q\n", flowWorkerProcessEnv, spec)
		return 2
	}
	prefix := parts[2]
	c, err := client.Dial(client.Options{HostPort: parts[0], Namespace: parts[1], Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	w := worker.New(c, prefix+"flows", worker.Options{Identity: parts[3]})
	(&temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }}).Register(w)
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Stop()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startFlowWorkerProcess starts a flow worker process (flowWorkerProcess)
// and waits for it to be ready.
func startFlowWorkerProcess(t *testing.T, prefix, identity string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), flowWorkerProcessEnv+"="+strings.Join([]string{testHostPort, testNamespace, prefix, identity}, "|"))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if lines := bufio.NewScanner(out); !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("flow worker process %s said %q (%v), want ready", identity, lines.Text(), lines.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd
}

// gatedServer is a go-sdk MCP server whose hold tool answers only once
// released; it counts the calls of each tool.
type gatedServer struct {
	started chan struct{}
	release chan struct{}

	mu    sync.Mutex
	calls map[string]int
}

func newGatedServer() *gatedServer {
	return &gatedServer{started: make(chan struct{}, 8), release: make(chan struct{}), calls: map[string]int{}}
}

func (g *gatedServer) count(tool string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[tool]
}

func (g *gatedServer) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "gated", Version: "1"}, nil)
	args := func(req *mcp.CallToolRequest) map[string]any {
		m := map[string]any{}
		_ = json.Unmarshal(req.Params.Arguments, &m)
		g.mu.Lock()
		g.calls[req.Params.Name]++
		g.mu.Unlock()
		return m
	}
	for _, name := range []string{"first", "last"} {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: objectSchema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				a := args(req)
				v, _ := a["v"].(float64)
				return structured(map[string]any{"v": v + 1, "tool": name}), nil
			})
	}
	s.AddTool(&mcp.Tool{Name: "hold", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			a := args(req)
			g.started <- struct{}{}
			select {
			case <-g.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			v, _ := a["v"].(float64)
			return structured(map[string]any{"v": v * 10}), nil
		})
	return s
}

// gatedSession is a client session to g's server, in memory.
func gatedSession(t *testing.T, g *gatedServer) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := g.server().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(); _ = ss.Wait() })
	return cs
}

const killedFlow = `version: 1
name: flow-worker-killed
steps:
  - id: one
    call: {server: a, tool: first}
    with: {v: 1}
  - id: two
    call: {server: a, tool: hold}
    with: {v: ${ .steps.one.result.v }}
  - id: three
    call: {server: a, tool: last}
    with: {v: ${ .steps.two.result.v }}
outputs:
  one: ${ .steps.one.result.v }
  two: ${ .steps.two.result.v }
  three: ${ .steps.three.result.v }
`

// The flow worker killed as a process (SIGKILL) while a run's second call
// is in flight: a fresh flow-worker process, which has none of the first
// one's state, replays the history and finishes the run with the outputs
// of a local run, and the first call, completed before the kill, is not
// made again.
func TestFlowWorkerProcessKilled(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	fl, probs := flow.Check(ctx, "killed.flow.yaml", []byte(killedFlow), flow.ValidateOptions{RetryAtRunTime: true})
	if errs := probs.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	lg := newGatedServer()
	close(lg.release)
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(&workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": gatedSession(t, lg)}}),
		RunID: "flow-worker-killed"})
	if res == nil {
		t.Fatal(err)
	}
	local := toOutput(res)
	if local.Status != workflows.RunSucceeded {
		t.Fatalf("local run %s: %s", local.Status, local.Error)
	}

	g := newGatedServer()
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	aw := worker.New(c, prefix+temporal.QueueFor("a"), worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": gatedSession(t, g)}}}).Register(aw)
	start(t, aw)

	first := startFlowWorkerProcess(t, prefix, "flow-worker-1")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "flow-worker-killed", TaskQueue: prefix + "flows"}, temporal.WorkflowRunFlow,
		temporal.FlowInput{Path: "killed.flow.yaml", Source: []byte(killedFlow)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.started:
	case <-ctx.Done():
		t.Fatal("step two never started")
	}
	if n := g.count("first"); n != 1 {
		t.Fatalf("first called %d times before the kill, want 1", n)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	startFlowWorkerProcess(t, prefix, "flow-worker-2")
	close(g.release)

	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	out.RunID = local.RunID
	if got, want := comparable(&out), comparable(local); got != want {
		t.Fatalf("the run after the kill and the local run differ:\ntemporal %s\n   local %s", got, want)
	}
	for tool, want := range map[string]int{"first": 1, "hold": 1, "last": 1} {
		if n := g.count(tool); n != want {
			t.Errorf("%s called %d times, want %d", tool, n, want)
		}
	}
	h := history(ctx, t, c, "flow-worker-killed", run.GetRunID())
	var identities []string
	for _, ev := range h.Events {
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil && !slices.Contains(identities, a.GetIdentity()) {
			identities = append(identities, a.GetIdentity())
		}
	}
	if !slices.Equal(identities, []string{"flow-worker-1", "flow-worker-2"}) {
		t.Errorf("workflow tasks completed by %q, want the first process, then the second", identities)
	}
	(&rig{c: c, flows: &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }}, prefix: prefix}).replay(t, h)
}
