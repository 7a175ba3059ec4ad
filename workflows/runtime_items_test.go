package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// itemsLimit is a LocalRuntime that refuses a for_each over more than max
// items, as a runtime with a bounded history does.
type itemsLimit struct {
	*LocalRuntime
	max int

	mu      sync.Mutex
	checked []string
}

func (r *itemsLimit) CheckItems(_ context.Context, s *flow.Step, path string, items []any, _ int) error {
	n := len(items)
	r.mu.Lock()
	r.checked = append(r.checked, fmt.Sprintf("%s:%s:%d", s.ID, path, n))
	r.mu.Unlock()
	if n > r.max {
		return fmt.Errorf("%d items, at most %d fit", n, r.max)
	}
	return nil
}

// TestItemsChecker: a runtime that is an ItemsChecker sees every for_each
// step's number of items before its first call; its refusal fails the
// step, no item runs, and the step's on_error decides the run as for any
// failure.
func TestItemsChecker(t *testing.T) {
	const src = `version: 1
name: t
steps:
  - id: small
    for_each: ${ [1, 2] }
    call: {server: a, tool: echo}
    with: {n: ${ .item }}
  - id: big
    for_each: ${ [range(5)] }
    on_error: %s
    call: {server: a, tool: echo}
    with: {n: ${ .item }, after: ${ .steps.small.status }}
`
	for _, onError := range []string{"fail", "continue"} {
		t.Run(onError, func(t *testing.T) {
			h := newHarness(t)
			rt := &itemsLimit{LocalRuntime: NewLocalRuntime(h.caller), max: 3}
			opts := h.opts(nil)
			opts.Runtime = rt
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := Run(ctx, parseFlow(t, fmt.Sprintf(src, onError)), opts)
			if res == nil {
				t.Fatal(err)
			}
			if got := strings.Join(rt.checked, " "); !strings.Contains(got, "small:small:2") || !strings.Contains(got, "big:big:5") {
				t.Errorf("checked %q, want both steps with their items", got)
			}
			if n := h.services["a"].count("echo"); n != 2 {
				t.Errorf("%d calls, want the 2 of small and none of big", n)
			}
			if res.Steps["big"] != StatusFailed || res.Steps["small"] != StatusSucceeded {
				t.Errorf("steps %v, want small succeeded and big failed", res.Steps)
			}
			want := RunFailed
			if onError == "continue" {
				want = RunSucceeded
			}
			if res.Status != want {
				t.Fatalf("run %s (%v), want %s", res.Status, res.Err, want)
			}
			if want == RunFailed {
				var se *StepError
				if !errors.As(err, &se) || se.Path != "big" || !strings.Contains(err.Error(), "5 items, at most 3 fit") {
					t.Errorf("error %v, want step big failed with the runtime's refusal", err)
				}
			}
		})
	}
}
