package orchestrator

import (
	"context"
	"strings"
	"testing"
)

// TestCheckFlowForOtherMethods: checkFlow decides a request that is not
// a tool call the same way (a resource read, say), names its target to the
// caller but not to the audit log, and without a session remembers a
// session approval in the orchestrator's own session.
func TestCheckFlowForOtherMethods(t *testing.T) {
	asked := 0
	o, err := New(Options{Approver: ApproverFunc(func(ctx context.Context, req FlowRequest) (Approval, error) {
		asked++
		if req.Method != "prompts/get" || req.Target != "summary" {
			t.Errorf("approver asked %+v", req)
		}
		return ApprovalSession, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()

	const uri = "file:///home/u/private-notes.txt"
	strict := WithSession(ctx, NewSession(SessionOptions{Approver: ApproverFunc(func(context.Context, FlowRequest) (Approval, error) {
		return ApprovalDeny, nil
	})}))
	d, err := o.checkFlow(strict, "b", "resources/read", uri, ProvenanceOf("a", "b"))
	oe, ok := err.(*Error)
	if !ok || oe.Kind != KindFlowRefused {
		t.Fatalf("error %v, want a flow refusal", err)
	}
	if !strings.Contains(oe.Error(), uri) || !strings.Contains(oe.Error(), "resources/read") {
		t.Errorf("refusal %q does not name the request", oe)
	}
	if a := auditText(err, false); strings.Contains(a, uri) || !strings.Contains(a, "resources/read") || !strings.Contains(a, `policy.flows: ["a -> b"]`) {
		t.Errorf("audit text %q", a)
	}
	if len(d.Sources) != 1 || d.Sources[0] != "a" || d.AllowedBy != "" {
		t.Errorf("decision %+v", d)
	}

	for range 2 {
		d, err = o.checkFlow(ctx, "b", "prompts/get", "summary", ProvenanceOf("a"))
		if err != nil || d.AllowedBy != "a -> b (approval:session)" {
			t.Fatalf("decision %+v, %v", d, err)
		}
	}
	if asked != 1 {
		t.Errorf("the approver was asked %d times, want 1: the orchestrator's own session remembers", asked)
	}
}
