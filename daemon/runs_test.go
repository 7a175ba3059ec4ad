package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The rig: an orchestrator over the example weather and calendar servers
// and a work server, all go-sdk servers in process, a workflows
// directory with real workflow files, and a state directory.

func rigNow() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }

// work is the work server's state. Its hold (read-only) and poke (no
// annotations: unsafe to repeat) tools answer once gate is closed; each
// call first sends its argument on started.
type work struct {
	mu      sync.Mutex
	gate    chan struct{}
	started chan string
	pokes   atomic.Int32
}

func newWork() *work {
	return &work{gate: make(chan struct{}), started: make(chan string, 64)}
}

func (w *work) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.gate:
	default:
		close(w.gate)
	}
}

// shut closes the gate again: calls hold until the next open.
func (w *work) shut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gate = make(chan struct{})
}

func (w *work) gateCh() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gate
}

func workServer(w *work) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	obj := map[string]any{"type": "object"}
	handler := func(name string) mcp.ToolHandler {
		return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args map[string]any
			_ = json.Unmarshal(req.Params.Arguments, &args)
			tag, _ := args["tag"].(string)
			if name == "poke" {
				w.pokes.Add(1)
			}
			if token := req.Params.GetProgressToken(); token != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: 1, Total: 2, Message: "holding " + tag}); err != nil {
					return nil, err
				}
			}
			w.started <- name + ":" + tag
			select {
			case <-w.gateCh():
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}},
				StructuredContent: map[string]any{"ok": true, "tag": tag}}, nil
		}
	}
	srv.AddTool(&mcp.Tool{Name: "hold", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, handler("hold"))
	srv.AddTool(&mcp.Tool{Name: "poke", InputSchema: obj}, handler("poke"))
	return srv
}

const holdFlow = `version: 1
name: hold
inputs:
  tag: {type: string, minLength: 1}
  n: {type: integer, minimum: 1, default: 1}
steps:
  - id: wait
    call: {server: work, tool: hold}
    with: {tag: ${ .inputs.tag }}
outputs:
  tag: ${ .steps.wait.result.tag }
`

// lateFlow's hold call outlasts its timeout while the gate is shut.
const lateFlow = `version: 1
name: late
timeout: 200ms
steps:
  - id: wait
    call: {server: work, tool: hold}
    with: {tag: late}
outputs:
  tag: ${ .steps.wait.result.tag }
`

const pokeFlow = `version: 1
name: poke
inputs:
  tag: {type: string, default: p}
steps:
  - id: poke
    call: {server: work, tool: poke}
    with: {tag: ${ .inputs.tag }}
outputs:
  ok: ${ .steps.poke.result.ok }
`

type rig struct {
	o     *orchestrator.Orchestrator
	work  *work
	dir   string // workflows
	state string
	// red, when set, is the runs' redactor.
	red *credentials.Redactor
}

var rigServers = []string{"calendar", "weather", "work"}

