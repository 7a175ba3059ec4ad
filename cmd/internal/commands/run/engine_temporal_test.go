package run_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resume"
	"github.com/mediatorhq/mediator/cmd/internal/commands/run"
	"github.com/mediatorhq/mediator/cmd/internal/commands/runs"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/cmd/internal/temporalcli"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/temporaltest"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// server is the package's one Temporal test server.
var server temporaltest.Shared

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }

// svc is a go-sdk MCP server over loopback HTTP with the tools the
// engine tests call: add (read-only), fail (a tool error), slow (waits
// for ms or its cancellation) and note (records what it is sent).
type svc struct {
	url     string
	started chan struct{}
	// stop ends the slow calls still waiting when the test ends (a
	// stateless HTTP server does not see a call's cancellation).
	stop chan struct{}

	mu    sync.Mutex
	notes []map[string]any
}

func newSvc(t *testing.T) *svc {
	s := &svc{started: make(chan struct{}, 16), stop: make(chan struct{})}
	srv := mcp.NewServer(&mcp.Implementation{Name: "svc", Version: "1"}, nil)
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Annotations: ro}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		A float64 `json:"a"`
		B float64 `json:"b"`
	}) (*mcp.CallToolResult, map[string]any, error) {
		return nil, map[string]any{"sum": in.A + in.B}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Annotations: ro}, func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, map[string]any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Annotations: ro}, func(ctx context.Context, _ *mcp.CallToolRequest, in struct {
		MS float64 `json:"ms"`
	}) (*mcp.CallToolResult, map[string]any, error) {
		s.started <- struct{}{}
		select {
		case <-time.After(time.Duration(in.MS) * time.Millisecond):
			return nil, map[string]any{"slept": in.MS}, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.stop:
			return nil, nil, context.Canceled
		}
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "charge"}, func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, map[string]any, error) {
		return nil, map[string]any{"charged": true}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "note", Annotations: &mcp.ToolAnnotations{IdempotentHint: true}}, func(_ context.Context, _ *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, map[string]any, error) {
		s.mu.Lock()
		s.notes = append(s.notes, in)
		s.mu.Unlock()
		return nil, map[string]any{"ok": true}, nil
	})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(s.stop) })
	s.url = hs.URL
	return s
}

func (s *svc) noted() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.notes...)
}

// engineEnv is one test's config (svc, a file keyring holding the
// payload codec's key, the test server as temporal:), a flow worker and
// svc's domain worker over an orchestrator of the same config, as
// `mediator worker` runs them.
type engineEnv struct {
	dir, cfg string
	svc      *svc
}

func newEngineEnv(t *testing.T, engine string) *engineEnv {
	return newEngineEnvWith(t, engine, false)
}

// newEngineEnvWith is newEngineEnv; with wedged, svc's domain worker
// takes its calls and then stops answering, heartbeats included, as a
// worker whose process hangs mid-call: Temporal times the attempt out
// at the flow worker's heartbeat timeout (1 s here) and its outcome is
// unknown (the worker's lookups still answer).
func newEngineEnvWith(t *testing.T, engine string, wedged bool) *engineEnv {
	t.Helper()
	srv := server.Need(t)
	e := &engineEnv{dir: t.TempDir(), svc: newSvc(t)}
	e.cfg = filepath.Join(e.dir, "config.yaml")
	body := fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nstate_dir: %s\nservers:\n  svc:\n    url: %s\ntemporal:\n  host_port: %s\n  namespace: %s\n  codec_key_secret: codec\n",
		filepath.Join(e.dir, "keyring"), filepath.Join(e.dir, "state"), e.svc.url, srv.HostPort, srv.Namespace)
	if engine != "" {
		body += "engine: " + engine + "\n"
	}
	if err := os.WriteFile(e.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, _, _ := e.factory()
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Secrets(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := store.Set(config.TemporalSecretServer, "codec", credentials.NewSecret(hex.EncodeToString(key))); err != nil {
		t.Fatal(err)
	}

	c, err := temporalcli.Dial(ctx, f, cfg, "test-worker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	o, err := f.Orchestrator(ctx, cfg, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.OpenAudit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	domains := temporal.Domains(cfg.Domains)
	flows := &temporal.Flows{Queue: domains.Queue, Decides: true}
	if wedged {
		flows.HeartbeatTimeout = time.Second
	}
	fw := worker.New(c, temporal.FlowQueue, worker.Options{})
	flows.Register(fw)
	aw := worker.New(c, domains.Queue("svc"), worker.Options{})
	acts := &temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}
	if wedged {
		hung := make(chan struct{})
		t.Cleanup(func() { close(hung) })
		aw.RegisterActivityWithOptions(acts.Tool, activity.RegisterOptions{Name: temporal.ActivityTool})
		aw.RegisterActivityWithOptions(func(context.Context, temporal.CallInput) (*mcp.CallToolResult, error) {
			<-hung
			return nil, errors.New("the test ended")
		}, activity.RegisterOptions{Name: temporal.ActivityCallTool})
	} else {
		acts.Register(aw)
	}
	for _, w := range []worker.Worker{fw, aw} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	return e
}

// factory is a Factory of mediator-temporal over e's config, and its
// stdout and stderr.
func (e *engineEnv) factory() (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) {
		switch k {
		case "HOME":
			return e.dir, true
		case "MEDIATOR_KEYRING_PASSPHRASE":
			return "engine-test-passphrase", true
		}
		return "", false
	})
	f.ConfigFlag = e.cfg
	f.Temporal = temporalcli.Hooks()
	return f, out, errOut
}

