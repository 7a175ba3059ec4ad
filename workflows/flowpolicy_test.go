package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// leakSecret is server a's data that no flow may move to b undeclared: 19
// characters, as in the char-by-char leak.
const leakSecret = "hunter2-is-19-chars"

// leakHeader starts every flow of the flow-policy table: server a (an
// echoing test server) returns leakSecret, a list, a flag and a count.
// FLOWS is replaced by each case's declared flows. src continues on error,
// so its own failure cancels nothing and each case exercises only the
// channel it names.
const leakHeader = `version: 1
name: leak
flows: [FLOWS]
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {secret: ` + leakSecret + `, list: [x, y, z], flag: true, n: 3}
    on_error: continue
`

// leakCase is a flow that tries to move a's data to b through the step
// named sink without declaring a -> b. flows are the other flows it
// declares (never a -> b); via is what the refusal must say about how the
// data gets there; calls is how many calls b gets once a -> b is declared.
type leakCase struct {
	name    string
	flows   string
	steps   string
	via     string
	control bool
	calls   int
}

var leakCases = []leakCase{
	// Data, through every field of a step view.
	{name: "result", steps: `
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.src.result.secret }}
`, via: "via .steps.src)", calls: 1},
	{name: "items[].item of a for_each over a's list", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ .steps.src.result.list }
    call: {server: c, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: '${ [.steps.each.items[].item] }'}
`, via: "via .steps.each (from .steps.src)", calls: 1},
	{name: "items of a for_each over a's list", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ .steps.src.result.list }
    call: {server: c, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.each.items }}
`, via: "via .steps.each (from .steps.src)", calls: 1},
	{name: "whole view of a for_each over a's list", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ .steps.src.result.list }
    call: {server: c, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.each }}
`, via: "via .steps.each (from .steps.src)", calls: 1},
	{name: "counts of a for_each over a's list", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ .steps.src.result.list }
    call: {server: c, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.each.counts.total }}
`, via: "via .steps.each (from .steps.src)", calls: 1},
	{name: "index of a for_each over a's list", steps: `
  - id: sink
    for_each: ${ .steps.src.result.list }
    call: {server: b, tool: echo}
    with: {i: ${ .index }}
`, via: "via .index (from .steps.src)", calls: 3},
	{name: "result of a group run for each of a's items", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ .steps.src.result.list }
    steps:
      - id: inner
        call: {server: c, tool: echo}
        with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.each.result | length }}
`, via: "via .steps.each (from .steps.src)", calls: 1},
	{name: "status of a step skipped on a's flag", flows: "a -> c, c -> b", steps: `
  - id: gate
    if: ${ .steps.src.result.flag | not }
    call: {server: c, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.gate.status }}
`, via: "via .steps.gate (from .steps.src)", calls: 1},
	{name: "statuses of items decided by a's flag", flows: "a -> c, c -> b", steps: `
  - id: each
    for_each: ${ [1, 2, 3] }
    if: ${ .steps.src.result.flag }
    call: {server: c, tool: echo}
    with: {n: ${ .item }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: '${ [.steps.each.items[].status] }'}
`, via: "via .steps.each (from", calls: 1},
	{name: "error of an expression over a's data", flows: "a -> c, c -> b", steps: `
  - id: probe
    if: ${ (.steps.src.result.secret | tonumber) > 0 }
    call: {server: c, tool: echo}
    with: {n: 1}
    on_error: continue
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.probe.error.message }}
`, via: "via .steps.probe (from", calls: 1},
	{name: "error of a relay failing on a's data", flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: fail}
    with: {x: ${ .steps.src.result.secret }}
    on_error: continue
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.relay.error }}
`, via: "via .steps.relay (from .steps.src)", calls: 1},
	{name: "result of an echoing relay", flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: echo}
    with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.relay.result.copy }}
`, via: "via .steps.relay (from .steps.src)", calls: 1},
	{name: "text of an echoing relay", flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: echo}
    with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.relay.text }}
`, via: "via .steps.relay (from .steps.src)", calls: 1},
	{name: "content of an echoing relay", flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: echo}
    with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.relay.content }}
