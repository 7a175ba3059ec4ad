package flow

import (
	"context"
	"strings"
	"testing"
)

// TestProvenance checks the sets behind the refusals: a step's view and
// control by server.
func TestProvenance(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`steps:
  - id: src
    call: {server: a, tool: t}
  - id: each
    for_each: ${ .steps.src.result }
    if: ${ .item.ok }
    call: {server: c, tool: t}
    on_error: continue
  - id: g
    on_error: continue
    steps:
      - id: probe
        call: {server: d, tool: t}
      - id: sink
        call: {server: b, tool: t}
        on_error: continue
  - id: handler
    call: {server: e, tool: t}
  - id: watched
    call: {server: f, tool: t}
    on_error: handler
`))
	if err != nil {
		t.Fatal(err)
	}
	p := NewProvenance(f)
	step := map[string]*Step{}
	for _, s := range f.AllSteps() {
		step[s.ID] = s
	}
	for _, tc := range []struct {
		what string
		got  []string
		want string
	}{
		{"view of a for_each over a's result, calling c", p.ViewServers(step["each"]), "a c"},
		{"control of that for_each", p.ControlServers(step["each"]), "a"},
		{"control of a call whose sibling fails into on_error: continue", p.ControlServers(step["sink"]), "d"},
		{"control of that sibling, whose own failure sink absorbs", p.ControlServers(step["probe"]), ""},
		{"control of a handler", p.ControlServers(step["handler"]), "f"},
		{"view of the handler", p.ViewServers(step["handler"]), "e f"},
		{"the for_each expression", p.ExprServers(step["each"].ForEach), "a"},
	} {
		if got := strings.Join(tc.got, " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, got, tc.want)
		}
	}
}

func TestFlowAllows(t *testing.T) {
	f := &Flow{Flows: []FlowEdge{{From: "a", To: "b"}}}
	policy := []FlowEdge{{From: "b", To: "c"}}
	for _, tc := range []struct {
		from, to string
		want     bool
	}{{"a", "b", true}, {"b", "a", false}, {"b", "c", true}, {"a", "c", false}, {"x", "x", true}} {
		if got := f.Allows(tc.from, tc.to, policy); got != tc.want {
			t.Errorf("Allows(%s, %s) = %v", tc.from, tc.to, got)
		}
	}
	edge, err := ParseFlowEdge("  weather->calendar ")
	if err != nil || edge.From != "weather" || edge.To != "calendar" || edge.String() != "weather -> calendar" {
		t.Errorf("ParseFlowEdge = %+v, %v", edge, err)
	}
}

// TestRedundantFlowIsAWarning: `a -> a` changes nothing, so it is a
// warning at its own index, and the file's errors are reported beside it.
func TestRedundantFlowIsAWarning(t *testing.T) {
	_, probs := Check(context.Background(), "f.flow.yaml", []byte(header+`flows: [bad, a -> a, a -> b]
steps:
  - id: x
    call: {server: a, tool: t}
  - id: y
    call: {server: b, tool: t}
    with: {v: ${ .steps.nosuch.result }}
`), ValidateOptions{})
	matchProblems(t, probs, []string{
		`3:9 flows[0]: invalid flow "bad"`,
		`3:14 flows[1]: flow "a -> a" is not needed`,
		`9:15 steps[1].with.v: unknown step "nosuch"`,
	})
	if w := probs.Warnings(); len(w) != 1 || w[0].Field != "flows[1]" || !strings.Contains(w[0].String(), "f.flow.yaml:3:14: warning: flows[1]:") {
		t.Fatalf("warnings %v", w)
	}
	if len(probs.Errors()) != 2 {
		t.Fatalf("errors %v", probs.Errors())
	}
}
