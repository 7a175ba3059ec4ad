package temporal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// isolationDomains are the credential domains of TestIsolationPerDomain:
// two payments servers whose keys live together, and one office server.
var isolationDomains = temporal.Domains{"payments": {"stripe", "ledger"}, "office": {"calendar"}}

// isolationFlow chains data across the domains: a charge's receipt goes
// into the ledger, the ledger's entry into the calendar; closing the
// entry fails with an error that quotes the receipt.
const isolationFlow = `version: 1
name: isolation
flows: [stripe -> ledger, ledger -> calendar, stripe -> calendar]
steps:
  - id: charge
    call: {server: stripe, tool: charge}
    with: {amount: 42}
  - id: record
    call: {server: ledger, tool: record}
    with: {charge: ${ .steps.charge.result.charge }, receipt: ${ .steps.charge.result.receipt }}
  - id: close
    call: {server: ledger, tool: close}
    with: {entry: ${ .steps.record.result.entry }}
    on_error: continue
  - id: remind
    call: {server: calendar, tool: add_event}
    with: {title: ${ .steps.record.result.entry }}
outputs:
  receipt: ${ .steps.record.result.receipt }
  event: ${ .steps.remind.result.event }
  close: ${ .steps.close.status }
  close_error: ${ .steps.close.error.message }
`

// The canaries: each server's bearer key (in its domain's keyring only),
// and a result value the stripe server answers (and the ledger's failure
// quotes).
const receiptCanary = "canary-receipt-7d41c9e2"

func keyCanary(server string) string { return "canary-key-" + server + "-5f0a83b6" }

// keyedServer is a go-sdk MCP server over loopback HTTP that demands its
// own bearer key and records the Authorization header of every request.
type keyedServer struct {
	name string
	url  string

	mu   sync.Mutex
	seen map[string]int // Authorization header -> requests
}

func newKeyedServer(t *testing.T, name string) *keyedServer {
	t.Helper()
	ks := &keyedServer{name: name, seen: map[string]int{}}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	args := func(req *mcp.CallToolRequest) map[string]any {
		m := map[string]any{}
		_ = json.Unmarshal(req.Params.Arguments, &m)
		return m
	}
	switch name {
	case "stripe":
		s.AddTool(&mcp.Tool{Name: "charge", InputSchema: objectSchema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return structured(map[string]any{"charge": fmt.Sprintf("ch-%v", args(req)["amount"]), "receipt": receiptCanary}), nil
			})
	case "ledger":
		s.AddTool(&mcp.Tool{Name: "record", InputSchema: objectSchema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				a := args(req)
				return structured(map[string]any{"entry": fmt.Sprintf("le-%v", a["charge"]), "receipt": a["receipt"]}), nil
			})
		s.AddTool(&mcp.Tool{Name: "close", InputSchema: objectSchema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				// An error, not a tool error result: the call fails, its
				// message crossing the activity boundary as a failure.
				return nil, fmt.Errorf("entry %v cannot be closed: receipt %s is disputed", args(req)["entry"], receiptCanary)
			})
	case "calendar":
		s.AddTool(&mcp.Tool{Name: "add_event", InputSchema: objectSchema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return structured(map[string]any{"event": fmt.Sprintf("ev-%v", args(req)["title"])}), nil
			})
	}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		ks.mu.Lock()
		ks.seen[auth]++
		ks.mu.Unlock()
		if auth != "Bearer "+keyCanary(name) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ks.url = hs.URL
	return ks
}

// keys are the Authorization headers the server saw.
func (ks *keyedServer) keys() []string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var out []string
	for k := range ks.seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// domainKeyring is a passphrase-encrypted file keyring holding the bearer
