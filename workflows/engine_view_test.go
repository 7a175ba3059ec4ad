package workflows

import (
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// TestStepViewFields runs a flow with a step of every kind, each once run
// and once skipped (an on_error handler nothing triggered), and checks
// that .steps.<id> has exactly the fields Step.ViewFields declares, and
// each element of .items exactly Step.ItemFields: the declarations the
// validator checks references against.
func TestStepViewFields(t *testing.T) {
	const kinds = `
  - id: %[1]scall
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: %[1]seach
    for_each: ${ [1, 2] }
    call: {server: a, tool: echo}
    with: {v: ${ .item }}
  - id: %[1]sgroup
    steps:
      - id: %[1]sinner
        call: {server: a, tool: echo}
  - id: %[1]spar
    parallel:
      left:
        - id: %[1]sl
          call: {server: a, tool: echo}
  - id: %[1]seachgroup
    for_each: ${ [1] }
    steps:
      - id: %[1]sg1
        call: {server: a, tool: echo}
`
	names := []string{"call", "each", "group", "par", "eachgroup"}
	var src strings.Builder
	src.WriteString("version: 1\nname: views\nsteps:\n")
	// Steps that succeed, each naming one skipped_ step as its handler.
	for _, n := range names {
		src.WriteString("  - id: trigger_" + n + "\n    call: {server: a, tool: echo}\n    on_error: skipped_" + n + "\n")
	}
	src.WriteString(strings.ReplaceAll(kinds, "%[1]s", "ran_"))
	src.WriteString(strings.ReplaceAll(kinds, "%[1]s", "skipped_"))
	src.WriteString("outputs:\n")
	for _, prefix := range []string{"ran_", "skipped_"} {
		for _, n := range names {
			src.WriteString("  " + prefix + n + ": ${ .steps." + prefix + n + " | keys }\n")
		}
	}
	src.WriteString("  ran_each_item: ${ .steps.ran_each.items[0] | keys }\n")
	src.WriteString("  ran_eachgroup_item: ${ .steps.ran_eachgroup.items[0] | keys }\n")
	src.WriteString("  reads: ${ [.steps.ran_group.steps.ran_inner.status, .steps.ran_par.branches.left.steps.ran_l.status, .steps.ran_each.counts.total, .steps.skipped_each.counts.total] }\n")

	h := newHarness(t)
	f := parseFlow(t, src.String())
	res, err := h.run(src.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*flow.Step{}
	for _, s := range f.AllSteps() {
		byID[s.ID] = s
	}
	check := func(output string, want []string) {
		t.Helper()
		want = slices.Sorted(slices.Values(want))
		if got := engJSON(res.Outputs[output]); got != engJSON(want) {
			t.Errorf("%s has fields %s, declared %s", output, got, engJSON(want))
		}
	}
	for _, prefix := range []string{"ran_", "skipped_"} {
		for _, n := range names {
			check(prefix+n, byID[prefix+n].ViewFields())
		}
	}
	check("ran_each_item", byID["ran_each"].ItemFields())
	check("ran_eachgroup_item", byID["ran_eachgroup"].ItemFields())
	if got := engJSON(res.Outputs["reads"]); got != `["succeeded","succeeded",2,0]` {
		t.Errorf("reads = %s", got)
	}
	for _, n := range names {
		if res.Steps["skipped_"+n] != StatusSkipped || res.Steps["ran_"+n] != StatusSucceeded {
			t.Errorf("%s: ran %s, skipped %s", n, res.Steps["ran_"+n], res.Steps["skipped_"+n])
		}
	}
}
