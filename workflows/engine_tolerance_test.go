package workflows

import (
	"fmt"
	"strings"
	"testing"
)

// toleranceFlow runs flaky over ten items, one at a time so that the
// order items finish in is the list's, failing the items in bad once (no
// retry), with the given tolerate_failures and on_error lines.
func toleranceFlow(tolerate, onError string) string {
	return `version: 1
name: tolerate
inputs:
  bad: {type: object, default: {}}
steps:
  - id: each
    for_each: ${ [range(10)] }
    max_concurrency: 1
    call: {server: a, tool: flaky}
    with:
      key: ${ "k\(.item)" }
      fail_times: ${ if .inputs.bad[.item | tostring] then 1 else 0 end }
` + tolerate + onError + `  - id: after
    call: {server: a, tool: echo}
    with: {seen: ${ .steps.each.status }}
outputs:
  status: ${ .steps.each.status }
  counts: ${ .steps.each.counts }
  failed: ${ [.steps.each.items[] | select(.status == "failed") | .index] }
  error: ${ .steps.each.error.message }
`
}

func TestToleratedFailures(t *testing.T) {
	for _, tc := range []struct {
		name, tolerate, onError string
		bad                     []any
		runErr                  string // "" when the run succeeds
		status                  string
		calls                   int
		failed                  string
		cancelled               int
	}{
		{name: "count within the bound", tolerate: "    tolerate_failures: 2\n", bad: []any{3, 7},
			status: StatusSucceeded, calls: 10, failed: "[3,7]"},
		{name: "count over the bound stops early", tolerate: "    tolerate_failures: 1\n", bad: []any{1, 2, 5},
			runErr: "2 of 10 items failed, more than tolerate_failures: 1 allows; the first: item 1:", status: StatusFailed, calls: 3, failed: "[1,2]", cancelled: 7},
		{name: "percent within the bound", tolerate: "    tolerate_failures: \"20%\"\n", bad: []any{0, 9},
			status: StatusSucceeded, calls: 10, failed: "[0,9]"},
		{name: "percent over the bound stops early", tolerate: "    tolerate_failures: \"20%\"\n", bad: []any{0, 1, 4, 8},
			runErr: "3 of 10 items failed, more than tolerate_failures: 20% allows", status: StatusFailed, calls: 5, failed: "[0,1,4]", cancelled: 5},
		{name: "no tolerance fails fast", bad: []any{2},
			runErr: "step each failed: item 2:", status: StatusFailed, calls: 3, failed: "[2]", cancelled: 7},
		// on_error: continue lets the run go past the failed step; the
		// bound still stops its items early, and later steps see why.
		{name: "continue over the bound", tolerate: "    tolerate_failures: 0\n", onError: "    on_error: continue\n", bad: []any{4, 6},
			status: StatusFailed, calls: 5, failed: "[4]", cancelled: 5},
		{name: "continue within the bound", tolerate: "    tolerate_failures: 2\n", onError: "    on_error: continue\n", bad: []any{4, 6},
			status: StatusSucceeded, calls: 10, failed: "[4,6]"},
		// Without tolerate_failures, continue runs every item as before.
		{name: "continue without tolerance", onError: "    on_error: continue\n", bad: []any{4, 6},
			status: StatusFailed, calls: 10, failed: "[4,6]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "a")
			res, err := h.run(toleranceFlow(tc.tolerate, tc.onError), map[string]any{"bad": badItems(tc.bad)})
			if tc.runErr == "" {
				if err != nil {
					t.Fatalf("run failed: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.runErr) {
				t.Fatalf("run error %v, want %q", err, tc.runErr)
			}
			if res.Steps["each"] != tc.status {
				t.Errorf("step status %s, want %s", res.Steps["each"], tc.status)
			}
			// The server saw only the items that ran: an early stop
			// sends none of the rest.
			if got := h.services["a"].count("flaky"); got != tc.calls {
				t.Errorf("server saw %d calls, want %d", got, tc.calls)
			}
			if tc.runErr != "" {
				if res.Steps["after"] != StatusCancelled && res.Steps["after"] != "" {
					t.Errorf("after ran (%s) though the run failed", res.Steps["after"])
				}
				return
			}
			if res.Steps["after"] != StatusSucceeded {
				t.Errorf("after: %s", res.Steps["after"])
			}
			if got := engJSON(res.Outputs["status"]); got != `"`+tc.status+`"` {
				t.Errorf(".status %s", got)
			}
			if got := engJSON(res.Outputs["failed"]); got != tc.failed {
				t.Errorf("failed items %s, want %s", got, tc.failed)
			}
			wantCounts := fmt.Sprintf(`{"cancelled":%d,"failed":%d,"skipped":0,"succeeded":%d,"total":10}`,
				tc.cancelled, strings.Count(tc.failed, ",")+1, tc.calls-strings.Count(tc.failed, ",")-1)
			if got := engJSON(res.Outputs["counts"]); got != wantCounts {
				t.Errorf(".counts %s, want %s", got, wantCounts)
			}
			if tc.status == StatusSucceeded && res.Outputs["error"] != nil {
				t.Errorf("a step within its bound has error %v", res.Outputs["error"])
			}
		})
	}
}

// The journal keeps each item's failure, so a resume runs the failed
// items again and the bound applies to the resumed run's items.
func TestToleratedFailuresJournalled(t *testing.T) {
	h := newHarness(t, "a")
	res, err := h.run(toleranceFlow("    tolerate_failures: 1\n", ""), map[string]any{"bad": badItems([]any{5})})
	if err != nil {
		t.Fatal(err)
	}
	atts, err := h.journal.Attempts(t.Context(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, a := range atts {
		if a.State == AttemptFailed {
			failed++
			if a.Path != "each[5]" || a.ErrorClass != ClassToolError {
				t.Errorf("failed attempt %s class %s", a.Path, a.ErrorClass)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed attempts journalled, want 1", failed)
	}
}

// badItems is the flow's input naming the items that fail.
func badItems(items []any) map[string]any {
	m := map[string]any{}
	for _, i := range items {
		m[fmt.Sprint(i)] = true
	}
	return m
}

// A dry run applies the bound like a run: items whose call cannot be made
// fail, and once the bound cannot hold the rest are not planned.
func TestToleratedFailuresDryRun(t *testing.T) {
	h := newHarness(t, "a")
	f := parseFlow(t, `version: 1
name: tolerate-dry
steps:
  - id: each
    for_each: ${ [range(4)] }
    max_concurrency: 1
    tolerate_failures: "50%"
    call: {server: a, tool: missing}
`)
	dr := &DryRun{Inner: NewLocalRuntime(h.caller), TrustAnnotations: trustAll, Flow: f}
	res, err := Run(t.Context(), f, RunOptions{Runtime: dr, TrustAnnotations: trustAll})
	if err == nil || !strings.Contains(err.Error(), "3 of 4 items failed, more than tolerate_failures: 50% allows") {
		t.Fatalf("dry run: %v", err)
	}
	plan := dr.Plan()
	if len(plan) != 3 || !plan[0].Uncallable || plan[2].Path != "each[2]" {
		t.Errorf("plan %+v: want the three items up to the bound, each uncallable", plan)
	}
	if res.Steps["each"] != StatusFailed {
		t.Errorf("step %s", res.Steps["each"])
	}
}
