package temporalruns_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/daemon/temporalruns"
	"github.com/mediatorhq/mediator/daemon/ui"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/internal/temporaltest"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// server is the package's one Temporal test server.
var server temporaltest.Shared

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }

func rigNow() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }

// work is a go-sdk server whose hold tool answers its tag once the gate
// opens, and whose fail tool fails quoting its tag. Every hold call sends
// its tag on started, and on cancelled when its context ends first (MCP
// cancellation reached the server).
type work struct {
	gate      chan struct{}
	once      sync.Once
	started   chan string
	cancelled chan string
}

func newWork() *work {
	return &work{gate: make(chan struct{}), started: make(chan string, 64), cancelled: make(chan string, 64)}
}

func (w *work) open() { w.once.Do(func() { close(w.gate) }) }

func (w *work) server() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	obj := map[string]any{"type": "object"}
	tag := func(req *mcp.CallToolRequest) string {
		var args map[string]any
		_ = json.Unmarshal(req.Params.Arguments, &args)
		s, _ := args["tag"].(string)
		return s
	}
	hold := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t := tag(req)
		w.started <- t
		select {
		case <-w.gate:
		case <-ctx.Done():
			w.cancelled <- t
			return nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"tag":"` + t + `"}`}},
			StructuredContent: map[string]any{"tag": t}}, nil
	}
	srv.AddTool(&mcp.Tool{Name: "hold", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, hold)
	// report is hold that first tells the caller how far it got.
	srv.AddTool(&mcp.Tool{Name: "report", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if token := req.Params.GetProgressToken(); token != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: 1, Total: 4, Message: "one of four"}); err != nil {
					return nil, err
				}
			}
			return hold(ctx, req)
		})
	// charge is hold without annotations: unsafe to send twice.
	srv.AddTool(&mcp.Tool{Name: "charge", InputSchema: obj}, hold)
	srv.AddTool(&mcp.Tool{Name: "fail", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "refused " + tag(req)}}}, nil
		})
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
finally:
  - id: note
    call: {server: weather, tool: get_forecast}
    with: {location: Oslo, days: 1}
outputs:
  tag: ${ .steps.wait.result.tag }
`

const reportFlow = `version: 1
name: report
steps:
  - id: crunch
    call: {server: work, tool: report}
    with: {tag: r1}
`

const chargeFlow = `version: 1
name: charge
steps:
  - id: charge
    call: {server: work, tool: charge}
    with: {tag: once}
  - id: after
    call: {server: weather, tool: get_forecast}
    with: {location: Oslo, days: 1}
outputs:
  charged: ${ .steps.charge.result }
`

const failFlow = `version: 1
name: fail
inputs:
  tag: {type: string}
steps:
  - id: boom
    call: {server: work, tool: fail}
    with: {tag: ${ .inputs.tag }}
`

var rigServers = []string{"calendar", "weather", "work"}

func serverCheck(name string) error {
	if !slices.Contains(rigServers, name) {
		return fmt.Errorf("no server %q; servers are: %s", name, strings.Join(rigServers, ", "))
	}
	return nil
}

func serverConfigs(w *work) map[string]orchestrator.ServerConfig {
	return map[string]orchestrator.ServerConfig{
		"weather":  {Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(rigNow))},
		"calendar": {Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(calendar.NewServer())},
		"work":     {Config: connectors.Config{Name: "work", Timeout: time.Minute}, NewTransport: orchestrator.InProcess(w.server())},
	}
}