func (e *engineEnv) write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

// exec runs a command line of run or runs under ctx.
func (e *engineEnv) exec(ctx context.Context, args ...string) result {
	f, out, errOut := e.factory()
	var cmd interface {
		SetArgs([]string)
		ExecuteContext(context.Context) error
	}
	if args[0] == "runs" {
		c := runs.NewCmdRuns(f, nil, nil)
		c.SilenceUsage, c.SilenceErrors = true, true
		cmd, args = c, args[1:]
	} else {
		c := run.NewCmdRun(f, nil)
		c.SilenceUsage, c.SilenceErrors = true, true
		cmd = c
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	stderr := errOut.String()
	if err != nil {
		stderr += err.Error() + "\n"
	}
	return result{out.String(), stderr, cmdutil.ExitCode(err)}
}

// withoutRunID is a run's --json output without its run id, which is a
// new one every run.
func withoutRunID(t *testing.T, out string) (string, string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	id, _ := doc["run_id"].(string)
	delete(doc, "run_id")
	b, _ := json.Marshal(doc)
	return string(b), id
}

const addFlow = `version: 1
name: adder
inputs:
  x: {type: number}
steps:
  - id: add
    call: {server: svc, tool: add}
    with: {a: "${ .inputs.x }", b: 40}
  - id: fail
    if: ${ .steps.add.result.sum < 40 }
    call: {server: svc, tool: fail}
outputs:
  sum: ${ .steps.add.result.sum }
`

// The same flow run locally and under engine: temporal gives the same
// --json output (the run id aside) and exit code, a failing step too;
// runs list and runs show then show the Temporal run.
func TestRunOnTemporalMatchesLocal(t *testing.T) {
	e := newEngineEnv(t, "")
	fl := e.write(t, "adder.flow.yaml", addFlow)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var okID, failID string
	for _, x := range []string{"2", "-1"} {
		local := e.exec(ctx, fl, "--json", "-i", "x="+x)
		remote := e.exec(ctx, fl, "--json", "-i", "x="+x, "--engine", "temporal")
		want := 0
		if x == "-1" {
			want = cmdutil.ExitToolError
		}
		if local.code != want || remote.code != want {
			t.Fatalf("x=%s: exit %d local, %d temporal; want %d\nlocal: %s%s\ntemporal: %s%s", x, local.code, remote.code, want, local.stdout, local.stderr, remote.stdout, remote.stderr)
		}
		l, _ := withoutRunID(t, local.stdout)
		r, id := withoutRunID(t, remote.stdout)
		if l != r {
			t.Fatalf("x=%s: --json differs:\n   local %s\ntemporal %s", x, l, r)
		}
		if x == "2" {
			okID = id
			if !strings.Contains(r, `"sum":42`) {
				t.Fatalf("outputs: %s", r)
			}
		} else {
			failID = id
		}
		if strings.Contains(remote.stderr, "warning:") {
			t.Errorf("x=%s: a warning with every worker there:\n%s", x, remote.stderr)
		}
		// The progress lines are the local run's.
		for _, line := range []string{"run " + id + ": adder started", "✓ add: succeeded"} {
			if !strings.Contains(remote.stderr, line) {
				t.Errorf("x=%s: progress has no %q:\n%s", x, line, remote.stderr)
			}
		}
		if x == "-1" && !strings.Contains(remote.stderr, "mediator runs show "+id) {
			t.Errorf("a failed Temporal run's hint: %s", remote.stderr)
		}
	}

	// Visibility records a run a little after it ends: list until both
	// show.
	var listed []workflows.RunRecord
	for {
		res := e.exec(ctx, "runs", "list", "--json", "--engine", "temporal")
		if res.code != 0 {
			t.Fatalf("runs list: exit %d: %s", res.code, res.stderr)
		}
		listed = nil
		if err := json.Unmarshal([]byte(res.stdout), &listed); err != nil {
			t.Fatalf("runs list --json: %v\n%s", err, res.stdout)
		}
		if len(listed) >= 2 && listed[0].Status != "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("runs list never showed both runs: %s", res.stdout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if listed[0].ID != failID || listed[0].Status != workflows.RunFailed || listed[1].ID != okID || listed[1].Status != workflows.RunSucceeded ||
		listed[1].FlowName != "adder" || listed[1].FlowPath != fl || listed[1].FinishedAt.IsZero() {
		t.Fatalf("runs list: %+v", listed)
	}

	res := e.exec(ctx, "runs", "show", failID, "--json", "--engine", "temporal")
	var shown struct {
		Run   workflows.RunRecord  `json:"run"`
		Steps []cmdutil.RemoteStep `json:"steps"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &shown); res.code != 0 || err != nil {
		t.Fatalf("runs show: exit %d, %v: %s%s", res.code, err, res.stdout, res.stderr)
	}
	if shown.Run.ID != failID || shown.Run.Status != workflows.RunFailed || fmt.Sprint(shown.Run.Inputs["x"]) != "-1" || shown.Run.Error == "" ||
		len(shown.Steps) != 2 || shown.Steps[0].Path != "add" || shown.Steps[0].Status != workflows.StatusSucceeded ||
		shown.Steps[1].Path != "fail" || shown.Steps[1].Status != workflows.StatusFailed || !strings.Contains(shown.Steps[1].Error, "boom") {
		t.Fatalf("runs show --json: %s", res.stdout)
	}
	res = e.exec(ctx, "runs", "show", okID, "--engine", "temporal")
	if res.code != 0 || !strings.Contains(res.stdout, "Status:   succeeded") || !strings.Contains(res.stdout, "2 step(s):") || !strings.Contains(res.stdout, `"sum": 42`) {
		t.Fatalf("runs show: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	// A unique prefix is enough, as in the journal; one that is not says so.
	res = e.exec(ctx, "runs", "show", okID[:len(okID)-1], "--json", "--engine", "temporal")
	if res.code != 0 || !strings.Contains(res.stdout, `"id": "`+okID+`"`) {
		t.Fatalf("runs show of a prefix: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = e.exec(ctx, "runs", "show", okID[:8], "--engine", "temporal")
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, "ambiguous") {
		t.Fatalf("runs show of an ambiguous prefix: exit %d: %s", res.code, res.stderr)
	}

	res = e.exec(ctx, "runs", "show", "no-such-run", "--engine", "temporal")
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, `"no-such-run"`) {
		t.Fatalf("runs show of an unknown id: exit %d: %s", res.code, res.stderr)
	}
}

// engine: temporal in the config runs there without --engine; Ctrl-C
// cancels the workflow, waits for its finally step and reports
// cancelled (exit 130), as a local run does.
func TestRunOnTemporalInterrupted(t *testing.T) {
	e := newEngineEnv(t, config.EngineTemporal)
	fl := e.write(t, "slow.flow.yaml", `version: 1
name: slow
steps:
  - id: work
    call: {server: svc, tool: slow}
    with: {ms: 60000}
finally:
  - id: report
    call: {server: svc, tool: note}
    with: {status: "${ .run.status }"}
`)
	for _, engine := range []string{config.EngineLocal, config.EngineTemporal} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		runCtx, interrupt := context.WithCancel(ctx)
		go func() {
			select {
			case <-e.svc.started:
				interrupt()
			case <-ctx.Done():
			}
		}()
		res := e.exec(runCtx, fl, "--json", "--engine", engine)
		cancel()
		var doc map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || res.code != cmdutil.ExitInterrupted || doc["status"] != workflows.RunCancelled {
			t.Fatalf("%s: exit %d, %v\n%s%s", engine, res.code, err, res.stdout, res.stderr)
		}
		fin, _ := doc["finally"].(map[string]any)
		if fin["status"] != workflows.StatusSucceeded {
			t.Fatalf("%s: finally %v", engine, doc["finally"])
		}
	}
	notes := e.svc.noted()
	if len(notes) != 2 || notes[0]["status"] != workflows.RunCancelled || notes[1]["status"] != workflows.RunCancelled {
		t.Fatalf("the finally step's calls: %v; want one per engine, each seeing the run cancelled", notes)
	}
}

// A call whose worker hangs, and that the retry rule may not send again
// (a tool with effects, no key), blocks the run: run says how to settle
// it, runs list and runs show show it blocked with the call, resume
// without a decision lists it, resume --mark-done settles it and the run
// (still followed by run) ends succeeded. resume of a run that is not
// blocked, or of an unknown id, explains, exit 2.
func TestRunOnTemporalBlocked(t *testing.T) {
	e := newEngineEnvWith(t, config.EngineTemporal, true)
	fl := e.write(t, "pay.flow.yaml", `version: 1
name: pay
steps:
  - id: pay
    call: {server: svc, tool: charge}
outputs:
  paid: ${ .steps.pay.result }
`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ran := make(chan result, 1)
	go func() { ran <- e.exec(ctx, fl, "--json") }()

	var id string
	for id == "" {
		res := e.exec(ctx, "runs", "list", "--json", "--engine", "temporal")
		var listed []workflows.RunRecord
		_ = json.Unmarshal([]byte(res.stdout), &listed)
		for _, r := range listed {
			if r.FlowName == "pay" && r.Status == workflows.RunBlocked {
				id = r.ID
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the run never showed blocked: %s%s", res.stdout, res.stderr)
		case r := <-ran:
			t.Fatalf("the run ended: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	res := e.exec(ctx, "runs", "show", id, "--json", "--engine", "temporal")
	var shown struct {
		Run     workflows.RunRecord         `json:"run"`
		Blocked []cmdutil.RemoteBlockedCall `json:"blocked"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &shown); err != nil || shown.Run.Status != workflows.RunBlocked || len(shown.Blocked) != 1 ||
		shown.Blocked[0].Path != "pay" || shown.Blocked[0].Server != "svc" || shown.Blocked[0].Tool != "charge" {
		t.Fatalf("runs show of the blocked run: %v\n%s%s", err, res.stdout, res.stderr)
	}
	res = e.resume(ctx, id)
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, "is blocked") || !strings.Contains(res.stderr, "pay (svc.charge)") {
		t.Fatalf("resume without a decision: exit %d: %s", res.code, res.stderr)
	}
	res = e.resume(ctx, id, "--mark-done", "nope")
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, `"nope"`) {
		t.Fatalf("resume --mark-done of no blocked call: exit %d: %s", res.code, res.stderr)
	}
	res = e.resume(ctx, id[:len(id)-1], "--mark-done", "pay")
	if res.code != 0 || !strings.Contains(res.stderr, "mark-done: pay") {
		t.Fatalf("resume --mark-done pay: exit %d: %s", res.code, res.stderr)
	}
	r := <-ran
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 || doc["status"] != workflows.RunSucceeded {
		t.Fatalf("the run after mark-done: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, line := range []string{"⏸ pay: blocked", "mediator resume " + id + " --rerun pay", "pay: resolved: mark-done"} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("the run's progress has no %q:\n%s", line, r.stderr)
		}
	}

	res = e.resume(ctx, id)
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, "is succeeded") || !strings.Contains(res.stderr, "not resumed") {
		t.Fatalf("resume of a finished run: exit %d: %s", res.code, res.stderr)
	}
	res = e.resume(ctx, "no-such-run")
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, `"no-such-run"`) {
		t.Fatalf("resume of an unknown run: exit %d: %s", res.code, res.stderr)
	}
	res = e.resume(ctx, id, "--extend", "1m")
	if res.code != cmdutil.ExitUsage || !strings.Contains(res.stderr, "--extend") {
		t.Fatalf("resume --extend: exit %d: %s", res.code, res.stderr)
	}
}

// resume runs `mediator resume` under engine: temporal.
func (e *engineEnv) resume(ctx context.Context, args ...string) result {
	f, out, errOut := e.factory()
	cmd := resume.NewCmdResume(f, nil)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	stderr := errOut.String()
	if err != nil {
		stderr += err.Error() + "\n"
	}
	return result{out.String(), stderr, cmdutil.ExitCode(err)}
}