`, via: "via .steps.relay (from .steps.src)", calls: 1},
	{name: "attempts of a relay", flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: echo}
    with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.relay.attempts }}
`, via: "via .steps.relay (from .steps.src)", calls: 1},
	{name: "result of a group holding a relay", flows: "a -> c, c -> b", steps: `
  - id: g
    steps:
      - id: relay
        call: {server: c, tool: echo}
        with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.g.result.relay.copy }}
`, via: "via .steps.g (from .steps.src)", calls: 1},
	{name: "steps of a group holding a relay", flows: "a -> c, c -> b", steps: `
  - id: g
    steps:
      - id: relay
        call: {server: c, tool: echo}
        with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.g.steps.relay.result }}
`, via: "via .steps.g (from .steps.src)", calls: 1},
	{name: "branches of a parallel step holding a relay", flows: "a -> c, c -> b", steps: `
  - id: p
    parallel:
      one:
        - id: relay
          call: {server: c, tool: echo}
          with: {copy: ${ .steps.src.result.secret }}
      two:
        - id: other
          call: {server: c, tool: echo}
          with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.p.branches.one.steps.relay.result.copy }}
`, via: "via .steps.p (from .steps.src)", calls: 1},
	{name: "idempotency key", steps: `
  - id: sink
    call: {server: b, tool: create}
    with: {title: fixed}
    idempotency_key: ${ .steps.src.result.secret }
`, via: "in field idempotency_key", calls: 1},

	// Control: what decides whether, and how often, the call is made.
	{name: "if on a's flag", control: true, steps: `
  - id: sink
    if: ${ .steps.src.result.flag }
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via the if of step "sink" at line 10 (from .steps.src)`, calls: 1},
	{name: "char-by-char if over a's secret", control: true, steps: `
  - id: sink
    for_each: '${ [range(0; 19) as $p | ("abcdefghijklmnopqrstuvwxyz0123456789-" | split(""))[] | {pos: $p, ch: .}] }'
    if: ${ .steps.src.result.secret[.item.pos:.item.pos + 1] == .item.ch }
    call: {server: b, tool: echo}
    with: {pos: ${ .item.pos }, ch: ${ .item.ch }}
`, via: `the if of step "sink" at line 11 (from .steps.src)`, calls: len(leakSecret)},
	{name: "for_each over a's list", control: true, steps: `
  - id: sink
    for_each: ${ .steps.src.result.list }
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via the for_each of step "sink" at line 10 (from .steps.src)`, calls: 3},
	{name: "for_each counted from a's data", control: true, steps: `
  - id: sink
    for_each: ${ [range(.steps.src.result.n)] }
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via the for_each of step "sink" at line 10 (from .steps.src)`, calls: 3},
	{name: "if reading an echoing relay of a's flag", control: true, flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: echo}
    with: {copy: ${ .steps.src.result.flag }}
  - id: sink
    if: ${ .steps.relay.result.copy }
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `the if of step "sink" at line 13 (from .steps.src)`, calls: 1},
	{name: "enclosing group's if", control: true, steps: `
  - id: g
    if: ${ .steps.src.result.flag }
    steps:
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
`, via: `via the if of step "g" at line 10 (from .steps.src)`, calls: 1},
	{name: "enclosing group run for each of a's items", control: true, steps: `
  - id: g
    for_each: ${ .steps.src.result.list }
    steps:
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
`, via: `via the for_each of step "g" at line 10 (from .steps.src)`, calls: 3},
	{name: "if two groups up", control: true, steps: `
  - id: outer
    if: ${ .steps.src.result.flag }
    steps:
      - id: mid
        steps:
          - id: sink
            call: {server: b, tool: echo}
            with: {n: 1}
`, via: `via the if of step "outer" at line 10 (from .steps.src)`, calls: 1},
	{name: "parallel step's if", control: true, steps: `
  - id: p
    if: ${ .steps.src.result.flag }
    parallel:
      one:
        - id: sink
          call: {server: b, tool: echo}
          with: {n: 1}
      two:
        - id: other
          call: {server: a, tool: echo}
          with: {n: 1}
`, via: `via the if of step "p" at line 10 (from .steps.src)`, calls: 1},
	{name: "parallel branch in a group run for each of a's items", control: true, steps: `
  - id: g
    for_each: ${ .steps.src.result.list }
    steps:
      - id: p
        parallel:
          one:
            - id: sink
              call: {server: b, tool: echo}
              with: {n: 1}
`, via: `via the for_each of step "g" at line 10 (from .steps.src)`, calls: 3},
	{name: "nested for_each over an outer item from a", control: true, steps: `
  - id: g
    for_each: ${ [.steps.src.result.list] }
    steps:
      - id: sink
        for_each: ${ .item }
        call: {server: b, tool: echo}
        with: {n: 1}
`, via: `via the for_each of step "sink" at line 13 (from .steps.src)`, calls: 3},

	// on_error: a handler runs because a step failed.
	{name: "handler of a failing call to a", control: true, steps: `
  - id: probe
    call: {server: a, tool: fail}
    with: {n: 1}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via a failure of step "probe" (line 9), which runs it as on_error handler`, calls: 1},
	{name: "handler of a relay failing on a's data", control: true, flows: "a -> c, c -> b", steps: `
  - id: relay
    call: {server: c, tool: fail}
    with: {x: ${ .steps.src.result.secret }}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via a failure of step "relay" (line 9), which runs it as on_error handler (from .steps.src)`, calls: 1},
	{name: "handler of a group calling a", control: true, steps: `
  - id: g
    steps:
      - id: probe
        call: {server: a, tool: fail}
        with: {n: 1}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via a failure of step "g" (line 9), which runs it as on_error handler`, calls: 1},
	{name: "handler of an if failing on a's data", control: true, flows: "a -> c, c -> b", steps: `
  - id: probe
    if: ${ (.steps.src.result.secret | tonumber) > 0 }
    call: {server: c, tool: echo}
    with: {n: 1}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via a failure of step "probe" (line 9), which runs it as on_error handler`, calls: 1},
	{name: "call inside a handler group", control: true, steps: `
  - id: probe
    call: {server: a, tool: fail}
    with: {n: 1}
    on_error: h
  - id: h
    steps:
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
`, via: `via a failure of step "probe" (line 9), which runs it as on_error handler`, calls: 1},
	{name: "handler reading the error of a call to a", steps: `
  - id: probe
    call: {server: a, tool: fail}
    with: {n: 1}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {x: ${ .steps.probe.error.message }}
`, via: "via .steps.probe)", calls: 1},

	// Failures that cancel the call.
	{name: "call needing a call to a", control: true, steps: `
  - id: probe
    call: {server: a, tool: echo}
    with: {n: 1}
  - id: sink
    needs: [probe]
    call: {server: b, tool: echo}
    with: {n: 1}
`, via: `via a failure of step "probe" (line 9), which would cancel it`, calls: 1},
	{name: "item failure absorbed by on_error: continue", control: true, steps: `
  - id: each
    for_each: ${ [1, 2] }
    on_error: continue
    steps:
      - id: probe
        call: {server: a, tool: echo}
        with: {i: ${ .item }}
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
        on_error: continue # its own failure cancels nothing
`, via: `via a failure of step "probe" (line 13), which would cancel it`, calls: 2},
	{name: "earlier item of a for_each with on_error: fail", control: true, steps: `
  - id: each
    for_each: ${ [1, 2] }
    steps:
      - id: probe
        call: {server: a, tool: echo}
        with: {i: ${ .item }}
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
        on_error: continue # its own failure cancels nothing
`, via: `via a failure in an earlier item of for_each "each" (line 9)`, calls: 2},
	{name: "parallel branch failure absorbed by on_error: continue", control: true, steps: `
  - id: p
    on_error: continue
    parallel:
      one:
        - id: probe
          call: {server: a, tool: echo}
          with: {n: 1}
      two:
        - id: sink
          call: {server: b, tool: echo}
          with: {n: 1}
          on_error: continue # its own failure cancels nothing
`, via: `via a failure of step "probe" (line 13), which would cancel it`, calls: 1},
	{name: "group failure absorbed by on_error: continue", control: true, steps: `
  - id: g
    on_error: continue
    steps:
      - id: probe
        call: {server: a, tool: echo}
        with: {n: 1}
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
        on_error: continue # its own failure cancels nothing
`, via: `via a failure of step "probe" (line 12), which would cancel it`, calls: 1},
}

