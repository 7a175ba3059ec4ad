package temporal_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

const runsFlow = `version: 1
name: runs-flow
inputs:
  x: {type: number}
steps:
  - id: add
    call: {server: b, tool: add}
    with: {a: "${ .inputs.x }", b: 1}
  - id: echo
    call: {server: a, tool: echo}
    with: {v: "${ .inputs.x }"}
outputs:
  sum: ${ .steps.add.result.sum }
`

// runsFor is a Runs over c on r's flow queue, polling often so the test
// does not wait on the default interval.
func runsFor(c client.Client, r *rig) *temporal.Runs {
	return &temporal.Runs{Client: c, FlowQueue: r.prefix + "flows", PollInterval: 50 * time.Millisecond}
}

// uniqueID is a run id no other test (or earlier run of the package on
// the same server) takes.
func uniqueID(t *testing.T, name string) string {
	return fmt.Sprintf("%s-%s-%s", slug(t.Name()), name, rand.Text()[:8])
}

// A run started through Runs is followed event by event to its end,
// its id cannot be taken again, and Describe and Events show it.
func TestRunsStartFollowDescribe(t *testing.T) {
	c := needServer(t)
	r := newRig(t, c, newWorld(t, "a", "b"))
	runs := runsFor(c, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	id := uniqueID(t, "ok")
	in := temporal.FlowInput{Path: "runs.flow.yaml", Source: []byte(runsFlow), Inputs: map[string]any{"x": 2}, TrustedServers: []string{"a", "b"}}
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: in, Workflow: "catalog-name", IdempotencyKey: "key-1"}); err != nil {
		t.Fatal(err)
	}
	var kinds []workflows.EventKind
	out, err := runs.Follow(ctx, id, 0, func(ev temporal.EventView) { kinds = append(kinds, ev.Kind) })
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.RunID != id || fmt.Sprint(out.Outputs["sum"]) != "3" {
		t.Fatalf("output %+v", out)
	}
	if len(kinds) == 0 || kinds[0] != workflows.EventRunStarted || kinds[len(kinds)-1] != workflows.EventRunFinished {
		t.Fatalf("events followed: %v; want run started first and run finished last", kinds)
	}
	all, err := runs.Events(ctx, id)
	if err != nil || len(all) != len(kinds) {
		t.Fatalf("Events: %d events, %v; Follow gave %d", len(all), err, len(kinds))
	}
	// Following from an offset gives only what comes after it.
	var rest int
	if _, err := runs.Follow(ctx, id, len(kinds)-1, func(temporal.EventView) { rest++ }); err != nil || rest != 1 {
		t.Fatalf("Follow after %d: %d events, %v", len(kinds)-1, rest, err)
	}

	err = runs.Start(ctx, temporal.StartOptions{RunID: id, Input: in})
	if !errors.Is(err, temporal.ErrRunExists) {
		t.Fatalf("second start of %s: %v; want ErrRunExists", id, err)
	}

	d, err := runs.Describe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != id || d.FlowName != "runs-flow" || d.FlowPath != "runs.flow.yaml" || d.Workflow != "catalog-name" || d.IdempotencyKey != "key-1" ||
		d.Status != workflows.RunSucceeded || d.FlowDigest == "" || d.StartedAt.IsZero() || d.FinishedAt.Before(d.StartedAt) {
		t.Fatalf("describe: %+v", d.RunSummary)
	}
	if fmt.Sprint(d.Inputs["x"]) != "2" || d.Output == nil || d.Output.Steps["add"] != workflows.StatusSucceeded || len(d.Events) != len(kinds) || d.EventsError != "" {
		t.Fatalf("describe: inputs %v, output %+v, %d events (%s)", d.Inputs, d.Output, len(d.Events), d.EventsError)
	}

	for _, call := range map[string]func() error{
		"Describe": func() error { _, err := runs.Describe(ctx, "no-such-run-"+id); return err },
		"Events":   func() error { _, err := runs.Events(ctx, "no-such-run-"+id); return err },
		"Result":   func() error { _, err := runs.Result(ctx, "no-such-run-"+id); return err },
		"Cancel":   func() error { return runs.Cancel(ctx, "no-such-run-"+id) },
	} {
		if err := call(); !errors.Is(err, workflows.ErrRunNotFound) {
			t.Errorf("unknown id: %v; want ErrRunNotFound", err)
		}
	}
}

