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
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// killed is a run whose call's worker, a process of its own, a test
// kills mid-call.
type killed struct {
	rig  *rig
	run  client.WorkflowRun
	proc *exec.Cmd
}

// startKillable starts a flow worker and server a's worker as a process
// (workerProcess, spec's tail after the queue and server: the server's
// URL, and "orchestrator" for a worker calling through one), then the run
// id of src; the caller waits for the call to start and calls kill.
func startKillable(t *testing.T, ctx context.Context, c client.Client, id, src string, tail ...string) *killed {
	t.Helper()
	in := temporal.FlowInput{Path: id + ".flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}}
	return startKillableWorkflow(t, ctx, c, id, temporal.WorkflowRunFlow, nil, in, tail...)
}

// startKillableWorkflow is startKillable for workflow wf (which register,
// if set, registers on the flow worker beside Flows) with input in.
func startKillableWorkflow(t *testing.T, ctx context.Context, c client.Client, id, wf string, register func(worker.Worker, *rig), in any, tail ...string) *killed {
	t.Helper()
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	r := &rig{c: c, prefix: prefix, flows: &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, HeartbeatTimeout: 2 * time.Second}}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	r.flows.Register(fw)
	if register != nil {
		register(fw, r)
	}
	start(t, fw)

	cmd := exec.Command(os.Args[0])
	spec := append([]string{testHostPort, testNamespace, r.flows.Queue("a"), "a"}, tail...)
	cmd.Env = append(os.Environ(), workerProcessEnv+"="+strings.Join(spec, "|"))
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
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: prefix + "flows"}, wf, in)
	if err != nil {
		t.Fatal(err)
	}
	return &killed{rig: r, run: run, proc: cmd}
}

func (k *killed) kill(t *testing.T) {
	t.Helper()
	if err := k.proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = k.proc.Wait()
}