// keys of domain's servers, and only those.
func domainKeyring(t *testing.T, domain string) *credentials.Store {
	t.Helper()
	store, err := credentials.Open(context.Background(), credentials.Options{
		Backend:    credentials.BackendFile,
		FileDir:    t.TempDir(),
		Passphrase: func(string) (string, error) { return "passphrase of the " + domain + " workers", nil },
		Env:        func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range isolationDomains.Servers(domain) {
		if err := store.Set(s, "api-key", credentials.NewSecret(keyCanary(s))); err != nil {
			t.Fatal(err)
		}
	}
	items, err := store.List("")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if isolationDomains.Of(it.Server) != domain {
			t.Fatalf("the %s keyring holds %s's %s", domain, it.Server, it.Name)
		}
	}
	return store
}

// workerIdentity is the Temporal identity of domain's worker.
func workerIdentity(domain string) string { return "worker-" + domain }

const flowWorkerIdentity = "worker-flows"

// Every activity of a run that chains data across two credential domains
// is scheduled on the queue of the domain of the server its input names
// and started by that domain's worker, whose orchestrator holds only the
// domain's servers and whose file keyring holds only the domain's keys;
// the flow worker, which has no caller, starts none. Each server sees only
// its own key. No key ever reaches the history; with the codec on, neither
// does the result canary, which the run's outputs and a failure message
// carry (without it, the check finds the canary there).
func TestIsolationPerDomain(t *testing.T) {
	needServer(t)
	servers := map[string]*keyedServer{}
	for _, d := range isolationDomains.Names() {
		for _, s := range isolationDomains.Servers(d) {
			servers[s] = newKeyedServer(t, s)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	codec, err := temporal.NewCodec("isolation-key", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, withCodec := range []bool{false, true} {
		name := "without the codec"
		if withCodec {
			name = "with the codec"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dc := converter.GetDefaultDataConverter()
			opts := client.Options{Namespace: testNamespace, Logger: quietLogger()}
			replayer := worker.WorkflowReplayerOptions{}
			if withCodec {
				var fc converter.FailureConverter
				dc, fc = temporal.Converters(codec)
				opts.DataConverter, opts.FailureConverter = dc, fc
				replayer = worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: fc}
			}
			c, err := client.NewClientFromExisting(testClient, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)

			prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
			flows := &temporal.Flows{Queue: func(s string) string { return prefix + isolationDomains.Queue(s) }, Decides: true}
			fw := worker.New(c, prefix+"flows", worker.Options{Identity: flowWorkerIdentity})
			flows.Register(fw)
			start(t, fw)
			for _, d := range isolationDomains.Names() {
				var cfgs []orchestrator.ServerConfig
				for _, s := range isolationDomains.Servers(d) {
					cfgs = append(cfgs, orchestrator.ServerConfig{Config: connectors.Config{Name: s, URL: servers[s].url, Timeout: 10 * time.Second,
						Auth: connectors.AuthConfig{Type: connectors.AuthBearer, Secret: "api-key"}}})
				}
				ring := domainKeyring(t, d)
				o, err := orchestrator.New(orchestrator.Options{Servers: cfgs, Secrets: ring, Redactor: ring.Redactor()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { o.Close() })
				aw := worker.New(c, prefix+temporal.DomainQueue(d), worker.Options{Identity: workerIdentity(d)})
				(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
				start(t, aw)
			}

			id := "isolation-" + slug(name)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: prefix + "flows"}, temporal.WorkflowRunFlow,
				temporal.FlowInput{Path: "isolation.flow.yaml", Source: []byte(isolationFlow)})
			if err != nil {
				t.Fatal(err)
			}
			var out temporal.FlowOutput
			if err := run.Get(ctx, &out); err != nil {
				t.Fatal(err)
			}
			closeErr, _ := out.Outputs["close_error"].(string)
			if out.Status != workflows.RunSucceeded || out.Outputs["receipt"] != receiptCanary || out.Outputs["event"] != "ev-le-ch-42" ||
				out.Outputs["close"] != workflows.StatusFailed || !strings.Contains(closeErr, receiptCanary) {
				t.Fatalf("run %s (%s), outputs %v", out.Status, out.Error, out.Outputs)
			}

			h := history(ctx, t, c, id, run.GetRunID())
			activitiesHeld(t, h, dc, prefix)
			raw, err := proto.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			// The failure on its own: the check sees its message without
			// the codec, so it would see a leak of it with the codec.
			var failures [][]byte
			for _, ev := range h.Events {
				if ev.GetEventType() == enums.EVENT_TYPE_ACTIVITY_TASK_FAILED {
					b, err := proto.Marshal(ev)
					if err != nil {
						t.Fatal(err)
					}
					failures = append(failures, b)
				}
			}
			if len(failures) != 1 {
				t.Fatalf("%d activities failed in the history, want the one close", len(failures))
			}
			if got := bytes.Contains(failures[0], []byte(receiptCanary)); got == withCodec {
				t.Errorf("the result canary in the failed activity's event: %v, want %v", got, !withCodec)
			}
			for s := range servers {
				if bytes.Contains(raw, []byte(keyCanary(s))) {
					t.Errorf("%s's key is in the raw history", s)
				}
			}
			if got := bytes.Contains(raw, []byte(receiptCanary)); got == withCodec {
				t.Errorf("the result canary in the raw history: %v, want %v", got, !withCodec)
			}
			rp, err := worker.NewWorkflowReplayerWithOptions(replayer)
			if err != nil {
				t.Fatal(err)
			}
			flows.Register(rp)
			if err := rp.ReplayWorkflowHistory(quietLogger(), h); err != nil {
				t.Errorf("replay of %d events: %v", len(h.Events), err)
			}
		})
	}
	for s, ks := range servers {
		if got, want := ks.keys(), []string{"Bearer " + keyCanary(s)}; !slices.Equal(got, want) {
			t.Errorf("server %s saw the Authorization headers %d times %q, want only its own key", s, len(got), got)
		}
	}
}

// activitiesHeld checks, in h, that every activity was scheduled on the
// queue of the domain of the server its input names (decoded with dc) and
// started by that domain's worker, and that the flow worker started none
// (it completed every workflow task).
func activitiesHeld(t *testing.T, h *historypb.History, dc converter.DataConverter, prefix string) {
	t.Helper()
	scheduled := map[int64]string{} // event id -> domain
	perDomain := map[string]int{}
	started := 0
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			var in struct {
				Server string `json:"server"`
			}
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil || in.Server == "" {
				t.Fatalf("activity %s: input names no server (%v)", a.GetActivityType().GetName(), err)
			}
			d := isolationDomains.Of(in.Server)
			scheduled[ev.GetEventId()] = d
			perDomain[d]++
			if got, want := a.GetTaskQueue().GetName(), prefix+isolationDomains.Queue(in.Server); got != want || want != prefix+temporal.DomainQueue(d) {
				t.Errorf("activity %s for server %s scheduled on %s, want %s", a.GetActivityType().GetName(), in.Server, got, want)
			}
		}
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil && a.GetIdentity() != flowWorkerIdentity {
			t.Errorf("a workflow task was completed by %q, want the flow worker", a.GetIdentity())
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			started++
			d, ok := scheduled[a.GetScheduledEventId()]
			switch {
			case !ok:
				t.Errorf("activity started (event %d) for no scheduled activity", ev.GetEventId())
			case a.GetIdentity() == flowWorkerIdentity:
				t.Errorf("the flow worker started an activity of domain %s", d)
			case a.GetIdentity() != workerIdentity(d):
				t.Errorf("an activity of domain %s was started by %q, want %q", d, a.GetIdentity(), workerIdentity(d))
			}
		}
	}
	if started != len(scheduled) {
		t.Errorf("%d activities started, %d scheduled", started, len(scheduled))
	}
	for _, d := range isolationDomains.Names() {
		if perDomain[d] == 0 {
			t.Errorf("no activity of domain %s in the history", d)
		}
	}
}
