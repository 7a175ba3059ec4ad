package daemonclient

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

const flowSecret = "flow-secret-Hn3Kq8Vt2Wz"

// flowDaemon is a real orchestrator over in-process go-sdk servers a
// (get: a value holding a secret; fail: a tool's error result), b (put:
// records what it gets) and lab (hostile.TaskTool runs as a task),
// auditing into dir, served on a daemon socket in dir; and a FlowCaller
// found there as the CLI finds it.
type flowDaemon struct {
	orch  *orchestrator.Orchestrator
	fc    *FlowCaller
	audit string
	// stop ends the daemon's socket (the daemon going away).
	stop func()

	mu   sync.Mutex
	puts []map[string]any
}

func startFlowDaemon(t *testing.T) *flowDaemon {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &flowDaemon{audit: filepath.Join(dir, "audit.jsonl")}
	a := mcp.NewServer(&mcp.Implementation{Name: "a"}, nil)
	mcp.AddTool(a, &mcp.Tool{Name: "get", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, map[string]any, error) {
			return nil, map[string]any{"v": "from-a", "key": flowSecret}, nil
		})
	mcp.AddTool(a, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "a is unavailable"}}}, nil, nil
	})
	b := mcp.NewServer(&mcp.Implementation{Name: "b"}, nil)
	mcp.AddTool(b, &mcp.Tool{Name: "put"}, func(_ context.Context, _ *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, map[string]any, error) {
		d.mu.Lock()
		d.puts = append(d.puts, in)
		d.mu.Unlock()
		return nil, map[string]any{"ok": true, "got": in["v"]}, nil
	})
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(flowSecret))
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "a", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(a)},
			{Config: connectors.Config{Name: "b", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(b)},
			{Config: connectors.Config{Name: "lab", Timeout: 10 * time.Second},
				NewTransport: orchestrator.InProcess(hostile.NewTaskServer(hostile.TaskServerOptions{CompleteAfterPolls: 2}).Server)},
		},
		AuditPath: d.audit, PinDir: filepath.Join(dir, "pins"), Redactor: red,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.orch = o
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("servers: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := daemon.IdentityOf(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := daemon.SocketPath("", dir)
	ln, err := daemon.ListenLocal(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.ServeLocal(ctx, ln, o, daemon.LocalOptions{Identity: id, Redactor: red}) }()
	var stopOnce sync.Once
	d.stop = func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeLocal: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		d.stop()
		o.Close()
	})
	c, err := Find(context.Background(), cfg, dir, sock)
	if err != nil || c == nil {
		t.Fatalf("Find: %v, %v", c, err)
	}
	d.fc = c.Orchestrator().FlowCaller()
	t.Cleanup(func() { d.fc.Close() })
	return d
}

// runBoth runs src (parsed, not validated, so that the data-flow policy
// is the orchestrator's alone to decide) once with the daemon's
// orchestrator in this process (workflows.OrchestratorCaller, as the CLI
// does alone) and once through the socket (FlowCaller), under run ids
// local and warm.
func (d *flowDaemon) runBoth(t *testing.T, src string) (local, warm *workflows.RunResult, localErr, warmErr error) {
	t.Helper()
	f, err := flow.Parse("test.flow.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trust := func(string) bool { return true }
	local, localErr = workflows.Run(ctx, f, workflows.RunOptions{RunID: "local",
		Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: d.orch}), TrustAnnotations: trust})
	warm, warmErr = workflows.Run(ctx, f, workflows.RunOptions{RunID: "warm",
		Runtime: d.fc.Runtime(), TrustAnnotations: trust})
	return local, warm, localErr, warmErr
}