// waitStatus queries the run's status until it is want.
func waitStatus(t *testing.T, ctx context.Context, c client.Client, runID, want string) *temporal.StatusView {
	t.Helper()
	for {
		st, err := temporal.Status(ctx, c, runID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == want {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s stayed %s, never %s", runID, st.Status, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A call that is neither read-only, idempotent nor keyed, whose worker
// is killed mid-call, is not sent again by the retry rule and does not
// fail either: the run blocks, its status and events naming the call,
// until a resolve signal decides. rerun sends it again (the server, over
// HTTP and outliving the worker, acts a second time); mark-done ends the
// step as succeeded with a null result, the server having acted once; a
// cancel ends the run with the call left undecided.
func TestUnsafeCallBlocksForResolve(t *testing.T) {
	c := needServer(t)
	for _, action := range []string{workflows.ResolveRerun, workflows.ResolveMarkDone, "cancel"} {
		t.Run(action, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			svc := newTestService("a")
			srv := svc.server()
			hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
			t.Cleanup(hs.Close)
			src := `version: 1
name: charge
steps:
  - id: charge
    call: {server: a, tool: charge_slow}
    with: {ms: 1500}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [transport]}
outputs:
  attempts: ${ .steps.charge.attempts }
  charged: ${ .steps.charge.result.charged }
`
			id := "blocked-" + action
			k := startKillable(t, ctx, c, id, src, hs.URL)
			if !svc.sawStart(time.Minute) {
				t.Fatal("the call never started")
			}
			k.kill(t)

			cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cs.Close() })
			aw := worker.New(c, k.rig.flows.Queue("a"), worker.Options{})
			(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": cs}}}).Register(aw)
			start(t, aw)

			st := waitStatus(t, ctx, c, id, workflows.RunBlocked)
			if len(st.Blocked) != 1 || st.Blocked[0].Path != "charge" || st.Blocked[0].StepID != "charge" || st.Blocked[0].Server != "a" ||
				st.Blocked[0].Tool != "charge_slow" || st.Blocked[0].Attempt != 1 {
				t.Fatalf("blocked calls %+v, want charge (a.charge_slow, attempt 1)", st.Blocked)
			}
			v, err := c.QueryWorkflow(ctx, id, "", temporal.QueryEvents)
			if err != nil {
				t.Fatal(err)
			}
			var evs []temporal.EventView
			if err := v.Get(&evs); err != nil {
				t.Fatal(err)
			}
			blockedEv := false
			for _, ev := range evs {
				if ev.Kind == workflows.EventBlocked && ev.Path == "charge" && ev.ErrorClass == workflows.ClassTransport && strings.Contains(ev.Error, "worker making the call was lost") {
					blockedEv = true
				}
			}
			if !blockedEv {
				t.Errorf("no blocked event for charge in %+v", evs)
			}
			if n := svc.acted(); n != 1 {
				t.Fatalf("the server acted %d times before the decision, want once", n)
			}
			if action == "cancel" {
				// Cancelled while it waits: the step is cancelled and the
				// run's output says the call was left undecided.
				if err := c.CancelWorkflow(ctx, id, ""); err != nil {
					t.Fatal(err)
				}
				var out temporal.FlowOutput
				if err := k.run.Get(ctx, &out); err != nil {
					t.Fatal(err)
				}
				if out.Status != workflows.RunCancelled || out.Steps["charge"] != workflows.StatusCancelled ||
					len(out.Undecided) != 1 || out.Undecided[0].Path != "charge" {
					t.Fatalf("run %s, steps %v, undecided %+v; want cancelled with charge undecided", out.Status, out.Steps, out.Undecided)
				}
				if n := svc.acted(); n != 1 {
					t.Errorf("the server acted %d times, want once", n)
				}
				k.rig.replay(t, history(ctx, t, c, id, k.run.GetRunID()))
				return
			}
			if err := temporal.Resolve(ctx, c, id, action, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "charge") {
				t.Errorf("resolving a call that does not wait: %v, want an error naming the blocked call", err)
			}
			if err := temporal.Resolve(ctx, c, id, "retry", nil); err == nil {
				t.Error("an unknown action was accepted")
			}
			if err := temporal.Resolve(ctx, c, id, action, []string{"charge"}); err != nil {
				t.Fatal(err)
			}

			var out temporal.FlowOutput
			if err := k.run.Get(ctx, &out); err != nil {
				t.Fatal(err)
			}
			if out.Status != workflows.RunSucceeded || out.Steps["charge"] != workflows.StatusSucceeded || out.Outputs["attempts"] != float64(2) {
				t.Fatalf("run %s, steps %v, outputs %v, error %s; want succeeded at attempt 2", out.Status, out.Steps, out.Outputs, out.Error)
			}
			want, charged := 2, any(true)
			if action == workflows.ResolveMarkDone {
				want, charged = 1, nil
			}
			if n := svc.acted(); n != want {
				t.Errorf("the server acted %d times, want %d", n, want)
			}
			if out.Outputs["charged"] != charged {
				t.Errorf("charged = %v, want %v", out.Outputs["charged"], charged)
			}
			if st, err := temporal.Status(ctx, c, id); err != nil || st.Status != workflows.RunSucceeded {
				t.Errorf("status after the run: %+v, %v", st, err)
			}
			if err := temporal.Resolve(ctx, c, id, action, nil); err == nil || !strings.Contains(err.Error(), "not blocked") {
				t.Errorf("resolving a finished run: %v", err)
			}
			k.rig.replay(t, history(ctx, t, c, id, k.run.GetRunID()))
		})
	}
}

// A call blocked in a child workflow of the run (as a batch of a large
// for_each runs): the run's status lists it, naming the child, and
// Resolve signals the child, where the call waits.
func TestResolveReachesChildWorkflow(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newTestService("a")
	srv := svc.server()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	src := `version: 1
name: charge
steps:
  - id: charge
    call: {server: a, tool: charge_slow}
    with: {ms: 1500}
outputs:
  charged: ${ .steps.charge.result.charged }
`
	const id, parent = "parent", "test.Parent"
	// The parent stands for a run whose items run in a child workflow: it
	// answers QueryStatus as running and runs the flow as its child.
	register := func(w worker.Worker, r *rig) {
		w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in temporal.FlowInput) (*temporal.FlowOutput, error) {
			if err := workflow.SetQueryHandler(ctx, temporal.QueryStatus, func() (temporal.StatusView, error) {
				return temporal.StatusView{Status: workflows.RunRunning}, nil
			}); err != nil {
				return nil, err
			}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id + "/child", TaskQueue: r.prefix + "flows"})
			var out temporal.FlowOutput
			err := workflow.ExecuteChildWorkflow(cctx, temporal.WorkflowRunFlow, in).Get(ctx, &out)
			return &out, err
		}, workflow.RegisterOptions{Name: parent})
	}
	in := temporal.FlowInput{Path: "charge.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}}
	k := startKillableWorkflow(t, ctx, c, id, parent, register, in, hs.URL)
	if !svc.sawStart(time.Minute) {
		t.Fatal("the call never started")
	}
	k.kill(t)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	aw := worker.New(c, k.rig.flows.Queue("a"), worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"a": cs}}}).Register(aw)
	start(t, aw)

	st := waitStatus(t, ctx, c, id, workflows.RunBlocked)
	if len(st.Blocked) != 1 || st.Blocked[0].Path != "charge" || st.Blocked[0].Workflow != id+"/child" {
		t.Fatalf("blocked calls %+v, want charge in %s/child", st.Blocked, id)
	}
	if err := temporal.Resolve(ctx, c, id, workflows.ResolveRerun, nil); err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := k.run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["charged"] != true {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	if n := svc.acted(); n != 2 {
		t.Errorf("the server acted %d times, want twice (rerun)", n)
	}
}

// A child workflow that cannot block (it has no QueryStatus) leaves the
// run's status as the run's own.
func TestStatusSkipsChildWithoutStatus(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	const id = "quiet-parent"
	w := worker.New(c, prefix+"flows", worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		workflow.GetSignalChannel(ctx, "done").Receive(ctx, nil)
		return nil
	}, workflow.RegisterOptions{Name: "test.Quiet"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		if err := workflow.SetQueryHandler(ctx, temporal.QueryStatus, func() (temporal.StatusView, error) {
			return temporal.StatusView{Status: workflows.RunRunning}, nil
		}); err != nil {
			return err
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id + "/child", TaskQueue: prefix + "flows"})
		return workflow.ExecuteChildWorkflow(cctx, "test.Quiet").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "test.QuietParent"})
	start(t, w)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: prefix + "flows"}, "test.QuietParent")
	if err != nil {
		t.Fatal(err)
	}
	for {
		desc, err := c.DescribeWorkflow(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.RawResponse.GetPendingChildren()) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the child never started")
		case <-time.After(20 * time.Millisecond):
		}
	}
	st, err := temporal.Status(ctx, c, id)
	if err != nil || st.Status != workflows.RunRunning || len(st.Blocked) != 0 {
		t.Errorf("status %+v, %v; want running", st, err)
	}
	if err := c.SignalWorkflow(ctx, id+"/child", "", "done", nil); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
