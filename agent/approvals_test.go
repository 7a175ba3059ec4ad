package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/orchestrator"
)

func toolInfo(server, tool string, readOnly bool, pin string) orchestrator.ToolInfo {
	t := &mcp.Tool{Name: tool}
	if readOnly {
		t.Annotations = &mcp.ToolAnnotations{ReadOnlyHint: true}
	}
	return orchestrator.ToolInfo{Server: server, Name: tool, Qualified: orchestrator.QualifiedName(server, tool),
		LLMName: orchestrator.LLMName(server, tool), Tool: t, Allowed: true, Pin: pin}
}

// Rules are checked deny, then ask, then allow; with none matching, a
// read-only tool with a pinned definition is allowed and the rest ask.
func TestApprovalsDecide(t *testing.T) {
	rules := agent.Approvals{Allow: []string{"weather.*", "fs.*"}, Ask: []string{"calendar.create_event", "weather.radar"}, Deny: []string{"fs.delete_*"}}
	for _, c := range []struct {
		tool     orchestrator.ToolInfo
		want     agent.Verdict
		wantWhy  string
		rulesOff bool
	}{
		{tool: toolInfo("weather", "get_forecast", false, orchestrator.PinPinned), want: agent.VerdictAllow, wantWhy: `"weather.*" in approvals.allow`},
		{tool: toolInfo("weather", "radar", true, orchestrator.PinPinned), want: agent.VerdictAsk, wantWhy: `"weather.radar" in approvals.ask`},
		{tool: toolInfo("fs", "delete_file", true, orchestrator.PinPinned), want: agent.VerdictDeny, wantWhy: `"fs.delete_*" in approvals.deny`},
		{tool: toolInfo("calendar", "create_event", true, orchestrator.PinPinned), want: agent.VerdictAsk, wantWhy: "approvals.ask"},
		{tool: toolInfo("calendar", "list_events", true, orchestrator.PinPinned), want: agent.VerdictAllow, wantWhy: "default: a read-only tool"},
		{tool: toolInfo("calendar", "list_events", true, orchestrator.PinChanged), want: agent.VerdictAsk, wantWhy: "not pinned"},
		{tool: toolInfo("calendar", "delete_event", false, orchestrator.PinPinned), want: agent.VerdictAsk, wantWhy: "not annotated read-only"},
	} {
		got, why := rules.Decide(c.tool)
		if got != c.want || !strings.Contains(why, c.wantWhy) {
			t.Errorf("%s: %v (%s), want %v (%s)", c.tool.Qualified, got, why, c.want, c.wantWhy)
		}
	}
}

func TestApprovalsValidate(t *testing.T) {
	err := agent.Approvals{Allow: []string{"ok.*"}, Ask: []string{"x", "bad[pattern"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `approvals.ask[1]: "bad[pattern"`) {
		t.Errorf("got %v, want the field and pattern named", err)
	}
}

// --approve read-only approves read-only tools, all approves every tool,
// and neither ever approves a cross-server flow.
func TestOneShot(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		mode           string
		readOnly, rest orchestrator.Approval
	}{
		{"", orchestrator.ApprovalDeny, orchestrator.ApprovalDeny},
		{"read-only", orchestrator.ApprovalOnce, orchestrator.ApprovalDeny},
		{"all", orchestrator.ApprovalOnce, orchestrator.ApprovalOnce},
	} {
		m, err := agent.ParseApproveMode(c.mode)
		if err != nil {
			t.Fatal(err)
		}
		o := agent.OneShot{Mode: m}
		if a, _ := o.ApproveTool(ctx, agent.ToolRequest{ReadOnly: true}); a != c.readOnly {
			t.Errorf("%q, read-only tool: %v", c.mode, a)
		}
		if a, _ := o.ApproveTool(ctx, agent.ToolRequest{}); a != c.rest {
			t.Errorf("%q, other tool: %v", c.mode, a)
		}
		if a, err := o.ApproveFlow(ctx, agent.FlowRequest{}); a != orchestrator.ApprovalDeny || err == nil {
			t.Errorf("%q approved a flow", c.mode)
		}
	}
	if _, err := agent.ParseApproveMode("some"); err == nil || !strings.Contains(err.Error(), "read-only, all") {
		t.Errorf("got %v", err)
	}
}