// Cancel cancels the call in flight; the run ends cancelled after its
// finally steps, and Follow returns that.
func TestRunsCancel(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a", "b")
	r := newRig(t, c, w)
	runs := runsFor(c, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := `version: 1
name: cancel
steps:
  - id: work
    call: {server: a, tool: slow}
    with: {ms: 60000}
finally:
  - id: report
    call: {server: b, tool: echo}
    with: {status: done}
`
	id := uniqueID(t, "cancel")
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: temporal.FlowInput{Path: "c.flow.yaml", Source: []byte(src), TrustedServers: []string{"a", "b"}}}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once bool
	followed := make(chan *temporal.FlowOutput, 1)
	go func() {
		out, err := runs.Follow(ctx, id, 0, func(ev temporal.EventView) {
			if ev.Kind == workflows.EventStepStarted && ev.Path == "work" && !once {
				once = true
				close(started)
			}
		})
		if err != nil {
			t.Error(err)
		}
		followed <- out
	}()
	<-started
	if !w.services["a"].sawStart(time.Minute) {
		t.Fatal("the slow call never started")
	}
	if err := runs.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	out := <-followed
	if out == nil || out.Status != workflows.RunCancelled || out.Finally == nil || out.Finally.Status != workflows.StatusSucceeded {
		t.Fatalf("after cancel: %+v", out)
	}
	if w.services["b"].count("echo") != 1 {
		t.Fatal("the finally step did not run")
	}
}

// Follow returns as soon as its context ends; the run goes on.
func TestRunsFollowStopsWithContext(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	r := newRig(t, c, w)
	runs := runsFor(c, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := "version: 1\nname: slow\nsteps:\n  - id: work\n    call: {server: a, tool: slow}\n    with: {ms: 60000}\n"
	id := uniqueID(t, "follow")
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: temporal.FlowInput{Path: "s.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runs.Follow(fctx, id, 0, func(ev temporal.EventView) {
			if ev.Kind == workflows.EventStepStarted {
				stop()
			}
		})
		done <- err
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after its context ended: %v", err)
	}
	d, err := runs.Describe(ctx, id)
	if err != nil || d.Status != workflows.RunRunning || d.Output != nil {
		t.Fatalf("the run after Follow stopped: %+v, %v; want it still running", d, err)
	}
	if err := runs.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if out, err := runs.Result(ctx, id); err != nil || out.Status != workflows.RunCancelled {
		t.Fatalf("result %+v, %v", out, err)
	}
}