// leakFlow is the source of c with the given declared flows.
func leakFlow(c leakCase, declareAB bool) string {
	var flows []string
	if declareAB {
		flows = append(flows, "a -> b")
	}
	if c.flows != "" {
		flows = append(flows, c.flows)
	}
	return strings.Replace(leakHeader, "FLOWS", strings.Join(flows, ", "), 1) + strings.TrimPrefix(c.steps, "\n")
}

// flowProblems validates src as `run` does before it starts, and returns
// the errors.
func flowProblems(t *testing.T, src string) (*flow.Flow, flow.Problems) {
	t.Helper()
	f := parseUnvalidated(t, src)
	return f, flow.Validate(context.Background(), f, flow.ValidateOptions{RetryAtRunTime: true}).Errors()
}

// runLeak runs src against real go-sdk servers a, b and c without
// validating it, and returns the policy refusals the engine reported and
// the calls b received.
func runLeak(t *testing.T, src string) (refusals []*policyError, bCalls int, res *RunResult) {
	t.Helper()
	h := newHarness(t, "a", "b", "c")
	opts := h.opts(nil)
	var mu sync.Mutex
	opts.Progress = func(ev Event) {
		var pe *policyError
		if ev.Kind == EventStepFinished && errors.As(ev.Err, &pe) {
			mu.Lock()
			refusals = append(refusals, pe)
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, _ = Run(ctx, parseUnvalidated(t, src), opts)
	b := h.services["b"]
	b.mu.Lock()
	for _, n := range b.calls {
		bCalls += n
	}
	b.mu.Unlock()
	return refusals, bCalls, res
}

// TestFlowPolicyLeaks is the flow-policy table of issue 8: each flow moves
// a's data to b without declaring a -> b, through step views, items,
// counts, errors, if, for_each, on_error, parallel branches and nested
// groups. validate must refuse it naming the sink step's line and the
// edge to add; a run against real MCP servers must refuse the sink's call
// before b hears anything; with a -> b declared both accept it, and b gets
// its calls.
func TestFlowPolicyLeaks(t *testing.T) {
	if len(leakCases) < 30 {
		t.Fatalf("the table has %d flows; the issue asks for at least 30", len(leakCases))
	}
	for _, c := range leakCases {
		t.Run(c.name, func(t *testing.T) {
			src := leakFlow(c, false)
			f, probs := flowProblems(t, src)
			sink := findStep(f, "sink")
			if sink == nil {
				t.Fatal("the case has no sink step")
			}
			var found bool
			for _, p := range probs {
				if !strings.Contains(p.Message, `add "a -> b" to flows:`) {
					t.Errorf("unexpected problem: %v", p)
					continue
				}
				if !strings.Contains(p.Message, `step "sink"`) || p.Pos.File != "test.flow.yaml" || p.Pos.Line < sink.Pos.Line {
					t.Errorf("problem does not point at the sink step (line %d): %v", sink.Pos.Line, p)
				}
				kind := "sends data from server \"a\""
				if c.control {
					kind = "under the control of data from server \"a\""
				}
				if strings.Contains(p.Message, kind) && strings.Contains(p.Message, c.via) {
					found = true
				}
			}
			if !found {
				t.Errorf("validate does not refuse the flow as expected (control %v, via %q):\n%v", c.control, c.via, probs)
			}

			refused, bCalls, _ := runLeak(t, src)
			if bCalls != 0 {
				t.Errorf("b received %d calls from the undeclared flow", bCalls)
			}
			if len(refused) == 0 {
				t.Fatal("the run did not refuse the sink's call")
			}
			for _, pe := range refused {
				msg := pe.Error()
				if pe.From != "a" || pe.To != "b" || !strings.HasPrefix(pe.Step, "sink") && !strings.Contains(pe.Step, "/sink") ||
					!strings.Contains(msg, "test.flow.yaml:") || !strings.Contains(msg, `add "a -> b" to flows:`) {
					t.Errorf("refusal %q", msg)
				}
			}

			declared := leakFlow(c, true)
			if _, probs := flowProblems(t, declared); len(probs) > 0 {
				t.Errorf("with a -> b declared, validate still refuses:\n%v", probs)
			}
			refused, bCalls, res := runLeak(t, declared)
			if len(refused) > 0 {
				t.Errorf("with a -> b declared, the run refused: %v", refused[0])
			}
			if bCalls != c.calls {
				t.Errorf("with a -> b declared, b received %d calls, want %d (run: %+v)", bCalls, c.calls, res)
			}
		})
	}
}

func findStep(f *flow.Flow, id string) *flow.Step {
	for _, s := range f.AllSteps() {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// TestFlowPolicyNoLeak lists flows whose calls to b carry nothing of a's,
// so they need no a -> b: the analysis over-approximates, but not so far
// that ordinary flows must declare everything.
func TestFlowPolicyNoLeak(t *testing.T) {
	for _, c := range noLeakCases {
		t.Run(c.name, func(t *testing.T) {
			src := leakFlow(leakCase{flows: c.flows, steps: c.steps}, false)
			if _, probs := flowProblems(t, src); len(probs) > 0 {
				t.Errorf("validate refuses:\n%v", probs)
			}
			refused, bCalls, res := runLeak(t, src)
			if len(refused) > 0 {
				t.Errorf("the run refused: %v", refused[0])
			}
			if bCalls != c.calls {
				t.Errorf("b received %d calls, want %d (run: %+v)", bCalls, c.calls, res)
			}
		})
	}
}

// noLeakCases are flows whose calls to b carry nothing of a's.
var noLeakCases = []struct {
	name, flows, steps string
	calls              int
}{
	{name: "outputs read a's data, b gets none", steps: `
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
outputs:
  secret: ${ .steps.src.result.secret }
`, calls: 1},
	{name: "run id, flow name and inputs", steps: `
  - id: sink
    call: {server: b, tool: echo}
    with: {id: ${ .run.id }, name: ${ .run.name }, who: ${ .inputs.who }}
inputs:
  who: {type: string, default: me}
`, calls: 1},
	{name: "independent of a's call, whose failure would end the run", steps: `
  - id: probe
    call: {server: a, tool: echo}
    with: {n: 1}
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, calls: 1},
	{name: "needs a step whose failure is absorbed", steps: `
  - id: probe
    call: {server: a, tool: fail}
    with: {n: 1}
    on_error: continue
  - id: sink
    needs: [probe]
    call: {server: b, tool: echo}
    with: {n: 1}
`, calls: 1},
	{name: "a step of a's that starts only after b's call", flows: "b -> a", steps: `
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
  - id: after
    call: {server: a, tool: echo}
    with: {x: ${ .steps.sink.result }}
`, calls: 1},
	{name: "for_each over a literal list, failing fast on b's own calls", steps: `
  - id: sink
    for_each: ${ [1, 2, 3] }
    call: {server: b, tool: echo}
    with: {i: ${ .item }}
`, calls: 3},
	{name: "handler of b's own failure", steps: `
  - id: first
    call: {server: b, tool: fail}
    with: {n: 1}
    on_error: sink
  - id: sink
    call: {server: b, tool: echo}
    with: {n: 1}
`, calls: 2},
	{name: "calls of one item that both continue on error", steps: `
  - id: each
    for_each: ${ [1, 2] }
    steps:
      - id: probe
        call: {server: a, tool: fail}
        with: {i: ${ .item }}
        on_error: continue
      - id: sink
        call: {server: b, tool: echo}
        with: {n: 1}
        on_error: continue
`, calls: 2},
}
