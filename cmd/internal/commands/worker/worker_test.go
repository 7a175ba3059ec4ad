package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/cmd/internal/temporalcli"
	"github.com/mediatorhq/mediator/internal/temporaltest"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// server is the package's one Temporal test server.
var server temporaltest.Shared

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }

// Canaries: the servers' keys and the keyrings' passphrases, which no
// output may show.
const (
	stripeKey    = "canary-stripe-key-Vb8Nz4Kp1Wd"
	calendarKey  = "canary-calendar-key-Hs3Lq9Xe2"
	passPayments = "canary-pass-payments-Jr5Tg7"
	passOffice   = "canary-pass-office-Yh3Uk6Mm"
	passFlows    = "canary-pass-flows-Qw2Er4Ty"
)

var canaries = []string{stripeKey, calendarKey, passPayments, passOffice, passFlows}

// mcpServer is a go-sdk MCP server over loopback HTTP that answers only
// requests carrying "Authorization: Bearer <key>", and counts the tool
// calls it ran and the requests it refused.
type mcpServer struct {
	URL string

	mu      sync.Mutex
	calls   []string // tool names, in order
	refused int
	// started, when set, receives the context of each call of "wait".
	started chan context.Context
}

func (s *mcpServer) record(tool string) {
	s.mu.Lock()
	s.calls = append(s.calls, tool)
	s.mu.Unlock()
}

func (s *mcpServer) seen() (calls []string, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), s.refused
}

type chargeIn struct {
	Amount int `json:"amount"`
}
type chargeOut struct {
	ID string `json:"id"`
}
type eventIn struct {
	Title string `json:"title"`
}
type eventOut struct {
	Event string `json:"event"`
}

func startMCP(t *testing.T, name, key string) *mcpServer {
	t.Helper()
	ms := &mcpServer{}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "charge", Description: "Charge an amount"},
		func(_ context.Context, _ *mcp.CallToolRequest, in chargeIn) (*mcp.CallToolResult, chargeOut, error) {
			ms.record("charge")
			return nil, chargeOut{ID: "ch_" + strconv.Itoa(in.Amount)}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add_event", Description: "Add an event"},
		func(_ context.Context, _ *mcp.CallToolRequest, in eventIn) (*mcp.CallToolResult, eventOut, error) {
			ms.record("add_event")
			return nil, eventOut{Event: "ev: " + in.Title}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "wait", Description: "Wait until cancelled"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, eventOut, error) {
			ms.record("wait")
			if ms.started != nil {
				ms.started <- ctx
			}
			<-ctx.Done()
			return nil, eventOut{}, ctx.Err()
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			ms.mu.Lock()
			ms.refused++
			ms.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ms.URL = srv.URL
	return ms
}

// node is one machine's mediator: its config file and its keyring (a
// file keyring under its own passphrase).
type node struct {
	t          *testing.T
	dir, cfg   string
	passphrase string
}

// newNode writes a config whose body is common to every node but for the
// keyring's directory.
func newNode(t *testing.T, name, passphrase, body string) *node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dir: dir, cfg: filepath.Join(dir, "config.yaml"), passphrase: passphrase}
	full := "credentials:\n  backend: file\n  file_dir: " + n.keyring() + "\nstate_dir: " + filepath.Join(dir, "state") + "\n" + body
	if err := os.WriteFile(n.cfg, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) keyring() string { return filepath.Join(n.dir, "keyring") }