// TestFlowCallerRefusesAsTheOrchestrator: a cross-server flow the file
// does not declare is refused by the daemon's orchestrator at the call,
// before b hears anything, and the run fails as it does with the
// orchestrator in process: the same message, class refused, a
// *workflows.FlowRefusedError from a to b around the orchestrator's
// KindFlowRefused error; the refusal is audited with the run's step.
// Declared, the same flow calls b through the daemon.
func TestFlowCallerRefusesAsTheOrchestrator(t *testing.T) {
	d := startFlowDaemon(t)
	steps := "steps:\n" +
		"  - id: get\n    call: {server: a, tool: get}\n" +
		"  - id: put\n    call: {server: b, tool: put}\n    with: {v: \"${ .steps.get.result.v }\"}\n" +
		"outputs:\n  got: ${ .steps.put.result.got }\n"
	local, warm, localErr, warmErr := d.runBoth(t, "version: 1\nname: leak\n"+steps)
	if localErr == nil || warmErr == nil {
		t.Fatalf("the undeclared flow ran: local %v, warm %v", localErr, warmErr)
	}
	if localErr.Error() != warmErr.Error() || local.Status != warm.Status {
		t.Errorf("through the daemon: %s %q\nin process: %s %q", warm.Status, warmErr, local.Status, localErr)
	}
	if !strings.Contains(warmErr.Error(), `add "a -> b" to flows:`) {
		t.Errorf("the refusal does not say what to declare: %q", warmErr)
	}
	var fr *workflows.FlowRefusedError
	var oe *orchestrator.Error
	if !errors.As(warmErr, &fr) || fr.To != "b" || len(fr.From) != 1 || fr.From[0] != "a" {
		t.Errorf("the refusal is not a FlowRefusedError from a to b: %#v", fr)
	}
	if !errors.As(warmErr, &oe) || oe.Kind != orchestrator.KindFlowRefused {
		t.Errorf("the refusal is not the orchestrator's: %#v", oe)
	}
	if c := workflows.ErrorClass(warmErr); c != workflows.ClassRefused || c != workflows.ErrorClass(localErr) {
		t.Errorf("class %q through the daemon, %q in process", c, workflows.ErrorClass(localErr))
	}
	d.mu.Lock()
	if len(d.puts) != 0 {
		t.Errorf("b received %v", d.puts)
	}
	d.mu.Unlock()
	if err := d.fc.SyncAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := auditRecords(t, d.audit)
	var refused bool
	for _, r := range recs {
		if r.Server == "b" && r.Run == "warm" && r.Outcome == orchestrator.OutcomeRefused {
			refused = r.Step == "put" && len(r.Sources) == 1 && r.Sources[0] == "a"
		}
	}
	if !refused {
		t.Errorf("no audit record of the refusal of run warm's step put from a: %+v", recs)
	}

	_, warm, _, warmErr = d.runBoth(t, "version: 1\nname: move\nflows: [\"a -> b\"]\n"+steps)
	if warmErr != nil || warm.Outputs["got"] != "from-a" {
		t.Fatalf("the declared flow through the daemon: %v, %+v", warmErr, warm)
	}
}

// TestFlowCallerResults: a tool's error result fails the step as in
// process; a secret in a result reaches the CLI masked; a tool that does
// not exist is refused with the orchestrator's words.
func TestFlowCallerResults(t *testing.T) {
	d := startFlowDaemon(t)
	local, warm, localErr, warmErr := d.runBoth(t, "version: 1\nname: fail\nsteps:\n  - id: f\n    call: {server: a, tool: fail}\n")
	if localErr == nil || warmErr == nil || localErr.Error() != warmErr.Error() || local.Status != warm.Status ||
		workflows.ErrorClass(warmErr) != workflows.ErrorClass(localErr) {
		t.Errorf("a tool's error result through the daemon: %s %q (%s)\nin process: %s %q (%s)",
			warm.Status, warmErr, workflows.ErrorClass(warmErr), local.Status, localErr, workflows.ErrorClass(localErr))
	}

	_, warm, _, warmErr = d.runBoth(t, "version: 1\nname: key\nsteps:\n  - id: g\n    call: {server: a, tool: get}\noutputs:\n  key: ${ .steps.g.result.key }\n")
	if warmErr != nil {
		t.Fatal(warmErr)
	}
	if got, _ := json.Marshal(warm.Outputs); strings.Contains(string(got), flowSecret) || !strings.Contains(string(got), `"key":`) {
		t.Errorf("a result's secret reached the CLI: %s", got)
	}

	local, warm, localErr, warmErr = d.runBoth(t, "version: 1\nname: none\nsteps:\n  - id: n\n    call: {server: a, tool: nosuch}\n")
	if localErr == nil || warmErr == nil || localErr.Error() != warmErr.Error() || workflows.ErrorClass(warmErr) != workflows.ClassRefused {
		t.Errorf("an unknown tool through the daemon: %s %q\nin process: %s %q", warm.Status, warmErr, local.Status, localErr)
	}
}