// List shows runs newest first with their flow and the journal's status
// vocabulary, a run that could not start as failed, and filters by
// status; pages continue where the last ended.
func TestRunsList(t *testing.T) {
	c := needServer(t)
	r := newRig(t, c, newWorld(t, "a", "b"))
	runs := runsFor(c, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := temporal.FlowInput{Path: "runs.flow.yaml", Source: []byte(runsFlow), TrustedServers: []string{"a", "b"}}
	okID, badID, failID := uniqueID(t, "ok"), uniqueID(t, "bad-inputs"), uniqueID(t, "fail")
	for i, id := range []string{okID, badID} {
		in := in
		in.Inputs = []map[string]any{{"x": 1}, {"x": "not a number"}}[i]
		if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: in}); err != nil {
			t.Fatal(err)
		}
		if _, err := runs.Result(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	failSrc := "version: 1\nname: failing\nsteps:\n  - id: boom\n    call: {server: a, tool: fail}\n"
	if err := runs.Start(ctx, temporal.StartOptions{RunID: failID, Input: temporal.FlowInput{Path: "f.flow.yaml", Source: []byte(failSrc), TrustedServers: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	if out, err := runs.Result(ctx, failID); err != nil || out.Status != workflows.RunFailed {
		t.Fatalf("failing run: %+v, %v", out, err)
	}

	want := map[string]string{okID: workflows.RunSucceeded, badID: workflows.RunFailed, failID: workflows.RunFailed}
	got := listUntil(ctx, t, runs, temporal.ListOptions{Limit: 1000}, func(page []temporal.RunSummary) bool {
		n := 0
		for _, s := range page {
			if _, ok := want[s.ID]; ok {
				n++
			}
		}
		return n == len(want)
	})
	var order []string
	for _, s := range got {
		st, ok := want[s.ID]
		if !ok {
			continue
		}
		order = append(order, s.ID)
		if s.Status != st || s.StartedAt.IsZero() || s.FinishedAt.IsZero() {
			t.Errorf("%s: %+v; want %s", s.ID, s, st)
		}
		switch s.ID {
		case okID:
			if s.FlowName != "runs-flow" || s.FlowPath != "runs.flow.yaml" {
				t.Errorf("%s: flow %q at %q", s.ID, s.FlowName, s.FlowPath)
			}
		case badID:
			if !strings.Contains(s.Error, "x") {
				t.Errorf("run that did not start: error %q; want the input named", s.Error)
			}
		}
	}
	if !slices.Equal(order, []string{failID, badID, okID}) {
		t.Errorf("order %v; want newest first %v", order, []string{failID, badID, okID})
	}

	if ids, err := runs.IDsWithPrefix(ctx, okID[:len(okID)-2], 2); err != nil || !slices.Equal(ids, []string{okID}) {
		t.Errorf("IDsWithPrefix of %s: %v, %v", okID, ids, err)
	}
	if ids, err := runs.IDsWithPrefix(ctx, slug(t.Name())+"-", 2); err != nil || len(ids) != 2 {
		t.Errorf("IDsWithPrefix of the test's runs: %v, %v; want 2 (the limit)", ids, err)
	}
	if ids, err := runs.IDsWithPrefix(ctx, "x' OR WorkflowId != '", 2); err != nil || len(ids) != 0 {
		t.Errorf("IDsWithPrefix of a quote: %v, %v", ids, err)
	}

	failed, _, err := runs.List(ctx, temporal.ListOptions{Limit: 1000, Status: workflows.RunFailed})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range failed {
		if s.Status != workflows.RunFailed || s.ID == okID {
			t.Errorf("--status failed listed %s (%s)", s.ID, s.Status)
		}
	}

	// Pages of one run each, walked with the token, list each run once.
	seen := map[string]int{}
	var token []byte
	for range 1000 {
		page, next, err := runs.List(ctx, temporal.ListOptions{Limit: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 1 {
			t.Fatalf("a page of %d runs; the limit is 1", len(page))
		}
		for _, s := range page {
			seen[s.ID]++
		}
		if token = next; len(token) == 0 {
			break
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("paging listed %s %d times", id, seen[id])
		}
	}
}

// listUntil lists until ok holds: visibility records a run's start and
// close a little after they happen.
func listUntil(ctx context.Context, t *testing.T, runs *temporal.Runs, o temporal.ListOptions, ok func([]temporal.RunSummary) bool) []temporal.RunSummary {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		page, _, err := runs.List(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if ok(page) {
			return page
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the runs never showed in the list: %+v", page)
		case <-tick.C:
		}
	}
}

// The memo (flow name, path, catalog name, idempotency key) is encrypted
// by the client's codec: a client with the codec lists it, the raw
// visibility record holds none of it in clear.
func TestRunsMemoEncrypted(t *testing.T) {
	needServer(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	codec, err := temporal.NewCodec("k1", key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := temporal.Dial(ctx, temporal.ClientOptions{HostPort: testHostPort, Namespace: testNamespace, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := newRig(t, c, newWorld(t, "a", "b"))
	runs := runsFor(c, r)
	runs.Codec = codec
	id := uniqueID(t, "memo")
	canary := "canary-" + rand.Text()
	in := temporal.FlowInput{Path: canary + ".flow.yaml", Source: []byte(runsFlow), Inputs: map[string]any{"x": 1}, TrustedServers: []string{"a", "b"}}
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: in, Workflow: canary, IdempotencyKey: canary}); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Result(ctx, id); err != nil {
		t.Fatal(err)
	}
	page := listUntil(ctx, t, runs, temporal.ListOptions{Limit: 1000}, func(p []temporal.RunSummary) bool {
		return slices.ContainsFunc(p, func(s temporal.RunSummary) bool { return s.ID == id && s.Status == workflows.RunSucceeded })
	})
	i := slices.IndexFunc(page, func(s temporal.RunSummary) bool { return s.ID == id })
	if s := page[i]; s.FlowName != "runs-flow" || s.Workflow != canary || s.IdempotencyKey != canary {
		t.Fatalf("listed with the codec: %+v", s)
	}
	// A client without the key lists the run as unknown, the rest of the
	// list still shown.
	plain := &temporal.Runs{Client: testClient, FlowQueue: runs.FlowQueue}
	other, _, err := plain.List(ctx, temporal.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatalf("listed without the key: %v", err)
	}
	i = slices.IndexFunc(other, func(s temporal.RunSummary) bool { return s.ID == id })
	if i < 0 || other[i].Status != temporal.RunUnknown || other[i].Error == "" || other[i].FlowName != "" {
		t.Fatalf("listed without the key: %+v", other)
	}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + id + "'"})
	if err != nil || len(resp.GetExecutions()) != 1 {
		t.Fatalf("raw list: %v", err)
	}
	raw := resp.GetExecutions()[0].GetMemo().String()
	if strings.Contains(raw, canary) || strings.Contains(raw, "runs-flow") {
		t.Fatalf("the memo is in clear in visibility: %s", raw)
	}
}

// With FollowProgress, Follow reports a server's progress about a call
// in flight (once per change) between the run's events.
func TestRunsFollowProgress(t *testing.T) {
	c := needServer(t)
	release := make(chan struct{})
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "crunch", InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if token := req.Params.GetProgressToken(); token != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: 1, Total: 4, Message: "one of four"}); err != nil {
					return nil, err
				}
			}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &mcp.CallToolResult{StructuredContent: map[string]any{"ok": true}, Content: []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}}}, nil
		})
	o, _ := newAudited(t, orchestrator.ServerConfig{
		Config: connectors.Config{Name: "work", Timeout: time.Minute},
		NewTransport: func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			_, err := srv.Connect(context.Background(), st, nil)
			return ct, err
		},
	})
	r := newRig(t, c, newWorld(t))
	aw := worker.New(c, r.flows.Queue("work"), worker.Options{})
	(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
	start(t, aw)
	runs := runsFor(c, r)
	runs.FollowProgress = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := uniqueID(t, "progress")
	src := "version: 1\nname: crunch\nsteps:\n  - id: each\n    for_each: ${ [1] }\n    call: {server: work, tool: crunch}\n"
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: temporal.FlowInput{Path: "p.flow.yaml", Source: []byte(src), TrustedServers: []string{"work"}}}); err != nil {
		t.Fatal(err)
	}
	var reports []temporal.EventView
	out, err := runs.Follow(ctx, id, 0, func(ev temporal.EventView) {
		if ev.Kind == workflows.EventProgress {
			reports = append(reports, ev)
			close(release)
		}
	})
	if err != nil || out.Status != workflows.RunSucceeded {
		t.Fatalf("run: %+v, %v", out, err)
	}
	if len(reports) != 1 || reports[0].Path != "each[0]" || reports[0].Progress == nil || reports[0].Progress.Message != "one of four" || reports[0].Progress.Total != 4 {
		t.Fatalf("progress reports: %+v", reports)
	}
}

