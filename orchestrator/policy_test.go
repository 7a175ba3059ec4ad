package orchestrator_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// flowCanary stands for a's data: it must never reach b undeclared, nor
// any error or audit record.
const flowCanary = "canary-flow-5d1e88-SECRET"

// flowRecord is the part of an audit record the data-flow policy writes.
type flowRecord struct {
	Server     string   `json:"server"`
	Tool       string   `json:"tool"`
	Sources    []string `json:"sources"`
	AllowedBy  string   `json:"allowed_by"`
	Outcome    string   `json:"outcome"`
	ErrorClass string   `json:"error_class"`
	Error      string   `json:"error"`
}

// flowSetup is an audited orchestrator over two real in-process go-sdk
// servers, a and b (and c for chains), with the canary known as a secret.
type flowSetup struct {
	o         *orchestrator.Orchestrator
	a, b, c   *testServer
	auditPath string
}

func newFlowSetup(t *testing.T, policy orchestrator.Policy, approver orchestrator.Approver) *flowSetup {
	t.Helper()
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(flowCanary))
	fs := &flowSetup{
		a: newTestServer(serverOpts{name: "a"}), b: newTestServer(serverOpts{name: "b"}), c: newTestServer(serverOpts{name: "c"}),
		auditPath: filepath.Join(t.TempDir(), "audit.jsonl"),
	}
	fs.o = newOrchestrator(t, orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			inProcessServer("a", fs.a.Server), inProcessServer("b", fs.b.Server), inProcessServer("c", fs.c.Server),
		},
		AuditPath: fs.auditPath, Redactor: red, Policy: policy, Approver: approver,
	})
	return fs
}

// records returns the audit records written so far, and fails the test if
// the log holds the canary anywhere.
func (fs *flowSetup) records(t *testing.T) []flowRecord {
	t.Helper()
	syncAudit(t, fs.o)
	data, err := os.ReadFile(fs.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), flowCanary) {
		t.Fatalf("the audit log holds the canary:\n%s", data)
	}
	var out []flowRecord
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r flowRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// echoFromA sends a's data (the canary) to b.echo.
func (fs *flowSetup) echoFromA(ctx context.Context) (*orchestrator.Result, error) {
	return fs.o.CallWith(ctx, "b", "echo", map[string]any{"text": flowCanary},
		orchestrator.CallOptions{Provenance: orchestrator.ProvenanceOf("a")})
}

func TestFlowRefusedWithoutPolicy(t *testing.T) {
	fs := newFlowSetup(t, orchestrator.Policy{}, nil)
	ctx := testContext(t)

	res, err := fs.echoFromA(ctx)
	if res != nil {
		t.Fatalf("a refused call returned a result: %+v", res)
	}
	oe := asError(t, err, orchestrator.KindFlowRefused)
	msg := err.Error()
	for _, want := range []string{`server "a"`, `server "b"`, "b.echo", `policy.flows: ["a -> b"]`} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %s", msg, want)
		}
	}
	if strings.Contains(msg, flowCanary) {
		t.Errorf("refusal %q quotes the data", msg)
	}
	if oe.Server != "b" || oe.Tool != "echo" || !reflect.DeepEqual(oe.Flows, []orchestrator.Flow{{From: "a", To: "b"}}) {
		t.Errorf("error fields: server %q tool %q flows %v", oe.Server, oe.Tool, oe.Flows)
	}
	if n := fs.b.calls.Load(); n != 0 {
		t.Errorf("b received %d calls", n)
	}
	recs := fs.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Server != "b" || r.Tool != "echo" || r.Outcome != orchestrator.OutcomeRefused ||
		r.ErrorClass != string(orchestrator.KindFlowRefused) || !reflect.DeepEqual(r.Sources, []string{"a"}) || r.AllowedBy != "" ||
		!strings.Contains(r.Error, `"a -> b"`) {
		t.Errorf("audit record %+v", r)
	}
}

func TestFlowAllowedByPolicy(t *testing.T) {
	fs := newFlowSetup(t, orchestrator.Policy{Flows: []orchestrator.Flow{{From: "a", To: "b"}}}, nil)
	ctx := testContext(t)
	res, err := fs.echoFromA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Provenance.Servers(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("result provenance %v, want [a b]: b may echo a's data", got)
	}
	// Data from no server, and b's own data, need no flow.
	if _, err := fs.o.Call(ctx, "c", "echo", map[string]any{"text": "typed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.o.CallWith(ctx, "b", "echo", map[string]any{"text": "own"}, orchestrator.CallOptions{Provenance: orchestrator.ProvenanceOf("b")}); err != nil {
		t.Fatal(err)
	}
	recs := fs.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d audit records, want 3", len(recs))
	}
	if r := recs[0]; r.Outcome != orchestrator.OutcomeOK || !reflect.DeepEqual(r.Sources, []string{"a"}) || r.AllowedBy != "a -> b (policy)" {
		t.Errorf("allowed call's record %+v", r)
	}
	for _, r := range recs[1:] {
		if len(r.Sources) != 0 || r.AllowedBy != "" {
			t.Errorf("a call carrying no other server's data records a flow: %+v", r)
		}
	}
}