type auditRecord struct {
	Server  string   `json:"server"`
	Run     string   `json:"run"`
	Step    string   `json:"step"`
	Sources []string `json:"sources"`
	Outcome string   `json:"outcome"`
}

func auditRecords(t *testing.T, path string) []auditRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditRecord
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var r auditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestFlowCallerTasks: a call that runs as an MCP task reports the task's
// id through the daemon as soon as the server created it (the journal
// records it there), then its result; a resume attaching to a task the
// server does not know fails with connectors.ErrTaskNotFound, as in
// process, so the engine calls again.
func TestFlowCallerTasks(t *testing.T) {
	d := startFlowDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var ids []string
	res, err := d.fc.CallTool(ctx, workflows.CallRequest{Server: "lab", Tool: hostile.TaskTool, Args: map[string]any{"topic": "tides"},
		Run: "warm", Step: "research", OnTask: func(id string) {
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 || ids[0] != "task-1" {
		t.Errorf("task ids reported: %q, want [task-1]", ids)
	}
	if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "done after polls" {
		t.Errorf("the task's result: %+v", res.Content)
	}

	req := workflows.CallRequest{Server: "lab", Tool: hostile.TaskTool, Args: map[string]any{"topic": "tides"}, ResumeTaskID: "task-404"}
	_, localErr := workflows.OrchestratorCaller{O: d.orch}.CallTool(ctx, req)
	_, warmErr := d.fc.CallTool(ctx, req)
	if !errors.Is(localErr, connectors.ErrTaskNotFound) || !errors.Is(warmErr, connectors.ErrTaskNotFound) || localErr.Error() != warmErr.Error() {
		t.Errorf("attaching to an unknown task: through the daemon %q (not found: %v); in process %q (not found: %v)",
			warmErr, errors.Is(warmErr, connectors.ErrTaskNotFound), localErr, errors.Is(localErr, connectors.ErrTaskNotFound))
	}
}

// A daemon that has gone away fails a run's next call as a transport
// failure of its server (a connection error: exit 3), which the engine
// may retry and the journal keeps resumable.
func TestFlowCallerDaemonGone(t *testing.T) {
	d := startFlowDaemon(t)
	d.stop()
	_, err := d.fc.CallTool(context.Background(), workflows.CallRequest{Server: "a", Tool: "get"})
	var oe *orchestrator.Error
	if workflows.ErrorClass(err) != workflows.ClassTransport || !errors.As(err, &oe) || oe.Kind != orchestrator.KindConnection || oe.Server != "a" {
		t.Errorf("a call to a daemon gone: %v (class %q)", err, workflows.ErrorClass(err))
	}
}

// A secret the run assembled and sent in a call's arguments, deep in an
// array or as an object key, is named by the daemon's answer (places,
// not the value), and the run's redactor learns it.
func TestFlowCallerLearnsArgumentSecrets(t *testing.T) {
	d := startFlowDaemon(t)
	for _, args := range []map[string]any{
		{"v": "x", "list": []any{"a", map[string]any{"k": "pre-" + flowSecret}}},
		{"v": "x", "obj": map[string]any{flowSecret: 1}},
	} {
		red := credentials.NewRedactor()
		if err := d.fc.LearnSecrets(t.Context(), red, []string{"nothing secret"}); err != nil {
			t.Fatal(err)
		}
		if got := red.Redact(flowSecret); got != flowSecret {
			t.Fatalf("the redactor knew the secret before the call: %q", got)
		}
		if _, err := d.fc.CallTool(t.Context(), workflows.CallRequest{Server: "b", Tool: "put", Args: args, Run: "r", Step: "s"}); err != nil {
			t.Fatal(err)
		}
		if got := red.Redact("x " + flowSecret); got != "x [REDACTED]" {
			t.Errorf("after a call with %v the redactor masks %q", args, got)
		}
	}
}
