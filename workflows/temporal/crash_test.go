package temporal_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// workerProcessEnv, when set ("HOST:PORT|NAMESPACE|QUEUE|SERVER" and
// optionally "|URL"), makes the test binary a server's activity worker in
// a process of its own (workerProcess), which a test can kill.
const workerProcessEnv = "MEDIATOR_TEMPORAL_TEST_WORKER"

// workerProcess runs an activity worker for one server on a queue: a test
// service of its own, or the MCP server at URL (streamable HTTP), over a
// go-sdk session or, with "orchestrator", through an orchestrator (which
// runs MCP tasks). It prints "ready" once started and, for its own
// service, "started" as each slow call begins, until it is killed.
func workerProcess(spec string) int {
	parts := strings.Split(spec, "|")
	if len(parts) < 4 || len(parts) > 6 || (len(parts) == 6 && parts[5] != "orchestrator") {
		fmt.Fprintf(os.Stderr, "%s: want HOST:PORT|NAMESPACE|QUEUE|SERVER[|URL[|orchestrator]], got %q\n", workerProcessEnv, spec)
		return 2
	}
	ctx := context.Background()
	c, err := client.Dial(client.Options{HostPort: parts[0], Namespace: parts[1], Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(parts) == 6 {
		return orchestratorWorkerProcess(c, parts[2], parts[3], parts[4])
	}
	ts := newTestService(parts[3])
	var transport mcp.Transport
	if len(parts) == 5 {
		transport = &mcp.StreamableClientTransport{Endpoint: parts[4]}
	} else {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := ts.server().Connect(ctx, st, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		transport = ct
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, transport, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := worker.New(c, parts[2], worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{parts[3]: cs}}}).Register(w)
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	for range ts.started {
		fmt.Println("started")
	}
	return 0
}

// A worker process killed mid-call never reports; Temporal fails the
// attempt at its heartbeat timeout, which is a transport failure, so a
// read-only call whose retry rule covers transport is sent again, to the
// worker that took over the queue, and the run succeeds.
func TestWorkerKilledMidCall(t *testing.T) {
	c := needServer(t)
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, HeartbeatTimeout: 2 * time.Second}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	start(t, fw)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerProcessEnv+"="+strings.Join([]string{testHostPort, testNamespace, flows.Queue("a"), "a"}, "|"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	next := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("worker process said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	next("ready")

	src := `version: 1
name: killed
steps:
  - id: s
    call: {server: a, tool: slow}
    with: {ms: 2000}
    retry: {max_attempts: 2, initial_interval: 1ms, on: [transport]}
outputs:
  attempts: ${ .steps.s.attempts }
  slept: ${ .steps.s.result.slept }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "killed", TaskQueue: prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "killed.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	next("started")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	w := newWorld(t, "a")
	aw := worker.New(c, flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: w.caller("a")}).Register(aw)
	start(t, aw)

	var res temporal.FlowOutput
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != workflows.RunSucceeded || res.Outputs["attempts"] != float64(2) {
		t.Fatalf("run %s, outputs %v, error %s; want succeeded on the second attempt", res.Status, res.Outputs, res.Error)
	}
	if n := w.services["a"].count("slow"); n != 1 {
		t.Errorf("the new worker's server got %d calls, want 1", n)
	}
	h := history(ctx, t, c, "killed", run.GetRunID())
	timedOut := false
	for _, ev := range h.Events {
		if ev.GetEventType() == enums.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT {
			timedOut = true
		}
	}
	if !timedOut {
		t.Error("no attempt timed out in the history: the killed worker's attempt ended some other way")
	}
	(&rig{c: c, flows: flows, prefix: prefix}).replay(t, h)
}

// A worker process killed mid-call, with the server it called living on
// (over HTTP, shared with the worker that takes over): a call with an
// idempotency key is sent again with the same key, and the server, which
// acted on the first, answers with that instead of acting twice.
// A call that is neither read-only, idempotent nor keyed is not sent
// again: TestUnsafeCallBlocksForResolve.
func TestWorkerKilledRetryRule(t *testing.T) {
	c := needServer(t)
	tests := []struct {
		name, step string
		status     string
		check      func(t *testing.T, out *temporal.FlowOutput)
	}{
		{
			name: "keyed",
			step: `
    call: {server: a, tool: create_slow}
    with: {ms: 2000}
    idempotency_key: booking-1
    retry: {max_attempts: 2, initial_interval: 1ms, on: [transport]}`,
			status: workflows.RunSucceeded,
			check: func(t *testing.T, out *temporal.FlowOutput) {
				if out.Outputs["attempts"] != float64(2) || out.Outputs["replayed"] != true || out.Outputs["id"] != "ev-1" {
					t.Errorf("outputs %v, want ev-1 replayed on attempt 2", out.Outputs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newTestService("a")
			srv := svc.server()
			hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
			t.Cleanup(hs.Close)

			prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
			flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, HeartbeatTimeout: 2 * time.Second}
			fw := worker.New(c, prefix+"flows", worker.Options{})
			flows.Register(fw)
			start(t, fw)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), workerProcessEnv+"="+strings.Join([]string{testHostPort, testNamespace, flows.Queue("a"), "a", hs.URL}, "|"))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			if lines := bufio.NewScanner(out); !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("worker process said %q (%v), want ready", lines.Text(), lines.Err())
			}

			src := "version: 1\nname: killed\nsteps:\n  - id: s" + tt.step + `
outputs:
  attempts: ${ .steps.s.attempts }
  id: ${ .steps.s.result.id }
  replayed: ${ .steps.s.result.replayed }
`
			id := "killed-" + tt.name
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: prefix + "flows"},
				temporal.WorkflowRunFlow, temporal.FlowInput{Path: "killed.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
			if err != nil {
				t.Fatal(err)
			}
			if !svc.sawStart(time.Minute) {
				t.Fatal("the call never started")
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cs.Close() })
			aw := worker.New(c, flows.Queue("a"), worker.Options{})
			(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": cs}}}).Register(aw)
			start(t, aw)

			var res temporal.FlowOutput
			if err := run.Get(ctx, &res); err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status {
				t.Fatalf("run %s (%s), want %s", res.Status, res.Error, tt.status)
			}
			tt.check(t, &res)
			if n := svc.acted(); n != 1 {
				t.Errorf("the server acted %d times, want once", n)
			}
			(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, id, run.GetRunID()))
		})
	}
}

// The flow worker stopped mid-run: a fresh one, with no state of the
// first, replays the history and finishes the run without repeating a
// completed call.
func TestFlowWorkerReplaced(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	queue := func(s string) string { return prefix + temporal.QueueFor(s) }
	aw := worker.New(c, queue("a"), worker.Options{})
	(&temporal.Activities{Caller: w.caller("a")}).Register(aw)
	start(t, aw)
	first := worker.New(c, prefix+"flows", worker.Options{})
	(&temporal.Flows{Queue: queue}).Register(first)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := `version: 1
name: replaced
steps:
  - id: one
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: two
    needs: [one]
    call: {server: a, tool: slow}
    with: {ms: 1000}
  - id: three
    needs: [two]
    call: {server: a, tool: echo}
    with: {v: ${ .steps.two.result.slept }}
outputs:
  three: ${ .steps.three.result.v }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "replaced", TaskQueue: prefix + "flows"},
		temporal.WorkflowRunFlow, temporal.FlowInput{Path: "replaced.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !w.services["a"].sawStart(time.Minute) {
		t.Fatal("step two never started")
	}
	first.Stop()
	second := worker.New(c, prefix+"flows", worker.Options{})
	flows := &temporal.Flows{Queue: queue}
	flows.Register(second)
	start(t, second)

	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["three"] != float64(1000) {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	if e, s := w.services["a"].count("echo"), w.services["a"].count("slow"); e != 2 || s != 1 {
		t.Errorf("echo called %d times, slow %d; want 2 and 1", e, s)
	}
	(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, "replaced", run.GetRunID()))
}