// TestResultProvenanceCarriesArguments: b echoes a's data, so b's result
// carries a's provenance, and sending it on to c needs a -> c as well as
// b -> c.
func TestResultProvenanceCarriesArguments(t *testing.T) {
	fs := newFlowSetup(t, orchestrator.Policy{Flows: []orchestrator.Flow{{From: "a", To: "b"}, {From: "b", To: "c"}}}, nil)
	ctx := testContext(t)
	res, err := fs.echoFromA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.o.CallWith(ctx, "c", "echo", map[string]any{"text": textOf(res)}, orchestrator.CallOptions{Provenance: res.Provenance})
	oe := asError(t, err, orchestrator.KindFlowRefused)
	if !reflect.DeepEqual(oe.Flows, []orchestrator.Flow{{From: "a", To: "c"}}) || strings.Contains(err.Error(), flowCanary) {
		t.Errorf("refusal %q, flows %v; want a -> c only", err, oe.Flows)
	}
	if n := fs.c.calls.Load(); n != 0 {
		t.Errorf("c received %d calls", n)
	}
	recs := fs.records(t)
	if r := recs[len(recs)-1]; !reflect.DeepEqual(r.Sources, []string{"a", "b"}) || r.AllowedBy != "b -> c (policy)" || r.Outcome != orchestrator.OutcomeRefused {
		t.Errorf("audit record of the refused relay %+v", r)
	}
}

func TestFlowAllowedBySession(t *testing.T) {
	fs := newFlowSetup(t, orchestrator.Policy{}, nil)
	ctx := testContext(t)
	sess := orchestrator.NewSession(orchestrator.SessionOptions{Flows: []orchestrator.Flow{{From: "a", To: "b"}}, FlowFile: "plan.flow.yaml"})
	if _, err := fs.echoFromA(orchestrator.WithSession(ctx, sess)); err != nil {
		t.Fatal(err)
	}
	// The session's flows are its own: without it, the call is refused.
	if _, err := fs.echoFromA(ctx); err == nil {
		t.Fatal("a call outside the session was allowed by the session's flows")
	}
	// A refusal in a flow file's session says to declare the flow there.
	_, err := fs.o.CallWith(orchestrator.WithSession(ctx, sess), "c", "echo", map[string]any{"text": "x"},
		orchestrator.CallOptions{Provenance: orchestrator.ProvenanceOf("a")})
	asError(t, err, orchestrator.KindFlowRefused)
	if !strings.Contains(err.Error(), `declare it in plan.flow.yaml: flows: ["a -> c"]`) {
		t.Errorf("refusal %q does not say what to add to the flow file", err)
	}
	recs := fs.records(t)
	if r := recs[0]; r.AllowedBy != "a -> b (flows)" || r.Outcome != orchestrator.OutcomeOK {
		t.Errorf("record of the session's call %+v", r)
	}
	if n := fs.b.calls.Load(); n != 1 {
		t.Errorf("b received %d calls, want 1", n)
	}
}

// recordingApprover answers with answer (or err) and keeps every request.
type recordingApprover struct {
	answer orchestrator.Approval
	err    error

	mu   sync.Mutex
	reqs []orchestrator.FlowRequest
}

func (r *recordingApprover) ApproveFlow(ctx context.Context, req orchestrator.FlowRequest) (orchestrator.Approval, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return r.answer, r.err
}