// A run blocked on a call whose worker hangs (no answer, no heartbeat)
// lists as blocked when asked (Status blocked, or MarkBlocked), running
// otherwise.
func TestRunsListBlocked(t *testing.T) {
	c := needServer(t)
	w := newWorld(t, "a")
	r := newRig(t, c, newWorld(t))
	r.flows.HeartbeatTimeout = time.Second
	hung := make(chan struct{})
	t.Cleanup(func() { close(hung) })
	aw := worker.New(c, r.flows.Queue("a"), worker.Options{})
	acts := &temporal.Activities{Caller: w.caller("a")}
	aw.RegisterActivityWithOptions(acts.Tool, activity.RegisterOptions{Name: temporal.ActivityTool})
	aw.RegisterActivityWithOptions(func(context.Context, temporal.CallInput) (*mcp.CallToolResult, error) {
		<-hung
		return nil, errors.New("the test ended")
	}, activity.RegisterOptions{Name: temporal.ActivityCallTool})
	start(t, aw)
	runs := runsFor(c, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := uniqueID(t, "blocked")
	src := "version: 1\nname: blocked\nsteps:\n  - id: pay\n    call: {server: a, tool: charge_slow}\n"
	if err := runs.Start(ctx, temporal.StartOptions{RunID: id, Input: temporal.FlowInput{Path: "b.flow.yaml", Source: []byte(src), TrustedServers: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") })
	has := func(p []temporal.RunSummary, status string) bool {
		return slices.ContainsFunc(p, func(s temporal.RunSummary) bool { return s.ID == id && s.Status == status })
	}
	listUntil(ctx, t, runs, temporal.ListOptions{Limit: 1000, Status: workflows.RunBlocked}, func(p []temporal.RunSummary) bool { return has(p, workflows.RunBlocked) })
	if p, _, err := runs.List(ctx, temporal.ListOptions{Limit: 1000, MarkBlocked: true}); err != nil || !has(p, workflows.RunBlocked) {
		t.Fatalf("MarkBlocked: %v %+v", err, p)
	}
	if p, _, err := runs.List(ctx, temporal.ListOptions{Limit: 1000}); err != nil || !has(p, workflows.RunRunning) {
		t.Fatalf("a plain list: %v %+v", err, p)
	}
}
