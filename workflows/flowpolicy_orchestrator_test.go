package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// orchRecord is the part of an audit record a flow's call writes.
type orchRecord struct {
	Server     string   `json:"server"`
	Tool       string   `json:"tool"`
	Step       string   `json:"step"`
	Sources    []string `json:"sources"`
	AllowedBy  string   `json:"allowed_by"`
	Outcome    string   `json:"outcome"`
	ErrorClass string   `json:"error_class"`
}

// orchLeakRun is one run of a leak flow through an orchestrator over real
// go-sdk servers a, b and c, audited.
type orchLeakRun struct {
	refusals []*policyError
	bCalls   int
	records  []orchRecord
	res      *RunResult
}

// runLeakOrchestrated runs src, unvalidated, through the orchestrator
// (OrchestratorCaller) whose config policy is policy, so the run-time
// data-flow check is the orchestrator's alone; a's secret is a known
// secret, and must appear in no refusal and no audit record.
func runLeakOrchestrated(t *testing.T, src string, policy orchestrator.Policy) orchLeakRun {
	t.Helper()
	return runOrchestrated(t, parseUnvalidated(t, src), policy)
}

// runOrchestrated is runLeakOrchestrated for a loaded flow.
func runOrchestrated(t *testing.T, f *flow.Flow, policy orchestrator.Policy) orchLeakRun {
	t.Helper()
	services := map[string]*testService{}
	var servers []orchestrator.ServerConfig
	for _, name := range []string{"a", "b", "c"} {
		ts := newTestService(name)
		srv := ts.server()
		services[name] = ts
		servers = append(servers, orchestrator.ServerConfig{
			Config: connectors.Config{Name: name, Timeout: 10 * time.Second},
			NewTransport: func(context.Context) (mcp.Transport, error) {
				st, ct := mcp.NewInMemoryTransports()
				_, err := srv.Connect(context.Background(), st, nil)
				return ct, err
			},
		})
	}
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(leakSecret))
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	o, err := orchestrator.New(orchestrator.Options{Servers: servers, AuditPath: auditPath, Redactor: red, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	var run orchLeakRun
	var mu sync.Mutex
	opts := RunOptions{Runtime: NewLocalRuntime(OrchestratorCaller{O: o}), TrustAnnotations: trustAll,
		Progress: func(ev Event) {
			var pe *policyError
			if ev.Kind == EventStepFinished && errors.As(ev.Err, &pe) {
				mu.Lock()
				run.refusals = append(run.refusals, pe)
				mu.Unlock()
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run.res, _ = Run(ctx, f, opts)
	if err := o.SyncAudit(ctx); err != nil {
		t.Fatal(err)
	}
	b := services["b"]
	b.mu.Lock()
	for _, n := range b.calls {
		run.bCalls += n
	}
	b.mu.Unlock()

	data, err := os.ReadFile(auditPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if strings.Contains(string(data), leakSecret) {
		t.Errorf("the audit log holds a's secret")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r orchRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		run.records = append(run.records, r)
	}
	for _, pe := range run.refusals {
		if strings.Contains(pe.Error(), leakSecret) {
			t.Errorf("refusal %q quotes a's secret", pe)
		}
	}
	return run
}

// TestFlowPolicyLeaksRefusedByOrchestrator runs the flow-policy table
// through the orchestrator, unvalidated: the engine does not decide (its
// runtime does), so each refusal is the orchestrator's, made at the call
// before b hears anything, recorded in the audit log with its sources,
// and reported by the engine as the analysis explains it. Declared, the
// same flows make b's calls, each record saying what allowed it.
func TestFlowPolicyLeaksRefusedByOrchestrator(t *testing.T) {
	for _, c := range leakCases {
		t.Run(c.name, func(t *testing.T) {
			run := runLeakOrchestrated(t, leakFlow(c, false), orchestrator.Policy{})
			if run.bCalls != 0 {
				t.Errorf("b received %d calls from the undeclared flow", run.bCalls)
			}
			if len(run.refusals) == 0 {
				t.Fatalf("the run did not refuse the sink's call (run: %+v)", run.res)
			}
			for _, pe := range run.refusals {
				msg := pe.Error()
				var oe *orchestrator.Error
				if !errors.As(pe, &oe) || oe.Kind != orchestrator.KindFlowRefused {
					t.Errorf("refusal %q is not the orchestrator's", msg)
				}
				if pe.From != "a" || pe.To != "b" || ErrorClass(pe) != ClassRefused ||
					!strings.Contains(msg, "test.flow.yaml:") || !strings.Contains(msg, `add "a -> b" to flows:`) {
					t.Errorf("refusal %q", msg)
				}
			}
			var refused bool
			for _, r := range run.records {
				if r.Server == "b" && r.Outcome == orchestrator.OutcomeRefused {
					refused = true
					if r.ErrorClass != string(orchestrator.KindFlowRefused) || !slices.Contains(r.Sources, "a") || r.Step == "" {
						t.Errorf("audit record of the refusal %+v", r)
					}
				}
			}
			if !refused {
				t.Errorf("no audit record of the refusal: %+v", run.records)
			}

			run = runLeakOrchestrated(t, leakFlow(c, true), orchestrator.Policy{})
			if len(run.refusals) > 0 {
				t.Errorf("with a -> b declared, the run refused: %v", run.refusals[0])
			}
			if run.bCalls != c.calls {
				t.Errorf("with a -> b declared, b received %d calls, want %d", run.bCalls, c.calls)
			}
			for _, r := range run.records {
				if r.Server == "b" && r.Outcome == orchestrator.OutcomeOK && !strings.Contains(r.AllowedBy, "a -> b (flows)") {
					t.Errorf("record of b's call does not say the file's flows: allowed it: %+v", r)
				}
			}
		})
	}
}

// TestFlowPolicyConfigAllowsAtRunTime: the orchestrator's own policy (the
// config's policy.flows) allows what the file does not declare, with no
// policy given to the engine.
func TestFlowPolicyConfigAllowsAtRunTime(t *testing.T) {
	c := leakCases[0]
	run := runLeakOrchestrated(t, leakFlow(c, false), orchestrator.Policy{Flows: []orchestrator.Flow{{From: "a", To: "b"}}})
	if len(run.refusals) > 0 || run.bCalls != c.calls {
		t.Fatalf("refusals %v, b calls %d", run.refusals, run.bCalls)
	}
	var seen bool
	for _, r := range run.records {
		if r.Server == "b" {
			seen = true
			if r.AllowedBy != "a -> b (policy)" || !slices.Equal(r.Sources, []string{"a"}) {
				t.Errorf("record %+v", r)
			}
		}
	}
	if !seen {
		t.Error("no record of b's call")
	}
}

// TestFlowPolicyNoLeakThroughOrchestrator: flows that carry nothing of
// a's to b are not refused by the orchestrator either, and b's records
// name no other server.
func TestFlowPolicyNoLeakThroughOrchestrator(t *testing.T) {
	for _, c := range noLeakCases {
		t.Run(c.name, func(t *testing.T) {
			run := runLeakOrchestrated(t, leakFlow(leakCase{flows: c.flows, steps: c.steps}, false), orchestrator.Policy{})
			if len(run.refusals) > 0 || run.bCalls != c.calls {
				t.Fatalf("refusals %v, b calls %d, want %d", run.refusals, run.bCalls, c.calls)
			}
			for _, r := range run.records {
				if r.Server == "b" && (len(r.Sources) > 0 || r.AllowedBy != "") {
					t.Errorf("record of a call carrying no other server's data %+v", r)
				}
			}
		})
	}
}

// TestCallSourcesAgreeWithUndeclared: the sources the engine hands the
// runtime are exactly what validate checks: every undeclared flow into a
// call comes from one of its sources, and a source the file does not
// declare is an undeclared flow.
func TestCallSourcesAgreeWithUndeclared(t *testing.T) {
	for _, c := range leakCases {
		for _, declare := range []bool{false, true} {
			f := parseUnvalidated(t, leakFlow(c, declare))
			prov := flow.NewProvenance(f)
			for _, s := range f.AllSteps() {
				sources := prov.CallSources(s)
				undeclared := map[string]bool{}
				for _, v := range prov.Undeclared(s, nil) {
					undeclared[v.From] = true
					if !slices.Contains(sources, v.From) {
						t.Errorf("%s: step %q: undeclared flow from %q is not among its sources %v", c.name, s.ID, v.From, sources)
					}
				}
				for _, src := range sources {
					if !f.Allows(src, s.Call.Server, nil) && !undeclared[src] {
						t.Errorf("%s: step %q: source %q is neither declared nor refused", c.name, s.ID, src)
					}
				}
			}
		}
	}
}