func (r *recordingApprover) asked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func TestFlowApprovalOnce(t *testing.T) {
	ap := &recordingApprover{answer: orchestrator.ApprovalOnce}
	fs := newFlowSetup(t, orchestrator.Policy{}, ap)
	ctx := testContext(t)
	for range 2 {
		if _, err := fs.echoFromA(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ap.asked() != 2 {
		t.Errorf("the approver was asked %d times, want 2 (once approves one call)", ap.asked())
	}
	want := orchestrator.FlowRequest{From: []string{"a"}, To: "b", Method: "tools/call", Target: "echo"}
	if !reflect.DeepEqual(ap.reqs[0], want) {
		t.Errorf("approver asked %+v, want %+v", ap.reqs[0], want)
	}
	for _, r := range fs.records(t) {
		if r.AllowedBy != "a -> b (approval:once)" || r.Outcome != orchestrator.OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
	if n := fs.b.calls.Load(); n != 2 {
		t.Errorf("b received %d calls, want 2", n)
	}
}

func TestFlowApprovalSession(t *testing.T) {
	ap := &recordingApprover{answer: orchestrator.ApprovalSession}
	fs := newFlowSetup(t, orchestrator.Policy{}, ap)
	ctx := testContext(t)
	chat := orchestrator.NewSession(orchestrator.SessionOptions{})
	cctx := orchestrator.WithSession(ctx, chat)
	for range 2 {
		if _, err := fs.echoFromA(cctx); err != nil {
			t.Fatal(err)
		}
	}
	if ap.asked() != 1 {
		t.Errorf("the approver was asked %d times in one session, want 1", ap.asked())
	}
	// A session derived from it (a flow run inside the chat) shares its
	// approvals; another session does not.
	derived := chat.With(orchestrator.SessionOptions{FlowFile: "x.flow.yaml"})
	if _, err := fs.echoFromA(orchestrator.WithSession(ctx, derived)); err != nil {
		t.Fatal(err)
	}
	if ap.asked() != 1 {
		t.Errorf("a derived session asked again (%d)", ap.asked())
	}
	other := orchestrator.NewSession(orchestrator.SessionOptions{})
	if _, err := fs.echoFromA(orchestrator.WithSession(ctx, other)); err != nil {
		t.Fatal(err)
	}
	if ap.asked() != 2 {
		t.Errorf("another session was not asked (%d)", ap.asked())
	}
	recs := fs.records(t)
	wantBy := []string{"a -> b (approval:session)", "a -> b (approval:session)", "a -> b (approval:session)", "a -> b (approval:session)"}
	for i, r := range recs {
		if r.AllowedBy != wantBy[i] {
			t.Errorf("record %d allowed by %q, want %q", i, r.AllowedBy, wantBy[i])
		}
	}
}

// TestFlowApprovalSessionIsPerTarget: approving a -> b for the session
// while calling b.echo approves that tool only; a call of another tool of
// b with a's data is asked about again, and the session lists what it
// approved.
func TestFlowApprovalSessionIsPerTarget(t *testing.T) {
	ap := &recordingApprover{answer: orchestrator.ApprovalSession}
	fs := newFlowSetup(t, orchestrator.Policy{}, ap)
	chat := orchestrator.NewSession(orchestrator.SessionOptions{})
	ctx := orchestrator.WithSession(testContext(t), chat)
	if _, err := fs.echoFromA(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.o.CallWith(ctx, "b", "create_event", map[string]any{"title": "x", "where": map[string]any{"room": "1"}},
		orchestrator.CallOptions{Provenance: orchestrator.ProvenanceOf("a")}); err != nil {
		t.Fatal(err)
	}
	if ap.asked() != 2 {
		t.Errorf("the approver was asked %d times for two tools, want 2", ap.asked())
	}
	want := []string{"a -> b tools/call create_event", "a -> b tools/call echo"}
	if got := chat.Approved(); !reflect.DeepEqual(got, want) {
		t.Errorf("Approved() = %q, want %q", got, want)
	}
}

// TestFlowApproverSessionOverrides: a session's own approver is asked
// instead of Options.Approver.
func TestFlowApproverSessionOverrides(t *testing.T) {
	global := &recordingApprover{answer: orchestrator.ApprovalDeny}
	own := &recordingApprover{answer: orchestrator.ApprovalOnce}
	fs := newFlowSetup(t, orchestrator.Policy{}, global)
	ctx := orchestrator.WithSession(testContext(t), orchestrator.NewSession(orchestrator.SessionOptions{Approver: own}))
	if _, err := fs.echoFromA(ctx); err != nil {
		t.Fatal(err)
	}
	if global.asked() != 0 || own.asked() != 1 {
		t.Errorf("asked: options' approver %d, session's %d", global.asked(), own.asked())
	}
}

func TestFlowApproverDeniesOrFails(t *testing.T) {
	for _, c := range []struct {
		name string
		ap   *recordingApprover
		say  string
	}{
		{"deny", &recordingApprover{answer: orchestrator.ApprovalDeny}, "approval was denied"},
		// The approver's own error may hold anything the front end had; it
		// is the error's cause, not the audit record's text.
		{"error", &recordingApprover{answer: orchestrator.ApprovalSession, err: errors.New("terminal gone while showing " + flowCanary)}, "asking for approval failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := newFlowSetup(t, orchestrator.Policy{}, c.ap)
			ctx := testContext(t)
			_, err := fs.echoFromA(ctx)
			asError(t, err, orchestrator.KindFlowRefused)
			if !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), `policy.flows: ["a -> b"]`) {
				t.Errorf("refusal %q", err)
			}
			if c.ap.err != nil && !errors.Is(err, c.ap.err) {
				t.Errorf("refusal %q does not wrap the approver's error", err)
			}
			// An error is no approval, not even for the session.
			if _, err := fs.echoFromA(ctx); err == nil {
				t.Error("the second call was allowed")
			}
			if n := fs.b.calls.Load(); n != 0 {
				t.Errorf("b received %d calls", n)
			}
			for _, r := range fs.records(t) {
				if r.Outcome != orchestrator.OutcomeRefused || !reflect.DeepEqual(r.Sources, []string{"a"}) || !strings.Contains(r.Error, c.say) {
					t.Errorf("record %+v", r)
				}
			}
		})
	}
}
