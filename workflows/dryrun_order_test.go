package workflows

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDryRunPlanInExecutionOrder: the plan lists calls as a run makes
// them, not by path: a step after those it waits for, steps that start
// together in file order, items by index (2 before 10), each item's and
// branch's nested calls together, and a call whose tool cannot be had is
// in the plan, flagged, where the run reached it.
func TestDryRunPlanInExecutionOrder(t *testing.T) {
	h := newHarness(t)
	f := parseFlow(t, `
version: 1
name: order
flows: [a -> b]
steps:
  - id: zeta
    call: {server: a, tool: echo}
  - id: store
    call: {server: a, tool: echo}
    with: {v: ${ .steps.fetch.result }}
  - id: fetch
    call: {server: a, tool: echo}
    with: {v: ${ .steps.zeta.result }}
  - id: alpha
    call: {server: a, tool: echo}
  - id: items
    needs: [zeta]
    for_each: ${ [range(11)] }
    max_concurrency: 11
    steps:
      - id: put
        call: {server: a, tool: echo}
        with: {i: ${ .item }}
      - id: check
        call: {server: a, tool: echo}
        with: {v: ${ .steps.put.result }}
  - id: both
    parallel:
      right:
        - id: r
          call: {server: b, tool: echo}
      left:
        - id: l
          call: {server: b, tool: echo}
  - id: gone
    needs: [store, items, both]
    call: {server: b, tool: nosuch}
`)
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Run(ctx, f, RunOptions{Runtime: dr, TrustAnnotations: trustAll})
	if err == nil || !strings.Contains(err.Error(), `no tool "nosuch"`) {
		t.Fatalf("run: %v", err)
	}
	var paths []string
	for _, c := range dr.Plan() {
		paths = append(paths, c.Path)
	}
	want := []string{"zeta", "alpha", "both.right/r", "both.left/l", "fetch"}
	for i := range 11 {
		want = append(want, "items["+itoa(i)+"]/put", "items["+itoa(i)+"]/check")
	}
	want = append(want, "store", "gone")
	if engJSON(paths) != engJSON(want) {
		t.Fatalf("plan order\n got %v\nwant %v", paths, want)
	}
	plan := dr.Plan()
	if last := plan[len(plan)-1]; !last.Uncallable || !strings.Contains(last.Problem, `no tool "nosuch"`) {
		t.Fatalf("uncallable call %+v", last)
	}
	if dr.Problems() != 1 {
		t.Fatalf("%d problems", dr.Problems())
	}
}

func itoa(i int) string { return engJSON(i) }