func newOrchestrator(t *testing.T, servers ...orchestrator.ServerConfig) *orchestrator.Orchestrator {
	t.Helper()
	o, err := orchestrator.New(orchestrator.Options{Servers: servers, AuditPath: filepath.Join(t.TempDir(), "audit.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// testToken is the API's bearer token in every test.
const testToken = "t0ken-for-tests"

// rig is a daemon's API and web page (/ui) over a temporalruns.Service, with a flow worker
// and one activity worker per server (each with an orchestrator holding
// only its server, as a domain worker does) on queues of the test's own.
type rig struct {
	c     client.Client
	codec *temporal.Codec
	// workClient is the work server's worker's own client (rigOptions).
	workClient client.Client
	work       *work
	dir        string
	svc        *temporalruns.Service
	url        string
	red        *credentials.Redactor
}

var rigs atomic.Int32

// codecKey is the payload codec's key of every client and worker of the
// package: one namespace, one key, as in production (a run this client
// cannot decrypt would fail the list).
var codecKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

func newRig(t *testing.T, red *credentials.Redactor) *rig {
	t.Helper()
	return newRigWith(t, red, rigOptions{})
}

// rigOptions vary a rig: the flow worker's activity heartbeat timeout,
// and whether the work server's worker has a client of its own
// (rig.workClient), which a test closes to lose the worker mid-call.
type rigOptions struct {
	heartbeat     time.Duration
	ownWorkClient bool
}

func newRigWith(t *testing.T, red *credentials.Redactor, ro rigOptions) *rig {
	t.Helper()
	srv := server.Need(t)
	ctx := t.Context()
	codec, err := temporal.NewCodec("test", codecKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := temporal.Dial(ctx, temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rg := &rig{c: c, codec: codec, work: newWork(), dir: t.TempDir(), red: red}

	prefix := fmt.Sprintf("%s-%d.", strings.ReplaceAll(t.Name(), "/", "-"), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, Decides: true, HeartbeatTimeout: ro.heartbeat}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	startWorker(t, fw)
	for name, sc := range serverConfigs(rg.work) {
		wc := c
		if name == "work" && ro.ownWorkClient {
			if wc, err = temporal.Dial(ctx, temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace, Codec: codec}); err != nil {
				t.Fatal(err)
			}
			rg.workClient = wc
		}
		aw := worker.New(wc, flows.Queue(name), worker.Options{})
		(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: newOrchestrator(t, sc)}}).Register(aw)
		startWorker(t, aw)
	}

	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "flows", "rain-reminders.flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rg.write(t, "rain-reminders.flow.yaml", string(example))
	rg.write(t, "hold.flow.yaml", holdFlow)
	rg.write(t, "fail.flow.yaml", failFlow)
	rg.write(t, "charge.flow.yaml", chargeFlow)
	rg.write(t, "report.flow.yaml", reportFlow)
	cat, err := daemon.LoadCatalog(ctx, rg.dir, flow.ValidateOptions{Server: serverCheck, RetryAtRunTime: true})
	if err != nil {
		t.Fatal(err)
	}
	rg.svc, err = temporalruns.New(temporalruns.Options{
		Runs:           &temporal.Runs{Client: c, FlowQueue: prefix + "flows", Codec: codec, PollInterval: 50 * time.Millisecond, FollowProgress: true},
		Catalog:        cat,
		Validate:       flow.ValidateOptions{Server: serverCheck},
		TrustedServers: rigServers,
		Redactor:       func() *credentials.Redactor { return rg.red },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rg.work.open()
		_ = rg.svc.Shutdown(context.Background())
	})
	h, err := daemon.APIHandler(daemon.APIOptions{Runs: rg.svc, Tokens: []serve.Token{
		{Name: "ci", SHA256: serve.HashToken(testToken), Workflows: []string{"*"}},
		{Name: "narrow", SHA256: serve.HashToken("narrow-" + testToken), Workflows: []string{"fail"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ui.New(ui.Options{Runs: rg.svc, Tokens: []serve.Token{{Name: "ci", SHA256: serve.HashToken(testToken), Workflows: []string{"*"}}},
		Redactor: func() *credentials.Redactor { return rg.red }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ui.Prefix, page)
	mux.Handle(ui.Prefix+"/", page)
	mux.Handle("/", h)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	rg.url = hs.URL
	return rg
}

func startWorker(t *testing.T, w worker.Worker) {
	t.Helper()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

func (rg *rig) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(rg.dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// call sends a request to the API with the test token and returns the
// status, the body and the headers.
func (rg *rig) call(t *testing.T, method, path string, body any, header ...string) (int, []byte, http.Header) {
	t.Helper()
	return rg.callAs(t, testToken, method, path, body, header...)
}

func (rg *rig) callAs(t *testing.T, token, method, path string, body any, header ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rg.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// submit POSTs a run and returns its id, failing unless the answer is
// want.
func (rg *rig) submit(t *testing.T, workflow string, inputs map[string]any, want int, header ...string) (string, []byte) {
	t.Helper()
	st, b, _ := rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": workflow, "inputs": inputs}, header...)
	if st != want {
		t.Fatalf("POST /v1/runs %s: %d %s; want %d", workflow, st, b, want)
	}
	var sub struct{ ID, Status string }
	_ = json.Unmarshal(b, &sub)
	return sub.ID, b
}

// get reads a run.
func (rg *rig) get(t *testing.T, id string) (*daemon.RunInfo, []byte) {
	t.Helper()
	st, b, _ := rg.call(t, http.MethodGet, "/v1/runs/"+id, nil)
	if st != http.StatusOK {
		t.Fatalf("GET /v1/runs/%s: %d %s", id, st, b)
	}
	var info daemon.RunInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return &info, b
}

// sseEvent is one server-sent event as read off the stream.
type sseEvent struct {
	id, typ string
	ev      daemon.Event
}

// follow reads the run's event stream to its end (after run-finished)
// and returns its events and its raw text; after is Last-Event-ID when
// not empty.
func (rg *rig) follow(t *testing.T, id, after string) ([]sseEvent, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rg.url+"/v1/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET events: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var (
		raw bytes.Buffer
		out []sseEvent
		cur sseEvent
	)
	sc := bufio.NewScanner(io.TeeReader(resp.Body, &raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.ev); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		case line == "" && cur.typ != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if len(out) == 0 || out[len(out)-1].typ != daemon.EventRunFinished {
		t.Fatalf("the stream ended without run-finished: %s", raw.String())
	}
	return out, raw.Bytes()
}

// localOutputs runs workflow on a local daemon's run manager over one
// orchestrator holding every server, as engine: local does, and returns
// how it ended.
func localRun(t *testing.T, dir, workflow string, inputs map[string]any) *daemon.RunInfo {
	t.Helper()
	w := newWork()
	w.open()
	var scs []orchestrator.ServerConfig
	for _, sc := range serverConfigs(w) {
		scs = append(scs, sc)
	}
	o := newOrchestrator(t, scs...)
	cat, err := daemon.LoadCatalog(t.Context(), dir, flow.ValidateOptions{Server: serverCheck, RetryAtRunTime: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := daemon.NewRuns(daemon.RunsOptions{StateDir: t.TempDir(), Catalog: cat, Server: serverCheck,
		Orchestrator:     func() *orchestrator.Orchestrator { return o },
		TrustAnnotations: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	sub, err := r.SubmitRun(t.Context(), workflow, inputs, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(t.Context(), sub.ID); err != nil {
		t.Fatal(err)
	}
	info, err := r.Get(t.Context(), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