func newRig(t *testing.T) *rig {
	t.Helper()
	w := newWork()
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(rigNow))},
			{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendar.NewServer())},
			{Config: connectors.Config{Name: "work", Timeout: time.Minute}, NewTransport: orchestrator.InProcess(workServer(w))},
		},
		AuditPath: filepath.Join(t.TempDir(), "audit.jsonl"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	rg := &rig{o: o, work: w, dir: t.TempDir(), state: t.TempDir()}
	example, err := os.ReadFile(filepath.Join("..", "examples", "flows", "rain-reminders.flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rg.write(t, "rain-reminders.flow.yaml", string(example))
	rg.write(t, "hold.flow.yaml", holdFlow)
	rg.write(t, "poke.flow.yaml", pokeFlow)
	rg.write(t, "broken.flow.yaml", "version: 1\nname: broken\nsteps:\n  - id: x\n    call: {server: nowhere, tool: t}\n")
	return rg
}

func (rg *rig) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(rg.dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func serverCheck(name string) error {
	if !slices.Contains(rigServers, name) {
		return errors.New("no such server in the config; servers are: " + strings.Join(rigServers, ", "))
	}
	return nil
}

func (rg *rig) runs(t *testing.T, max int) *Runs {
	t.Helper()
	vo := flow.ValidateOptions{Server: serverCheck}
	cat, err := LoadCatalog(t.Context(), rg.dir, vo)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRuns(RunsOptions{
		StateDir: rg.state, Catalog: cat,
		Orchestrator:      func() *orchestrator.Orchestrator { return rg.o },
		TrustAnnotations:  func(string) bool { return true },
		Server:            serverCheck,
		MaxConcurrentRuns: max,
		Redactor:          func() *credentials.Redactor { return rg.red },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rg.work.open()
		_ = r.Shutdown(context.Background())
	})
	return r
}

// waitStarted returns the next call a work tool received.
func (rg *rig) waitStarted(t *testing.T) string {
	t.Helper()
	select {
	case s := <-rg.work.started:
		return s
	case <-t.Context().Done():
		t.Fatal("no call reached the work server")
	}
	return ""
}

func mustGet(t *testing.T, r *Runs, id string) *RunInfo {
	t.Helper()
	info, err := r.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func waitRun(t *testing.T, r *Runs, id string) *RunInfo {
	t.Helper()
	if err := r.Wait(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	return mustGet(t, r, id)
}

// submit submits a run of workflow with inputs and returns its id,
// failing the test if it is refused.
func submit(t *testing.T, r *Runs, workflow string, inputs map[string]any) string {
	t.Helper()
	sub, err := r.SubmitRun(t.Context(), workflow, inputs, "")
	if err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// stopNow shuts r down with no grace at all: the runs under way are
// cancelled on their servers and shown interrupted, queued ones stay
// queued.
func stopNow(t *testing.T, r *Runs) {
	t.Helper()
	grace, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Shutdown(grace); err != nil {
		t.Fatal(err)
	}
}

// interruptedRun is a rig whose first Runs was shut down with no grace
// while a run of workflow with inputs was in its call: the run's id,
// journalled cancelled and shown interrupted. The work server still holds
// calls until rg.work.open().
func interruptedRun(t *testing.T, workflow string, inputs map[string]any) (*rig, string) {
	t.Helper()
	rg := newRig(t)
	r := rg.runs(t, 0)
	id := submit(t, r, workflow, inputs)
	rg.waitStarted(t)
	stopNow(t, r)
	return rg, id
}

// A submitted run of the rain-reminders example runs detached from the
// submitting context, is journalled, reports its steps and calls, and
// its subscriber sees step events and the run finish.
func TestSubmitRunsAndReports(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := r.SubmitRun(ctx, "rain-reminders", map[string]any{"cities": []any{"Oslo", "Bergen"}, "threshold": 0.1}, "")
	cancel() // the request ends; the run goes on
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || sub.Status != StatusQueued {
		t.Fatalf("submission = %+v", sub)
	}
	events, stop, err := r.Subscribe(t.Context(), sub.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var types []string
	var last Event
	for ev := range events {
		types = append(types, ev.Type)
		last = ev
	}
	if last.Type != EventRunFinished || last.Status != workflows.RunSucceeded {
		t.Fatalf("last event = %+v; all: %v", last, types)
	}
	for _, want := range []string{EventRunStarted, EventStepStarted, EventStepFinished} {
		if !slices.Contains(types, want) {
			t.Errorf("events %v lack %s", types, want)
		}
	}
	info := waitRun(t, r, sub.ID)
	if info.Status != workflows.RunSucceeded || info.Workflow != "rain-reminders" {
		t.Fatalf("run = %+v", info)
	}
	if created, _ := info.Outputs["created"].([]any); len(created) != 2 {
		t.Errorf("outputs = %v, want two reminders created", info.Outputs)
	}
	if info.Steps["forecast"] != workflows.StatusSucceeded || info.Steps["remind"] != workflows.StatusSucceeded {
		t.Errorf("steps = %v", info.Steps)
	}
	if len(info.Calls) != 4 {
		t.Errorf("calls = %+v, want 2 forecasts and 2 reminders", info.Calls)
	}
	// The journal is `mediator runs`'s: the run is there under its id.
	j, err := workflows.OpenJournal(filepath.Join(rg.state, workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if rec, err := j.Run(t.Context(), sub.ID); err != nil || rec.Status != workflows.RunSucceeded {
		t.Fatalf("journal: %+v, %v", rec, err)
	}
}

// Inputs failing the schema are refused with every problem, and nothing
// is created; so are an unknown and an invalid workflow.
func TestSubmitRefusesBeforeCreating(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 0)
	_, err := r.SubmitRun(t.Context(), "rain-reminders", map[string]any{"cities": []any{}, "threshold": 7, "colour": "red"}, "k")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidInputs {
		t.Fatalf("err = %v", err)
	}
	if len(e.Details) != 3 {
		t.Errorf("details = %q, want the three problems (cities, threshold, colour)", e.Details)
	}
	for _, want := range []string{"cities", "threshold", "colour"} {
		if !strings.Contains(strings.Join(e.Details, "\n"), want) {
			t.Errorf("details %q do not name %s", e.Details, want)
		}
	}
	if _, err := r.SubmitRun(t.Context(), "nope", nil, ""); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Errorf("unknown workflow: %v", err)
	}
	if _, err := r.SubmitRun(t.Context(), "broken", nil, ""); !errors.As(err, &e) || e.Code != CodeWorkflowInvalid || len(e.Details) == 0 {
		t.Errorf("invalid workflow: %v", err)
	}
	page, err := r.List(t.Context(), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 0 {
		t.Fatalf("runs were created: %+v", page.Runs)
	}
	// The refused key is free: a valid submission with it creates a run.
	sub, err := r.SubmitRun(t.Context(), "rain-reminders", nil, "k")
	if err != nil || sub.Existing {
		t.Fatalf("%+v, %v", sub, err)
	}
}

// The same Idempotency-Key for the same workflow returns the same run,
// also after a restart of the manager; other inputs under it are refused;
// the same key for another workflow is another run.
func TestIdempotencyKeySurvivesRestart(t *testing.T) {
	rg := newRig(t)
	rg.work.open()
	r := rg.runs(t, 0)
	in := map[string]any{"tag": "a"}
	first, err := r.SubmitRun(t.Context(), "hold", in, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.SubmitRun(t.Context(), "hold", map[string]any{"tag": "a"}, "key-1")
	if err != nil || again.ID != first.ID || !again.Existing {
		t.Fatalf("retry = %+v, %v; want run %s", again, err, first.ID)
	}
	waitRun(t, r, first.ID)
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	r2 := rg.runs(t, 0)
	after, err := r2.SubmitRun(t.Context(), "hold", in, "key-1")
	if err != nil || after.ID != first.ID || after.Status != workflows.RunSucceeded {
		t.Fatalf("after restart = %+v, %v; want run %s succeeded", after, err, first.ID)
	}
	var e *Error
	if _, err := r2.SubmitRun(t.Context(), "hold", map[string]any{"tag": "b"}, "key-1"); !errors.As(err, &e) || e.Code != CodeIdempotencyConflict {
		t.Errorf("other inputs under the key: %v", err)
	}
	other, err := r2.SubmitRun(t.Context(), "poke", nil, "key-1")
	if err != nil || other.ID == first.ID {
		t.Errorf("another workflow under the key = %+v, %v", other, err)
	}
	page, err := r2.List(t.Context(), ListOptions{})
	if err != nil || len(page.Runs) != 2 {
		t.Fatalf("list = %+v, %v; want 2 runs", page, err)
	}
}

// With MaxConcurrentRuns 1 a second run queues until the first ends; a
// queued run cancelled never starts, a running one is cancelled on its
// server and journalled cancelled.
func TestConcurrencyBoundAndCancel(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 1)
	a := submit(t, r, "hold", map[string]any{"tag": "a"})
	if got := rg.waitStarted(t); got != "hold:a" {
		t.Fatalf("started %s", got)
	}
	b := submit(t, r, "hold", map[string]any{"tag": "b"})
	c := submit(t, r, "hold", map[string]any{"tag": "c"})
	if st := mustGet(t, r, a).Status; st != workflows.RunRunning {
		t.Errorf("a is %s", st)
	}
	if st := mustGet(t, r, b).Status; st != StatusQueued {
		t.Errorf("b is %s, want queued behind a", st)
	}
	page, err := r.List(t.Context(), ListOptions{Status: StatusQueued})
	if err != nil || len(page.Runs) != 2 {
		t.Fatalf("queued = %+v, %v", page, err)
	}
	// Cancel the queued c, then the running a: b starts.
	if info, err := r.Cancel(t.Context(), c); err != nil || info.Status != workflows.RunCancelled {
		t.Fatalf("cancel queued: %+v, %v", info, err)
	}
	if info, err := r.Cancel(t.Context(), a); err != nil || info.Status != workflows.RunCancelled {
		t.Fatalf("cancel running: %+v, %v", info, err)
	}
	if got := rg.waitStarted(t); got != "hold:b" {
		t.Fatalf("started %s, want b (c was cancelled)", got)
	}
	rg.work.open()
	if info := waitRun(t, r, b); info.Status != workflows.RunSucceeded || info.Outputs["tag"] != "b" {
		t.Fatalf("b = %+v", info)
	}
	var e *Error
	if _, err := r.Cancel(t.Context(), b); !errors.As(err, &e) || e.Code != CodeConflict {
		t.Errorf("cancel finished: %v", err)
	}
	if _, err := r.Cancel(t.Context(), "nope"); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Errorf("cancel unknown: %v", err)
	}
}

// A shutdown whose grace ends cancels the running runs, which are
// journalled and shown interrupted, and leaves the queued one queued. On
// the next start the safe run resumes to success by itself, the queued
// one starts, and the run in an unsafe call waits blocked for Resolve;
// resolving it with rerun calls it again and it succeeds.
func TestShutdownThenResumeInterrupted(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 2)
	safe := submit(t, r, "hold", map[string]any{"tag": "s"})
	rg.waitStarted(t)
	unsafe := submit(t, r, "poke", nil)
	rg.waitStarted(t)
	queued := submit(t, r, "hold", map[string]any{"tag": "q"})
	stopNow(t, r)
	var e *Error
	if _, err := r.SubmitRun(t.Context(), "hold", map[string]any{"tag": "x"}, ""); !errors.As(err, &e) || e.Code != CodeShuttingDown {
		t.Errorf("submit after shutdown: %v", err)
	}

	rg.work.open()
	r2 := rg.runs(t, 2)
	for _, id := range []string{safe, unsafe, queued} {
		if st := mustGet(t, r2, id).Status; st != StatusInterrupted {
			t.Errorf("run %s is %s before resuming, want interrupted", id, st)
		}
	}
	started, err := r2.ResumeInterrupted(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 3 {
		t.Fatalf("started %v", started)
	}
	if info := waitRun(t, r2, safe); info.Status != workflows.RunSucceeded || info.Resumes != 1 {
		t.Errorf("safe run = %+v", info)
	}
	if info := waitRun(t, r2, queued); info.Status != workflows.RunSucceeded || info.Outputs["tag"] != "q" {
		t.Errorf("queued run = %+v", info)
	}
	info := waitRun(t, r2, unsafe)
	if info.Status != workflows.RunBlocked || len(info.Blocked) != 1 || info.Blocked[0].Path != "poke" {
		t.Fatalf("unsafe run = %+v", info)
	}
	if n := rg.work.pokes.Load(); n != 1 {
		t.Fatalf("poke called %d times before the resolve, want 1", n)
	}
	if _, err := r2.Resolve(t.Context(), safe, ActionRerun, nil); !errors.As(err, &e) || e.Code != CodeConflict {
		t.Errorf("resolve of a run not blocked: %v", err)
	}
	if _, err := r2.Resolve(t.Context(), unsafe, "maybe", nil); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Errorf("resolve with a bad action: %v", err)
	}
	if _, err := r2.Resolve(t.Context(), unsafe, ActionRerun, nil); err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, r2, unsafe); info.Status != workflows.RunSucceeded {
		t.Fatalf("resolved run = %+v", info)
	}
	if n := rg.work.pokes.Load(); n != 2 {
		t.Errorf("poke called %d times, want 2 (once more after rerun)", n)
	}
}

// mark-done settles a blocked call without calling it again.
func TestResolveMarkDone(t *testing.T) {
	rg, id := interruptedRun(t, "poke", nil)
	r2 := rg.runs(t, 0)
	if _, err := r2.ResumeInterrupted(t.Context()); err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, r2, id); info.Status != workflows.RunBlocked {
		t.Fatalf("run = %+v", info)
	}
	if _, err := r2.Resolve(t.Context(), id, ActionMarkDone, []string{"poke"}); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, r2, id)
	if info.Status != workflows.RunSucceeded {
		t.Fatalf("run = %+v", info)
	}
	if n := rg.work.pokes.Load(); n != 1 {
		t.Errorf("poke called %d times, want 1: mark-done calls nothing", n)
	}
}

// List filters by workflow and status and pages with a cursor, newest
// first, each run once.
func TestListPages(t *testing.T) {
	rg := newRig(t)
	rg.work.open()
	r := rg.runs(t, 0)
	var ids []string
	for i := range 5 {
		wf := "hold"
		in := map[string]any{"tag": string(rune('a' + i))}
		if i%2 == 1 {
			wf, in = "poke", nil
		}
		s, err := r.SubmitRun(t.Context(), wf, in, "")
		if err != nil {
			t.Fatal(err)
		}
		waitRun(t, r, s.ID)
		ids = append(ids, s.ID)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := r.List(t.Context(), ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, ri := range p.Runs {
			got = append(got, ri.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		if pages > 5 {
			t.Fatal("pages do not end")
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("paged = %v, want %v", got, want)
	}
	p, err := r.List(t.Context(), ListOptions{Workflow: "poke", Status: workflows.RunSucceeded})
	if err != nil || len(p.Runs) != 2 {
		t.Fatalf("poke runs = %+v, %v", p, err)
	}
	var e *Error
	if _, err := r.List(t.Context(), ListOptions{Cursor: "garbage!"}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Errorf("bad cursor: %v", err)
	}
}

// A known secret in a run's inputs and in what a server returns is in
// none of what Runs reports or stores: the run, its events, an inputs
// error, the journal and the store files.
func TestCanarySecretNeverOut(t *testing.T) {
	const canary = "canary-S3CRET-7f3a9b"
	rg := newRig(t)
	rg.red = credentials.NewRedactor()
	rg.red.Add(credentials.NewSecret(canary))
	rg.work.open()
	r := rg.runs(t, 0)
	sub, err := r.SubmitRun(t.Context(), "hold", map[string]any{"tag": "x" + canary}, canary)
	if err != nil {
		t.Fatal(err)
	}
	events, stop, err := r.Subscribe(t.Context(), sub.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var seen []byte
	for ev := range events {
		b, _ := json.Marshal(ev)
		seen = append(seen, b...)
	}
	info := waitRun(t, r, sub.ID)
	if info.Status != workflows.RunSucceeded {
		t.Fatalf("run = %+v", info)
	}
	b, _ := json.Marshal(info)
	seen = append(seen, b...)
	_, err = r.SubmitRun(t.Context(), "hold", map[string]any{"tag": "x", "n": canary}, "")
	if err == nil {
		t.Fatal("a string for an integer input was taken")
	}
	seen = append(seen, err.Error()...)
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{workflows.JournalFile, StoreFile} {
		for _, side := range []string{"", "-wal"} {
			data, err := os.ReadFile(filepath.Join(rg.state, f+side))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			seen = append(seen, data...)
		}
	}
	if strings.Contains(string(seen), canary) {
		whereCanary(t, "out", seen, canary)
		t.Fatal("the canary secret got out")
	}
	if !strings.Contains(string(b), "[REDACTED]") {
		t.Errorf("the run shows no redaction: %s", b)
	}
}

func whereCanary(t *testing.T, label string, data []byte, canary string) {
	if i := strings.Index(string(data), canary); i >= 0 {
		t.Logf("%s: ...%q...", label, data[max(0, i-80):min(len(data), i+40)])
	}
}

// deadPID is the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// A run the journal shows running in a process that died (a crash: no
// shutdown marked it) resumes on start by the resume rules: its safe
// call is made again and it succeeds.
func TestResumeAfterCrash(t *testing.T) {
	t.Run("another pid", func(t *testing.T) { testResumeAfterCrash(t, deadPID(t)) })
	// In a container every daemon is pid 1: a run journalled running by
	// this pid, and not running here, was left by the daemon before.
	t.Run("this pid", func(t *testing.T) { testResumeAfterCrash(t, os.Getpid()) })
}

func testResumeAfterCrash(t *testing.T, pid int) {
	rg, id := interruptedRun(t, "hold", map[string]any{"tag": "c"})
	// Make the journal and the store say what a kill -9 leaves: the run
	// running in a dead process, its call started, nothing interrupted.
	j, err := workflows.OpenJournal(filepath.Join(rg.state, workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := j.Run(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec.Status, rec.PID, rec.FinishedAt = workflows.RunRunning, pid, time.Time{}
	if err := j.UpdateRun(rec); err != nil {
		t.Fatal(err)
	}
	last, err := j.LastAttempts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	a := last["wait"]
	a.State, a.FinishedAt = workflows.AttemptStarted, time.Time{}
	if err := j.RecordAttempt(a, true); err != nil {
		t.Fatal(err)
	}
	j.Close()
	st, err := openStore(filepath.Join(rg.state, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.setInterrupted(t.Context(), id, false); err != nil {
		t.Fatal(err)
	}
	st.close()

	rg.work.open()
	r2 := rg.runs(t, 0)
	if info := mustGet(t, r2, id); info.Status != StatusInterrupted {
		t.Fatalf("crashed run shows %s", info.Status)
	}
	started, err := r2.ResumeInterrupted(t.Context())
	if err != nil || len(started) != 1 {
		t.Fatalf("started %v, %v", started, err)
	}
	if info := waitRun(t, r2, id); info.Status != workflows.RunSucceeded || info.Outputs["tag"] != "c" {
		t.Fatalf("run = %+v", info)
	}
}

// Concurrent submissions with one key make one run.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	rg := newRig(t)
	rg.work.open()
	r := rg.runs(t, 0)
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			s, err := r.SubmitRun(t.Context(), "hold", map[string]any{"tag": "k"}, "same")
			if err != nil {
				t.Error(err)
			}
			ids[i] = s.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids = %v, want one run", ids)
		}
	}
	waitRun(t, r, ids[0])
	if p, err := r.List(t.Context(), ListOptions{}); err != nil || len(p.Runs) != 1 {
		t.Fatalf("runs = %+v, %v", p, err)
	}
}

// A shutdown whose grace outlasts the runs lets them finish: nothing is
// interrupted, nothing resumes on the next start.
func TestShutdownWithinGrace(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 0)
	id := submit(t, r, "hold", map[string]any{"tag": "g"})
	rg.waitStarted(t)
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(t.Context()) }()
	rg.work.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r2 := rg.runs(t, 0)
	if info := mustGet(t, r2, id); info.Status != workflows.RunSucceeded {
		t.Fatalf("run = %+v", info)
	}
	if started, err := r2.ResumeInterrupted(t.Context()); err != nil || len(started) != 0 {
		t.Fatalf("resumed %v, %v", started, err)
	}
}

// An interrupted run whose workflow file changed since cannot resume
// consistently: on start it ends failed saying so, and is not retried at
// every start.
func TestInterruptedRunWithChangedFile(t *testing.T) {
	rg, id := interruptedRun(t, "hold", map[string]any{"tag": "f"})
	rg.write(t, "hold.flow.yaml", holdFlow+"description: changed\n")
	rg.work.open()
	r2 := rg.runs(t, 0)
	if _, err := r2.ResumeInterrupted(t.Context()); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, r2, id)
	if info.Status != workflows.RunFailed || !strings.Contains(info.Error, "could not resume") || !strings.Contains(info.Error, "changed flow") {
		t.Fatalf("run = %+v", info)
	}
	if started, err := r2.ResumeInterrupted(t.Context()); err != nil || len(started) != 0 {
		t.Fatalf("retried: %v, %v", started, err)
	}
}

// Event numbers go on across a resume, also after a restart, so that a
// stream's Last-Event-ID stays valid; once run-finished is sent, Get shows
// the outcome.
func TestEventSeqAcrossResume(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 0)
	id := submit(t, r, "hold", map[string]any{"tag": "e"})
	events, stop, err := r.Subscribe(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	rg.waitStarted(t)
	stopNow(t, r)
	var last Event
	for ev := range events {
		last = ev
	}
	if last.Type != EventRunFinished || last.Status != StatusInterrupted || last.Seq < 3 {
		t.Fatalf("last event before the restart = %+v", last)
	}
	rg.work.open()
	r2 := rg.runs(t, 0)
	// Before it resumes: one run-finished under the last number.
	ch, _, err := r2.Subscribe(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; ev.Seq != last.Seq || ev.Status != StatusInterrupted {
		t.Errorf("before resuming: %+v, want run-finished #%d interrupted", ev, last.Seq)
	}
	if _, err := r2.ResumeInterrupted(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch, stop2, err := r2.Subscribe(t.Context(), id, last.Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	want := last.Seq + 1
	var end Event
	for ev := range ch {
		if ev.Seq != want {
			t.Fatalf("event %+v, want #%d", ev, want)
		}
		want++
		end = ev
	}
	if end.Type != EventRunFinished || end.Status != workflows.RunSucceeded {
		t.Fatalf("last event = %+v", end)
	}
	if info := mustGet(t, r2, id); info.Status != workflows.RunSucceeded || info.Steps["wait"] != workflows.StatusSucceeded {
		t.Fatalf("right after run-finished: %+v", info)
	}
}

// A run cancelled before it started, live in the queue or left queued by
// a shutdown, is journalled with its flow's name and run digest: it lists
// as cancelled, and a resume takes it up from the start (a resume refuses
// a run whose journalled digest is not the file's).
func TestCancelledQueuedRunIsResumable(t *testing.T) {
	rg := newRig(t)
	r := rg.runs(t, 1)
	submit(t, r, "hold", map[string]any{"tag": "a"})
	rg.waitStarted(t)
	queued := []string{submit(t, r, "hold", map[string]any{"tag": "b"}), submit(t, r, "hold", map[string]any{"tag": "c"})}
	if info, err := r.Cancel(t.Context(), queued[0]); err != nil || info.Status != workflows.RunCancelled {
		t.Fatalf("cancel of a queued run: %+v, %v", info, err)
	}
	stopNow(t, r)

	rg.work.open()
	r2 := rg.runs(t, 1)
	if info, err := r2.Cancel(t.Context(), queued[1]); err != nil || info.Status != workflows.RunCancelled {
		t.Fatalf("cancel of a run a shutdown left queued: %+v, %v", info, err)
	}
	hold := r2.Catalog().Get("hold").Flow
	page, err := r2.List(t.Context(), ListOptions{Status: workflows.RunCancelled})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, info := range page.Runs {
		listed = append(listed, info.ID)
	}
	for i, id := range queued {
		rec, err := r2.journal.RunByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.FlowDigest != hold.RunDigest() || rec.FlowName != hold.Name || rec.Status != workflows.RunCancelled {
			t.Errorf("run %d journalled as flow %q, digest %q, %s; want %q, %q, cancelled", i, rec.FlowName, rec.FlowDigest, rec.Status, hold.Name, hold.RunDigest())
		}
		if !slices.Contains(listed, id) {
			t.Errorf("run %s is not listed as cancelled: %v", id, listed)
		}
		if err := r2.resume(t.Context(), id, &workflows.ResumeOptions{}); err != nil {
			t.Fatal(err)
		}
		if info := waitRun(t, r2, id); info.Status != workflows.RunSucceeded || info.Outputs["tag"] != []string{"b", "c"}[i] {
			t.Errorf("resumed run %d = %+v", i, info)
		}
	}
}