// factory is mediator-temporal's Factory on this node, with stdin.
func (n *node) factory(stdin string) (*cmdutil.Factory, func() (string, string)) {
	env := map[string]string{"HOME": n.dir, "XDG_STATE_HOME": filepath.Join(n.dir, "state"), "MEDIATOR_KEYRING_PASSPHRASE": n.passphrase}
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	f.Temporal = temporalcli.Hooks()
	return f, func() (string, string) { return out.String(), errOut.String() }
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs mediator-temporal with args under ctx and checks that no
// canary shows in its output.
func (n *node) run(ctx context.Context, stdin string, args ...string) result {
	n.t.Helper()
	f, output := n.factory(stdin)
	code := commands.Run(ctx, f, append([]string{"--config", n.cfg}, args...))
	stdout, stderr := output()
	r := result{stdout: stdout, stderr: stderr, code: code}
	for _, c := range canaries {
		if strings.Contains(r.stdout, c) || strings.Contains(r.stderr, c) {
			n.t.Errorf("mediator-temporal %s printed a secret value:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	return r
}

func (n *node) setSecret(server, item, value string) {
	n.t.Helper()
	if r := n.run(context.Background(), value, "secret", "set", server, item); r.code != 0 {
		n.t.Fatalf("secret set %s %s: exit %d\n%s", server, item, r.code, r.stderr)
	}
}

// running is a worker command running in this process.
type running struct {
	cancel context.CancelFunc
	done   chan result
}

// startWorker runs `worker args...` until stop is called.
func (n *node) startWorker(args ...string) *running {
	ctx, cancel := context.WithCancel(context.Background())
	w := &running{cancel: cancel, done: make(chan result, 1)}
	go func() { w.done <- n.run(ctx, "", append([]string{"worker"}, args...)...) }()
	return w
}

// stop interrupts the worker (Ctrl-C) and returns how it ended.
func (w *running) stop(t *testing.T) result {
	t.Helper()
	w.cancel()
	select {
	case r := <-w.done:
		return r
	case <-time.After(time.Minute):
		t.Fatal("the worker did not stop within a minute of its interrupt")
		return result{}
	}
}

// exited returns how the worker ended if it has.
func (w *running) exited() (result, bool) {
	select {
	case r := <-w.done:
		w.done <- r
		return r, true
	default:
		return result{}, false
	}
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

const twoServerFlow = `version: 1
name: pay-and-note
flows: [stripe -> calendar]
steps:
  - id: pay
    call: {server: stripe, tool: charge}
    with: {amount: 42}
  - id: note
    call: {server: calendar, tool: add_event}
    with: {title: ${ "paid " + .steps.pay.result.id }}
outputs:
  event: ${ .steps.note.result.event }
`

// Two domain workers, each on its own node with only its own server's
// key in its keyring, and a flow worker with no server key: a run's calls
// reach both servers with the right keys, every activity runs on its
// domain's queue on that domain's worker, and the flow worker runs none.
func TestDomainWorkersHoldOnlyTheirServers(t *testing.T) {
	srv := server.Need(t)
	stripe := startMCP(t, "stripe", stripeKey)
	calendar := startMCP(t, "calendar", calendarKey)
	body := "engine: temporal\ntemporal:\n  host_port: " + srv.HostPort + "\n  namespace: " + srv.Namespace + "\n  codec_key_secret: codec\n" +
		"servers:\n" +
		"  stripe:\n    url: " + stripe.URL + "\n    auth: {type: bearer, secret: token}\n    timeout: 20s\n" +
		"  calendar:\n    url: " + calendar.URL + "\n    auth: {type: bearer, secret: token}\n    timeout: 20s\n" +
		"domains:\n  payments: [stripe]\n  office: [calendar]\n"
	payments := newNode(t, "payments", passPayments, body)
	office := newNode(t, "office", passOffice, body)
	flows := newNode(t, "flows", passFlows, body)
	codecKey := randomKey(t)
	payments.setSecret("stripe", "token", stripeKey)
	office.setSecret("calendar", "token", calendarKey)
	for _, n := range []*node{payments, office, flows} {
		n.setSecret("temporal", "codec", codecKey)
	}

	pw := payments.startWorker("--domain", "payments")
	ow := office.startWorker("--domain", "office")
	fw := flows.startWorker("--flows")

	// The client: the flow node's config, so its codec.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, _ := flows.factory("")
	f.ConfigFlag = flows.cfg
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	co, err := temporalcli.ClientOptions(ctx, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := temporal.Dial(ctx, co)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	path := filepath.Join(t.TempDir(), "pay-and-note.flow.yaml")
	if err := os.WriteFile(path, []byte(twoServerFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	in, probs, err := temporal.ReadFlowInput(ctx, path, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("ReadFlowInput: %v %v", err, probs)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "domains-apart", TaskQueue: temporal.FlowQueue}, temporal.WorkflowRunFlow, in)
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	got := make(chan error, 1)
	go func() { got <- run.Get(ctx, &out) }()
	// A worker that failed to start would leave the run waiting: say so.
	for waiting := true; waiting; {
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-time.After(100 * time.Millisecond):
			for name, w := range map[string]*running{"payments": pw, "office": ow, "flows": fw} {
				if r, ok := w.exited(); ok {
					t.Fatalf("the %s worker exited %d:\n%s", name, r.code, r.stderr)
				}
			}
		}
	}
	if out.Status != "succeeded" || out.Outputs["event"] != "ev: paid ch_42" {
		t.Fatalf("run: %+v", out)
	}

	// The servers saw their own keys only.
	for name, s := range map[string]*mcpServer{"stripe": stripe, "calendar": calendar} {
		calls, refused := s.seen()
		if len(calls) != 1 || refused != 0 {
			t.Errorf("%s: calls %v, %d requests refused for a wrong key", name, calls, refused)
		}
	}

	// History: each activity on its server's domain queue, started by
	// that domain's worker; the workflow tasks by the flow worker.
	host, _ := os.Hostname()
	suffix := "@" + host + ":" + strconv.Itoa(os.Getpid())
	dc, _ := temporal.Converters(co.Codec)
	scheduled := map[int64]*historypb.ActivityTaskScheduledEventAttributes{}
	started := 0
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := ev.GetActivityTaskStartedEventAttributes()
			s := scheduled[a.GetScheduledEventId()]
			server := activityServer(t, dc, s)
			domain := map[string]string{"stripe": "payments", "calendar": "office"}[server]
			if q := s.GetTaskQueue().GetName(); q != temporal.DomainQueue(domain) {
				t.Errorf("%s of %s was scheduled on %s, want %s", s.GetActivityType().GetName(), server, q, temporal.DomainQueue(domain))
			}
			if a.GetIdentity() != domain+suffix {
				t.Errorf("%s of %s was started by %q, want %q", s.GetActivityType().GetName(), server, a.GetIdentity(), domain+suffix)
			}
			started++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if id := ev.GetWorkflowTaskStartedEventAttributes().GetIdentity(); id != "flows"+suffix {
				t.Errorf("a workflow task was started by %q, want the flow worker", id)
			}
		}
	}
	if started != 4 { // two tool lookups, two calls
		t.Errorf("%d activities started, want 4", started)
	}

	for name, w := range map[string]*running{"payments": pw, "office": ow, "flows": fw} {
		r := w.stop(t)
		if r.code != cmdutil.ExitInterrupted || !strings.Contains(r.stderr, "interrupted") {
			t.Errorf("the %s worker, interrupted, exited %d:\n%s", name, r.code, r.stderr)
		}
		t.Logf("%s worker's stderr:\n%s", name, r.stderr)
	}
	// What each worker said it holds, and that the flow worker's keyring
	// holds the codec key only.
	for _, n := range []*node{payments, office, flows} {
		r := n.run(ctx, "", "secret", "list")
		t.Logf("%s keyring:\n%s", n.dir, r.stdout)
	}
	if r := flows.run(ctx, "", "secret", "list"); strings.Contains(r.stdout, "stripe") || strings.Contains(r.stdout, "calendar") {
		t.Errorf("the flow node's keyring holds a server's credential:\n%s", r.stdout)
	}
}

// activityServer is the server an activity's input names.
func activityServer(t *testing.T, dc converter.DataConverter, s *historypb.ActivityTaskScheduledEventAttributes) string {
	t.Helper()
	var in struct {
		Server string `json:"server"`
	}
	if err := dc.FromPayloads(s.GetInput(), &in); err != nil {
		t.Fatalf("decode the input of %s: %v", s.GetActivityType().GetName(), err)
	}
	return in.Server
}

func TestWorkerRefusals(t *testing.T) {
	srv := server.Need(t)
	stripe := startMCP(t, "stripe", stripeKey)
	body := func(hostPort string) string {
		return "engine: temporal\ntemporal:\n  host_port: " + hostPort + "\n  namespace: " + srv.Namespace + "\n" +
			"servers:\n" +
			"  stripe:\n    url: " + stripe.URL + "\n    auth: {type: bearer, secret: token}\n    timeout: 20s\n" +
			"  ledger:\n    url: " + downURL(t) + "\n    timeout: 5s\n" +
			"  weather:\n    url: " + stripe.URL + "\n    timeout: 5s\n" +
			"domains:\n  payments: [stripe]\n  books: [ledger]\n"
	}
	n := newNode(t, "refusals", passPayments, body(srv.HostPort))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"nothing to run", nil, cmdutil.ExitUsage, []string{"say what to run: --domain NAME (repeatable), --flows, or both", "Run 'mediator worker --help'"}},
		{"unknown domain", []string{"--domain", "ofice"}, cmdutil.ExitUsage,
			[]string{"--domain ofice: no such domain in " + n.cfg + "; domains: books, payments; servers in no domain (each its own): weather"}},
		{"a server of a domain", []string{"--domain", "stripe"}, cmdutil.ExitUsage, []string{"server stripe is in domain payments", "run --domain payments"}},
		{"empty domain", []string{"--domain", ""}, cmdutil.ExitUsage, []string{"--domain: empty domain name"}},
		{"a server without its key", []string{"--domain", "payments"}, cmdutil.ExitConnect, []string{"domain payments: server stripe cannot be used"}},
		{"a server that is down", []string{"--domain", "books"}, cmdutil.ExitConnect, []string{"domain books: server ledger cannot be used"}},
		{"an argument", []string{"payments"}, cmdutil.ExitUsage, []string{"unknown command"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := n.run(ctx, "", append([]string{"worker"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}

	// A namespace the cluster does not have.
	nons := newNode(t, "no-namespace", passPayments, strings.Replace(body(srv.HostPort), "namespace: "+srv.Namespace, "namespace: nope", 1))
	if r := nons.run(ctx, "", "worker", "--flows"); r.code != cmdutil.ExitConnect || !strings.Contains(r.stderr, `starting the worker on task queue mediator.flows (namespace "nope" of `+srv.HostPort+`)`) {
		t.Errorf("worker --flows in namespace nope: exit %d:\n%s", r.code, r.stderr)
	}

	// A cluster nothing listens on: the worker says where it looked.
	addr := strings.TrimSuffix(strings.TrimPrefix(downURL(t), "http://"), "/mcp")
	down := newNode(t, "down", passPayments, body(addr))
	for _, args := range [][]string{{"--flows"}, {"--domain", "payments"}} {
		r := down.run(ctx, "", append([]string{"worker"}, args...)...)
		if r.code != cmdutil.ExitConnect || !strings.Contains(r.stderr, "dial "+addr) || !strings.Contains(r.stderr, "temporal.host_port in "+down.cfg) {
			t.Errorf("worker %v with no cluster at %s: exit %d:\n%s", args, addr, r.code, r.stderr)
		}
	}
}

// downURL is the URL of a server that has gone away.
func downURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u + "/mcp"
}

// Interrupting a domain worker cancels its calls in flight: the server's
// handler sees its request end (notifications/cancelled), the attempt is
// reported failed, and the worker exits as interrupted.
func TestInterruptCancelsCallsInFlight(t *testing.T) {
	srv := server.Need(t)
	stripe := startMCP(t, "stripe", stripeKey)
	stripe.started = make(chan context.Context, 1)
	body := "engine: temporal\ntemporal:\n  host_port: " + srv.HostPort + "\n  namespace: " + srv.Namespace + "\n" +
		"servers:\n  stripe:\n    url: " + stripe.URL + "\n    auth: {type: bearer, secret: token}\n    timeout: 5m\n" +
		"domains:\n  waiting: [stripe]\n"
	n := newNode(t, "waiting", passPayments, body)
	n.setSecret("stripe", "token", stripeKey)
	dw := n.startWorker("--domain", "waiting")
	fw := n.startWorker("--flows")
	defer fw.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := temporal.Dial(ctx, temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := "version: 1\nname: wait\nsteps:\n  - id: w\n    call: {server: stripe, tool: wait}\n"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "interrupted-call", TaskQueue: temporal.FlowQueue}, temporal.WorkflowRunFlow,
		temporal.FlowInput{Path: "wait.flow.yaml", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") }()

	var call context.Context
	select {
	case call = <-stripe.started:
	case <-ctx.Done():
		t.Fatal("the call never reached the server")
	}
	r := dw.stop(t)
	if r.code != cmdutil.ExitInterrupted {
		t.Errorf("the interrupted worker exited %d:\n%s", r.code, r.stderr)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the call in flight was not cancelled on the server when its worker was interrupted")
	}
	// The stopping worker answered for the attempt: it failed, rather
	// than waiting out its heartbeat timeout.
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			return
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			t.Fatal("the interrupted call's attempt timed out instead of failing when its worker stopped")
		}
	}
	t.Fatal("the history has no failed attempt")
}

// temporal.schedule_to_start_timeout reaches the flow worker: a call to a
// domain no worker serves fails after it, naming the queue and the
// worker to start.
func TestScheduleToStartFromConfig(t *testing.T) {
	srv := server.Need(t)
	body := "engine: temporal\ntemporal:\n  host_port: " + srv.HostPort + "\n  namespace: " + srv.Namespace + "\n  schedule_to_start_timeout: 1s\n" +
		"servers:\n  stripe:\n    url: " + downURL(t) + "\n" +
		"domains:\n  unserved: [stripe]\n"
	n := newNode(t, "flows-only", passFlows, body)
	fw := n.startWorker("--flows")
	defer fw.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := temporal.Dial(ctx, temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := "version: 1\nname: unserved\nsteps:\n  - id: pay\n    call: {server: stripe, tool: charge}\n"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "unserved-domain", TaskQueue: temporal.FlowQueue}, temporal.WorkflowRunFlow,
		temporal.FlowInput{Path: "unserved.flow.yaml", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != "failed" || !strings.Contains(out.Error, "no worker polled mcp.unserved for 1s") || !strings.Contains(out.Error, "--domain unserved") {
		t.Errorf("run = %+v", out)
	}
}

// temporal.limits reaches the flow worker: with batch_items: 2, a
// for_each of five items runs in three child workflows.
func TestLimitsFromConfig(t *testing.T) {
	srv := server.Need(t)
	stripe := startMCP(t, "stripe", stripeKey)
	body := "engine: temporal\ntemporal:\n  host_port: " + srv.HostPort + "\n  namespace: " + srv.Namespace + "\n  limits: {batch_items: 2}\n" +
		"servers:\n  stripe:\n    url: " + stripe.URL + "\n    auth: {type: bearer, secret: token}\n" +
		"domains:\n  batched: [stripe]\n"
	n := newNode(t, "batched", passPayments, body)
	n.setSecret("stripe", "token", stripeKey)
	dw := n.startWorker("--domain", "batched")
	defer dw.stop(t)
	fw := n.startWorker("--flows")
	defer fw.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := temporal.Dial(ctx, temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := "version: 1\nname: batched\nsteps:\n  - id: pay\n    for_each: ${ [1, 2, 3, 4, 5] }\n    call: {server: stripe, tool: charge}\n    with: {amount: ${ .item }}\n"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "batched-by-config", TaskQueue: temporal.FlowQueue}, temporal.WorkflowRunFlow,
		temporal.FlowInput{Path: "batched.flow.yaml", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil || out.Status != "succeeded" {
		t.Fatalf("run = %+v, %v", out, err)
	}
	children := 0
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED {
			children++
		}
	}
	if calls, _ := stripe.seen(); children != 3 || len(calls) != 5 {
		t.Errorf("%d child workflows and %d calls, want 3 and 5", children, len(calls))
	}
}
