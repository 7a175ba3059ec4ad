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

// TestRunStepKinds runs one flow per step kind and checks the outputs,
// which read the step results the way flow authors do.
func TestRunStepKinds(t *testing.T) {
	tests := []struct {
		name    string
		flow    string
		inputs  map[string]any
		outputs string
	}{
		{
			name: "call with structured result and input default",
			flow: `
inputs:
  x: {type: number, default: 2}
steps:
  - id: sum
    call: {server: a, tool: add}
    with: {a: ${ .inputs.x }, b: 3}
outputs:
  sum: ${ .steps.sum.result.sum }
  status: ${ .steps.sum.status }
  attempts: ${ .steps.sum.attempts }
`,
			outputs: `{"attempts":1,"status":"succeeded","sum":5}`,
		},
		{
			name: "text result parsed as JSON, raw text and content kept",
			flow: `
steps:
  - id: t
    call: {server: a, tool: text}
    with: {text: '{"n": 7}'}
  - id: plain
    call: {server: a, tool: text}
    with: {text: hello}
outputs:
  n: ${ .steps.t.result.n }
  text: ${ .steps.plain.text }
  plain_result: ${ .steps.plain.result }
  content_type: ${ .steps.plain.content[0].type }
`,
			outputs: `{"content_type":"text","n":7,"plain_result":null,"text":"hello"}`,
		},
		{
			name: "if true runs, if false skips",
			flow: `
inputs:
  go: {type: boolean, default: false}
steps:
  - id: yes
    if: ${ .inputs.go | not }
    call: {server: a, tool: echo}
    with: {v: 1}
  - id: no
    if: ${ .inputs.go }
    call: {server: a, tool: echo}
    with: {v: 2}
outputs:
  yes: ${ .steps.yes.status }
  no: ${ .steps.no.status }
  no_result: ${ .steps.no.result }
`,
			outputs: `{"no":"skipped","no_result":null,"yes":"succeeded"}`,
		},
		{
			name: "for_each keeps input order with index, if per item",
			flow: `
inputs:
  xs: {type: array, default: [5, 1, 4, 2, 3]}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    max_concurrency: 3
    if: ${ .item != 4 }
    call: {server: a, tool: add}
    with: {a: ${ .item }, b: ${ .index }}
outputs:
  sums: ${ [.steps.each.items[] | .result.sum] }
  statuses: ${ [.steps.each.items[] | .status] }
  items: ${ [.steps.each.items[] | .item] }
  counts: ${ .steps.each.counts }
`,
			outputs: `{"counts":{"cancelled":0,"failed":0,"skipped":1,"succeeded":4,"total":5},"items":[5,1,4,2,3],"statuses":["succeeded","succeeded","skipped","succeeded","succeeded"],"sums":[5,2,null,5,7]}`,
		},
		{
			name: "for_each over an empty list",
			flow: `
steps:
  - id: each
    for_each: ${ [] }
    call: {server: a, tool: echo}
outputs:
  status: ${ .steps.each.status }
  n: ${ .steps.each.items | length }
`,
			outputs: `{"n":0,"status":"succeeded"}`,
		},
		{
			name: "dependent steps read earlier results; independent ones run",
			flow: `
steps:
  - id: one
    call: {server: a, tool: add}
    with: {a: 1, b: 1}
  - id: two
    call: {server: a, tool: add}
    with: {a: ${ .steps.one.result.sum }, b: 10}
  - id: other
    call: {server: a, tool: add}
    with: {a: 100, b: 0}
  - id: last
    needs: [other]
    call: {server: a, tool: add}
    with: {a: ${ .steps.two.result.sum }, b: 1}
outputs:
  last: ${ .steps.last.result.sum }
`,
			outputs: `{"last":13}`,
		},
		{
			name: "parallel branches with nested steps",
			flow: `
steps:
  - id: par
    parallel:
      left:
        - id: l1
          call: {server: a, tool: add}
          with: {a: 1, b: 2}
        - id: l2
          call: {server: a, tool: add}
          with: {a: ${ .steps.l1.result.sum }, b: 10}
      right:
        - id: r1
          call: {server: a, tool: echo}
          with: {side: right}
outputs:
  status: ${ .steps.par.status }
  left: ${ .steps.par.result.left.l2.sum }
  right: ${ .steps.par.result.right.r1.side }
  branch_status: ${ .steps.par.branches.left.status }
`,
			outputs: `{"branch_status":"succeeded","left":13,"right":"right","status":"succeeded"}`,
		},
		{
			name: "for_each inside a parallel branch, read through the parallel step",
			flow: `
steps:
  - id: par
    parallel:
      many:
        - id: each
          for_each: ${ [1, 2] }
          call: {server: a, tool: add}
          with: {a: ${ .item }, b: 1}
outputs:
  sums: ${ [.steps.par.result.many.each[].sum] }
  items: ${ [.steps.par.branches.many.steps.each.items[].status] }
`,
			outputs: `{"items":["succeeded","succeeded"],"sums":[2,3]}`,
		},
		{
			name: "for_each over a nested steps group",
			flow: `
steps:
  - id: batch
    for_each: ${ [1, 2, 3] }
    max_concurrency: 2
    steps:
      - id: double
        call: {server: a, tool: add}
        with: {a: ${ .item }, b: ${ .item }}
      - id: plus
        call: {server: a, tool: add}
        with: {a: ${ .steps.double.result.sum }, b: ${ .index }}
outputs:
  plus: ${ [.steps.batch.items[] | .result.plus.sum] }
  inner: ${ [.steps.batch.items[] | .steps.double.status] }
`,
			outputs: `{"inner":["succeeded","succeeded","succeeded"],"plus":[2,5,8]}`,
		},
		{
			name: "plain nested group",
			flow: `
steps:
  - id: g
    steps:
      - id: inner
        call: {server: a, tool: add}
        with: {a: 2, b: 2}
  - id: after
    call: {server: a, tool: add}
    with: {a: ${ .steps.g.result.inner.sum }, b: 1}
outputs:
  after: ${ .steps.after.result.sum }
`,
			outputs: `{"after":5}`,
		},
		{
			name: "for_each over another step's items",
			flow: `
steps:
  - id: first
    for_each: ${ ["x", "y"] }
    call: {server: a, tool: echo}
    with: {name: ${ .item }}
  - id: second
    for_each: ${ [.steps.first.items[] | select(.status == "succeeded") | .result] }
    call: {server: a, tool: echo}
    with: {again: ${ .item.name }}
outputs:
  names: ${ [.steps.second.items[].result.again] }
`,
			outputs: `{"names":["x","y"]}`,
		},
	}
	for _, rt := range runtimes {
		for _, tt := range tests {
			t.Run(rt+"/"+tt.name, func(t *testing.T) {
				h := newHarnessOn(t, rt)
				res, err := h.run("version: 1\nname: t\n"+tt.flow, tt.inputs)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != RunSucceeded {
					t.Fatalf("status %s", res.Status)
				}
				if got := engJSON(res.Outputs); got != tt.outputs {
					t.Fatalf("outputs\n got %s\nwant %s", got, tt.outputs)
				}
			})
		}
	}
}

// TestRunErrors covers the ways a step or a run fails, and what the error
// says.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name   string
		flow   string
		inputs map[string]any
		// status is the run's status; wantErr parts must all appear in
		// the run error; outputs, if set, must match.
		status  string
		wantErr []string
		outputs string
		check   func(t *testing.T, h *harness)
	}{
		{
			name: "tool error fails the run by default",
			flow: `
steps:
  - id: f
    call: {server: a, tool: fail}
`,
			status:  RunFailed,
			wantErr: []string{"step f failed", "a.fail returned an error: boom"},
		},
		{
			name: "if that is not boolean",
			flow: `
steps:
  - id: f
    if: ${ "yes" }
    call: {server: a, tool: echo}
`,
			status:  RunFailed,
			wantErr: []string{"test.flow.yaml:", "if", "must yield a boolean", `string "yes"`},
		},
		{
			name: "for_each that is not an array",
			flow: `
steps:
  - id: f
    for_each: ${ {a: 1} }
    call: {server: a, tool: echo}
`,
			status:  RunFailed,
			wantErr: []string{"for_each", "must yield an array", "object"},
		},
		{
			name: "on_error continue lets the run go on",
			flow: `
steps:
  - id: f
    call: {server: a, tool: fail}
    on_error: continue
  - id: next
    call: {server: a, tool: echo}
    with: {prev: ${ .steps.f.status }, msg: ${ .steps.f.error.class }}
outputs:
  next: ${ .steps.next.result }
`,
			status:  RunSucceeded,
			outputs: `{"next":{"msg":"tool_error","prev":"failed"}}`,
		},
		{
			name: "on_error handler runs only when triggered",
			flow: `
steps:
  - id: f
    call: {server: a, tool: fail}
    on_error: cleanup
  - id: ok
    call: {server: a, tool: echo}
    on_error: never
  - id: cleanup
    call: {server: a, tool: echo}
    with: {failed: ${ .steps.f.error.message }}
  - id: never
    call: {server: a, tool: echo}
outputs:
  cleanup: ${ .steps.cleanup.status }
  never: ${ .steps.never.status }
  msg: ${ .steps.cleanup.result.failed }
`,
			status:  RunSucceeded,
			outputs: `{"cleanup":"succeeded","msg":"a.fail returned an error: boom","never":"skipped"}`,
		},
		{
			name: "for_each item failure with continue keeps the other items",
			flow: `
steps:
  - id: each
    for_each: ${ ["ok", "bad", "ok2"] }
    on_error: continue
    call: {server: a, tool: flaky}
    with: {key: ${ .item }, fail_times: ${ if .item == "bad" then 99 else 0 end }}
outputs:
  statuses: ${ [.steps.each.items[].status] }
  step: ${ .steps.each.status }
`,
			status:  RunSucceeded,
			outputs: `{"statuses":["succeeded","failed","succeeded"],"step":"failed"}`,
		},
		{
			name: "for_each item failure fails fast by default",
			flow: `
steps:
  - id: each
    for_each: ${ [range(20)] }
    max_concurrency: 1
    call: {server: a, tool: flaky}
    with: {key: ${ .item | tostring }, fail_times: ${ if .item == 2 then 99 else 0 end }}
`,
			status:  RunFailed,
			wantErr: []string{"step each failed", "item 2", "flaky 2 failed"},
			check: func(t *testing.T, h *harness) {
				// Items after the failure were cancelled, not called.
				if n := h.services["a"].count("flaky"); n != 3 {
					t.Errorf("flaky called %d times, want 3 (fail fast)", n)
				}
			},
		},
		{
			name: "a failure inside a group fails the group",
			flow: `
steps:
  - id: g
    steps:
      - id: inner
        call: {server: a, tool: fail}
  - id: after
    needs: [g]
    call: {server: a, tool: echo}
`,
			status:  RunFailed,
			wantErr: []string{"step g failed", "step g/inner failed", "boom"},
			check: func(t *testing.T, h *harness) {
				if n := h.services["a"].count("echo"); n != 0 {
					t.Errorf("a step after the failed group ran %d times", n)
				}
			},
		},
		{
			name: "a failed parallel branch fails the step",
			flow: `
steps:
  - id: par
    parallel:
      good:
        - id: g1
          call: {server: a, tool: echo}
      bad:
        - id: b1
          call: {server: a, tool: fail}
`,
			status:  RunFailed,
			wantErr: []string{"step par failed", "branch bad", "boom"},
		},
		{
			name: "protocol error is never retried",
			flow: `
steps:
  - id: p
    call: {server: a, tool: protocol_error}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [transport, timeout, tool_error]}
`,
			status:  RunFailed,
			wantErr: []string{"step p failed"},
			check: func(t *testing.T, h *harness) {
				if n := h.services["a"].count("protocol_error"); n != 1 {
					t.Errorf("called %d times, want 1", n)
				}
			},
		},
		{
			name: "unknown tool",
			flow: `
steps:
  - id: u
    call: {server: a, tool: nosuch}
`,
			status:  RunFailed,
			wantErr: []string{`server "a" has no tool "nosuch"`, "echo"},
		},
		{
			name: "output that does not match outputSchema",
			flow: `
steps:
  - id: o
    call: {server: a, tool: badout}
`,
			status:  RunFailed,
			wantErr: []string{"outputSchema"},
		},
		{
			name: "idempotency key that is null",
			flow: `
steps:
  - id: k
    call: {server: a, tool: create}
    idempotency_key: ${ null }
`,
			status:  RunFailed,
			wantErr: []string{"idempotency_key", "non-empty string"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.run("version: 1\nname: t\n"+tt.flow, tt.inputs)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if res.Status != tt.status {
				t.Fatalf("status %s, want %s (err %v)", res.Status, tt.status, err)
			}
			if (err != nil) != (len(tt.wantErr) > 0) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if tt.outputs != "" {
				if got := engJSON(res.Outputs); got != tt.outputs {
					t.Errorf("outputs\n got %s\nwant %s", got, tt.outputs)
				}
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

func TestInputs(t *testing.T) {
	fl := parseFlow(t, `
version: 1
name: t
inputs:
  cities: {type: array, items: {type: string}, default: [Oslo]}
  threshold: {type: number, minimum: 0, maximum: 1, default: 0.6}
  id: {type: string}
steps:
  - id: s
    call: {server: a, tool: echo}
`)
	tests := []struct {
		name    string
		given   map[string]any
		want    string
		wantErr []string
	}{
		{name: "defaults fill in", given: map[string]any{"id": "x"}, want: `{"cities":["Oslo"],"id":"x","threshold":0.6}`},
		{name: "given wins", given: map[string]any{"id": "x", "threshold": 0.1, "cities": []any{"A", "B"}}, want: `{"cities":["A","B"],"id":"x","threshold":0.1}`},
		{name: "required missing", given: map[string]any{}, wantErr: []string{`input "id" is required`, "-i id=VALUE"}},
		{name: "out of range", given: map[string]any{"id": "x", "threshold": 2}, wantErr: []string{`test.flow.yaml:6:3: input "threshold" must be at most 1 (got 2)`}},
		{name: "wrong type", given: map[string]any{"id": 3}, wantErr: []string{`input "id" must be a string (got 3)`}},
		{name: "unknown", given: map[string]any{"id": "x", "treshold": 1}, wantErr: []string{`input "treshold" is not declared`, "cities, id, threshold"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PrepareInputs(t.Context(), fl, tt.given)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %s", engJSON(got))
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if engJSON(got) != tt.want {
				t.Fatalf("got %s want %s", engJSON(got), tt.want)
			}
		})
	}

	coerce := []struct {
		name, text string
		want       string
		wantErr    string
	}{
		{"id", "hello world", `"hello world"`, ""},
		{"threshold", "0.25", `0.25`, ""},
		{"cities", `["A","B"]`, `["A","B"]`, ""},
		{"threshold", "lots", "", "is not valid JSON"},
		{"nosuch", "1", "", "not declared"},
	}
	for _, c := range coerce {
		v, err := CoerceInput(fl, c.name, c.text)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("CoerceInput(%s, %q) err = %v, want %q", c.name, c.text, err, c.wantErr)
			}
			continue
		}
		if err != nil || engJSON(v) != c.want {
			t.Errorf("CoerceInput(%s, %q) = %s, %v; want %s", c.name, c.text, engJSON(v), err, c.want)
		}
	}
}

// TestInputsCheckedBeforeAnyCall: an invalid input stops the run before a
// single tool is called.
func TestInputsCheckedBeforeAnyCall(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(`
version: 1
name: t
inputs:
  n: {type: integer, minimum: 1}
steps:
  - id: s
    call: {server: a, tool: echo}
`, map[string]any{"n": 0})
	if err == nil || !strings.Contains(err.Error(), `input "n"`) {
		t.Fatalf("err = %v", err)
	}
	if n := h.services["a"].count("echo"); n != 0 {
		t.Fatalf("%d calls made before inputs were checked", n)
	}
}

// retryCase is one of TestRetry's steps and what running it must give.
type retryCase struct {
	name     string
	step     string
	trust    bool
	status   string
	attempts int
	calls    int
	wantErr  string
	notErr   string
	defaults string
}

func TestRetry(t *testing.T) {
	tests := []retryCase{
		{
			name: "idempotent tool retried on tool_error until it succeeds",
			step: `
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 2}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}`,
			trust: true, status: RunSucceeded, attempts: 3, calls: 3,
		},
		{
			name: "gives up after max_attempts",
			step: `
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 5}
    retry: {max_attempts: 2, initial_interval: 1ms, backoff: 1, on: [tool_error]}`,
			trust: true, status: RunFailed, attempts: 2, calls: 2, wantErr: "flaky k failed on call 2",
		},
		{
			name: "tool_error not retried unless listed",
			step: `
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 1}
    retry: {max_attempts: 3, initial_interval: 1ms}`,
			trust: true, status: RunFailed, attempts: 1, calls: 1,
		},
		{
			name: "annotations not trusted: idempotent tool not retried",
			step: `
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 1}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}`,
			trust: false, status: RunFailed, attempts: 1, calls: 1, wantErr: "not retried",
		},
		{
			name: "retry_unsafe allows retrying an untrusted tool",
			step: `
    call: {server: a, tool: flaky}
    with: {key: k, fail_times: 1}
    retry_unsafe: true
    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}`,
			trust: false, status: RunSucceeded, attempts: 2, calls: 2,
		},
		{
			name: "tool with effects and no key not retried, whatever the policy",
			step: `
    call: {server: a, tool: charge}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}`,
			trust: true, status: RunFailed, attempts: 1, calls: 1,
			wantErr: `card declined (not retried: a.charge is not known to be read-only or idempotent and step "s" has neither idempotency_key nor retry_unsafe, so it is called once although its retry allows 3 attempts; add idempotency_key`,
		},
		{
			name:     "tool with effects and no key not retried under defaults.retry",
			defaults: "defaults:\n  retry: {max_attempts: 2, initial_interval: 1ms, on: [tool_error]}\n",
			step: `
    call: {server: a, tool: charge}`,
			trust: true, status: RunFailed, attempts: 1, calls: 1, wantErr: "although defaults.retry allows 2 attempts",
		},
		{
			name: "tool with effects retried with an idempotency key",
			step: `
    call: {server: a, tool: charge}
    idempotency_key: ${ "charge-1" }
    retry: {max_attempts: 3, initial_interval: 1ms, on: [tool_error]}`,
			trust: true, status: RunFailed, attempts: 3, calls: 3, wantErr: "card declined",
		},
		{
			name: "tool with effects retried with retry_unsafe",
			step: `
    call: {server: a, tool: charge}
    retry_unsafe: true
    retry: {max_attempts: 2, initial_interval: 1ms, on: [tool_error]}`,
			trust: true, status: RunFailed, attempts: 2, calls: 2, wantErr: "card declined",
		},
		{
			name: "no note when the policy would not have retried anyway",
			step: `
    call: {server: a, tool: charge}
    retry: {max_attempts: 3, initial_interval: 1ms, on: [transport]}`,
			trust: true, status: RunFailed, attempts: 1, calls: 1, wantErr: "card declined", notErr: "not retried",
		},
		{
			name: "timeout per attempt, retried on timeout",
			step: `
    call: {server: a, tool: slow}
    with: {ms: 10000}
    timeout: 30ms
    retry: {max_attempts: 2, initial_interval: 1ms}`,
			trust: true, status: RunFailed, attempts: 2, calls: 2, wantErr: "timed out after 30ms",
		},
	}
	for _, rt := range runtimes {
		for _, tt := range tests {
			t.Run(rt+"/"+tt.name, func(t *testing.T) {
				testRetryCase(t, newHarnessOn(t, rt), tt)
			})
		}
	}
}

// testRetryCase runs one of TestRetry's steps on h.
func testRetryCase(t *testing.T, h *harness, tt retryCase) {
	f := parseFlow(t, "version: 1\nname: t\n"+tt.defaults+"steps:\n  - id: s"+tt.step+"\noutputs:\n  attempts: ${ .steps.s.attempts }\n")
	opts := h.opts(nil)
	if !tt.trust {
		opts.TrustAnnotations = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.runFlow(ctx, f, opts)
	if res.Status != tt.status {
		t.Fatalf("status %s want %s: %v", res.Status, tt.status, err)
	}
	if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
		t.Fatalf("err %v, want %q", err, tt.wantErr)
	}
	if tt.notErr != "" && err != nil && strings.Contains(err.Error(), tt.notErr) {
		t.Fatalf("err %v mentions %q", err, tt.notErr)
	}
	tool := f.Steps[0].Call.Tool
	if n := h.services["a"].count(tool); n != tt.calls {
		t.Errorf("%s called %d times, want %d", tool, n, tt.calls)
	}
	atts, err := h.journal.Attempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != tt.attempts {
		t.Errorf("journal has %d tt.attempts, want %d", len(atts), tt.attempts)
	}
}

// TestIdempotencyKey: the key travels in _meta, makes an unannotated tool
// retryable, and a server that honours it acts once.
func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(`
version: 1
name: t
steps:
  - id: mk
    for_each: ${ ["x", "y", "x"] }
    call: {server: a, tool: create}
    with: {title: ${ .item }}
    idempotency_key: ${ "ev-\(.item)" }
outputs:
  ids: ${ [.steps.mk.items[].result.id] }
  replayed: ${ [.steps.mk.items[].result.replayed] }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := h.services["a"]
	if len(svc.effects) != 2 || svc.keys["ev-x"] != 2 || svc.keys["ev-y"] != 1 {
		t.Fatalf("effects %v keys %v", svc.effects, svc.keys)
	}
	ids := res.Outputs["ids"].([]any)
	if ids[0] != ids[2] {
		t.Fatalf("same key gave ids %v", ids)
	}
	for _, m := range svc.metas {
		if _, ok := m[MetaIdempotencyKey]; !ok {
			t.Fatalf("call without %s in _meta: %v", MetaIdempotencyKey, m)
		}
	}
}

// TestDataFlowPolicyAtRunTime runs flows without validating them, so the
// engine alone must refuse undeclared cross-server flows.
func TestDataFlowPolicyAtRunTime(t *testing.T) {
	const body = `
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {secret: s3}
  - id: sink
    call: {server: b, tool: echo}
    with:
      plain: 1
      nested: {copy: ${ .steps.src.result.secret }}
`
	const eachBody = `
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {list: [x, y]}
  - id: sink
    for_each: ${ .steps.src.result.list }
    call: {server: b, tool: create}
    with: {title: fixed}
    idempotency_key: ${ .item }
`
	tests := []struct {
		name    string
		flow    string
		policy  []flow.FlowEdge
		wantErr []string
	}{
		{name: "undeclared flow refused", flow: body, wantErr: []string{"test.flow.yaml:12:", "step sink", "field with.nested.copy", `server "a"`, "to b.echo", `add "a -> b" to flows:`}},
		{name: "declared in the file", flow: "flows: [a -> b]\n" + body},
		{name: "declared in the global policy", flow: body, policy: []flow.FlowEdge{{From: "a", To: "b"}}},
		{name: "reverse direction does not count", flow: "flows: [b -> a]\n" + body, wantErr: []string{`add "a -> b"`}},
		{name: "item provenance reaches the idempotency key", flow: eachBody, wantErr: []string{"step sink ", "field idempotency_key", `add "a -> b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			f := parseUnvalidated(t, "version: 1\nname: t\n"+tt.flow)
			opts := h.opts(nil)
			opts.PolicyFlows = tt.policy
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Run(ctx, f, opts)
			sinkCalls := h.services["b"].count("echo") + h.services["b"].count("create")
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if sinkCalls == 0 {
					t.Fatal("sink not called")
				}
				return
			}
			if err == nil {
				t.Fatal("undeclared flow was allowed")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if sinkCalls != 0 {
				t.Fatalf("server b was called %d times despite the refusal", sinkCalls)
			}
			var pe *policyError
			if !errors.As(err, &pe) {
				t.Errorf("error is not a policy error: %T", err)
			}
		})
	}
}

// TestDataFlowPolicyRelay: B echoes A's data back, so C reading B's
// result receives A's data; the engine must refuse unless a -> c is
// declared, not only the hops a -> b and b -> c.
func TestDataFlowPolicyRelay(t *testing.T) {
	const body = `
steps:
  - id: src
    call: {server: a, tool: echo}
    with: {secret: s3}
  - id: mid
    call: {server: b, tool: echo}
    with: {copy: ${ .steps.src.result.secret }}
  - id: sink
    call: {server: c, tool: echo}
    with: {x: ${ .steps.mid.result.copy }}
`
	for _, tt := range []struct {
		name    string
		flows   string
		refused bool
	}{
		{name: "every hop declared but not the origin", flows: "flows: [a -> b, b -> c]\n", refused: true},
		{name: "origin declared too", flows: "flows: [a -> b, b -> c, a -> c]\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "a", "b", "c")
			f := parseUnvalidated(t, "version: 1\nname: t\n"+tt.flows+body)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Run(ctx, f, h.opts(nil))
			if h.services["b"].count("echo") != 1 {
				t.Errorf("the relay b was called %d times, want 1", h.services["b"].count("echo"))
			}
			if !tt.refused {
				if err != nil {
					t.Fatal(err)
				}
				if h.services["c"].count("echo") != 1 {
					t.Fatal("sink not called")
				}
				return
			}
			var pe *policyError
			if !errors.As(err, &pe) {
				t.Fatalf("want a policy error, got %v", err)
			}
			if pe.From != "a" || pe.To != "c" || !strings.Contains(err.Error(), `add "a -> c"`) {
				t.Errorf("refusal %q does not name a -> c", err)
			}
			if n := h.services["c"].count("echo"); n != 0 {
				t.Fatalf("server c was called %d times despite the refusal", n)
			}
		})
	}
}

// TestCancel: cancelling the run's context cancels the in-flight call on
// the server (MCP cancellation), journals it as cancelled, and the run
// ends cancelled.
func TestCancel(t *testing.T) {
	h := newHarness(t)
	f := parseFlow(t, `
version: 1
name: t
steps:
  - id: s
    for_each: ${ [1, 2] }
    call: {server: a, tool: slow}
    with: {ms: 60000, tag: ${ .item }}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := h.services["a"]
	go func() {
		// Cancel once both calls are in flight on the server.
		<-svc.started
		<-svc.started
		cancel()
	}()
	res, err := Run(ctx, f, h.opts(nil))
	if res == nil || res.Status != RunCancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("res %+v err %v", res, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		svc.mu.Lock()
		n := svc.cancelled
		svc.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server saw %d cancellations, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	atts, err := h.journal.Attempts(rctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 {
		t.Fatalf("%d attempts journalled", len(atts))
	}
	for _, a := range atts {
		if a.State != AttemptCancelled {
			t.Errorf("%s state %s, want cancelled", a.Path, a.State)
		}
	}
	run, err := h.journal.Run(rctx, res.RunID)
	if err != nil || run.Status != RunCancelled {
		t.Fatalf("run record %+v %v", run, err)
	}
}

// TestUnreferencedItemsNotHeld: a for_each step nothing reads keeps only
// counts, not its items.
func TestUnreferencedItemsNotHeld(t *testing.T) {
	h := newHarness(t)
	f := parseFlow(t, `
version: 1
name: t
steps:
  - id: quiet
    for_each: ${ [range(50)] }
    call: {server: a, tool: echo}
    with: {n: ${ .item }}
  - id: read
    for_each: ${ [range(3)] }
    call: {server: a, tool: echo}
    with: {n: ${ .item }}
  - id: counted
    for_each: ${ [range(40)] }
    call: {server: a, tool: echo}
    with: {n: ${ .item }}
outputs:
  n: ${ [.steps.read.items[].result.n] }
  c: ${ .steps.counted.counts.succeeded }
`)
	opts := h.opts(nil)
	opts.Journal = nil
	e, err := newEngine(f, opts, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if e.retained["quiet"] || !e.retained["read"] {
		t.Fatalf("retained = %v", e.retained)
	}
	e.runID = "r"
	top := &frame{results: map[string]*stepResult{}}
	if err := e.runGroup(context.Background(), top, f.Steps); err != nil {
		t.Fatal(err)
	}
	if q := top.results["quiet"]; q.view != nil || q.result != nil {
		t.Fatalf("quiet kept view %v result %v", q.view, q.result)
	}
	if r := top.results["read"]; len(r.view["items"].([]any)) != 3 {
		t.Fatalf("read items %v", r.view["items"])
	}
	c := top.results["counted"]
	if _, ok := c.view["items"]; ok || engJSON(c.view["counts"]) != `{"cancelled":0,"failed":0,"skipped":0,"succeeded":40,"total":40}` {
		t.Fatalf("counted view %v", c.view)
	}
}

func TestDryRun(t *testing.T) {
	for _, readOnlyCalls := range []bool{false, true} {
		t.Run(map[bool]string{false: "simulated", true: "read-only"}[readOnlyCalls], func(t *testing.T) {
			h := newHarness(t)
			f := parseFlow(t, `
version: 1
name: t
steps:
  - id: sum
    call: {server: a, tool: add}
    with: {a: 1, b: 2}
  - id: twice
    for_each: ${ [1, 2] }
    call: {server: a, tool: add}
    with: {a: ${ .steps.sum.result.sum }, b: ${ .item }}
  - id: bad
    call: {server: a, tool: add}
    with: {a: "not a number"}
  - id: mk
    call: {server: a, tool: create}
    with: {title: x}
    idempotency_key: k1
outputs:
  sums: ${ [.steps.twice.items[].result.sum] }
`)
			dr := &DryRun{Inner: NewLocalRuntime(h.caller), CallReadOnly: readOnlyCalls, TrustAnnotations: trustAll}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := Run(ctx, f, RunOptions{Runtime: dr, TrustAnnotations: trustAll})
			if err != nil {
				t.Fatal(err)
			}
			plan := dr.Plan()
			var paths []string
			for _, c := range plan {
				paths = append(paths, c.Path)
			}
			if engJSON(paths) != `["bad","mk","sum","twice[0]","twice[1]"]` {
				t.Fatalf("plan paths %v", paths)
			}
			if dr.Problems() != 1 || plan[0].Problem != `invalid arguments for a.add: argument "a" must be a number (got string "not a number"); missing required argument "b" (number)` {
				t.Fatalf("problems: %+v", plan[0])
			}
			if plan[1].IdempotencyKey != "k1" || plan[1].Called {
				t.Fatalf("mk %+v", plan[1])
			}
			svc := h.services["a"]
			if svc.count("create") != 0 {
				t.Fatal("a dry run called a tool with effects")
			}
			if readOnlyCalls {
				// add is read-only: really called (sum, twice[0], twice[1]; bad is invalid).
				if svc.count("add") != 3 || engJSON(res.Outputs["sums"]) != `[4,5]` {
					t.Fatalf("add calls %d, sums %v", svc.count("add"), res.Outputs["sums"])
				}
				return
			}
			if svc.count("add") != 0 || engJSON(res.Outputs["sums"]) != `[0,0]` {
				t.Fatalf("add calls %d, sums %v", svc.count("add"), res.Outputs["sums"])
			}
		})
	}
}

func TestSampleFromSchema(t *testing.T) {
	got := SampleFromSchema(map[string]any{"type": "object", "properties": map[string]any{
		"location": map[string]any{"type": "string"},
		"date":     map[string]any{"type": "string", "format": "date"},
		"p":        map[string]any{"type": "number", "minimum": 0.5},
		"n":        map[string]any{"type": "integer"},
		"kind":     map[string]any{"enum": []any{"x", "y"}},
		"tags":     map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"ok":       map[string]any{"type": []any{"null", "boolean"}},
	}})
	want := `{"date":"2000-01-01","kind":"x","location":"<location>","n":0,"ok":false,"p":0.5,"tags":["<tags>"]}`
	if engJSON(got) != want {
		t.Fatalf("got %s", engJSON(got))
	}
	if SampleFromSchema(nil) != nil {
		t.Fatal("nil schema")
	}
}

// countingRuntime counts the tasks the interpreter starts.
type countingRuntime struct {
	*LocalRuntime
	mu    sync.Mutex
	tasks int
}

func (r *countingRuntime) Go(ctx context.Context, fn func(ctx context.Context)) Task {
	r.mu.Lock()
	r.tasks++
	r.mu.Unlock()
	return r.LocalRuntime.Go(ctx, fn)
}

// TestForEachWorkers checks how many items a for_each has in flight at
// most: one worker task per allowed item, DefaultMaxConcurrency when the
// step sets no max_concurrency, never more than there are items.
func TestForEachWorkers(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		items int
		want  int
	}{
		{"default", "", 50, DefaultMaxConcurrency},
		{"explicit", "    max_concurrency: 3\n", 50, 3},
		{"above the default", "    max_concurrency: 20\n", 50, 20},
		{"fewer items than workers", "", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			f := parseFlow(t, fmt.Sprintf("version: 1\nname: t\nsteps:\n  - id: each\n    for_each: ${ [range(%d)] }\n%s    call: {server: a, tool: echo}\n    with: {n: ${ .item }}\n", tt.items, tt.extra))
			rt := &countingRuntime{LocalRuntime: NewLocalRuntime(h.caller)}
			opts := h.opts(nil)
			opts.Runtime = rt
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := Run(ctx, f, opts); err != nil {
				t.Fatal(err)
			}
			// One task for the step itself, then one per worker.
			if got := rt.tasks - 1; got != tt.want {
				t.Fatalf("%d workers, want %d", got, tt.want)
			}
			if n := h.services["a"].count("echo"); n != tt.items {
				t.Fatalf("%d calls for %d items", n, tt.items)
			}
		})
	}
}

// TestDryRunConditional: a call skipped because its if was false on
// simulated results is shown in the plan with its arguments, since a real
// run may make it; one skipped on inputs (real even in a dry run), or on
// results really fetched by --dry-run=read-only, is not.
func TestDryRunConditional(t *testing.T) {
	const src = `
version: 1
name: t
inputs:
  go: {type: boolean, default: false}
steps:
  - id: sum
    call: {server: a, tool: add}
    with: {a: 1, b: 2}
  - id: notify
    if: ${ .steps.sum.result.sum > 10 }
    call: {server: a, tool: create}
    with: {title: '${ "sum \(.steps.sum.result.sum)" }'}
    idempotency_key: ${ "n-\(.steps.sum.result.sum)" }
  - id: gated
    if: ${ .inputs.go }
    call: {server: a, tool: create}
    with: {title: gated}
`
	for _, readOnlyCalls := range []bool{false, true} {
		t.Run(map[bool]string{false: "simulated", true: "read-only"}[readOnlyCalls], func(t *testing.T) {
			h := newHarness(t)
			dr := &DryRun{Inner: NewLocalRuntime(h.caller), CallReadOnly: readOnlyCalls, TrustAnnotations: trustAll}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := Run(ctx, parseFlow(t, src), RunOptions{Runtime: dr, TrustAnnotations: trustAll})
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps["notify"] != StatusSkipped || res.Steps["gated"] != StatusSkipped {
				t.Fatalf("steps %v", res.Steps)
			}
			plan := dr.Plan()
			if readOnlyCalls {
				if len(plan) != 1 || plan[0].Path != "sum" || !plan[0].Called {
					t.Fatalf("read-only plan %+v", plan)
				}
				return
			}
			if len(plan) != 2 || plan[0].Path != "notify" || plan[1].Path != "sum" {
				t.Fatalf("plan %+v", plan)
			}
			n := plan[0]
			if !n.Conditional || n.Called || n.Problem != "" || engJSON(n.Args) != `{"title":"sum 0"}` || n.IdempotencyKey != "n-0" {
				t.Fatalf("notify %+v", n)
			}
			if plan[1].Conditional || dr.Problems() != 0 {
				t.Fatalf("sum %+v, problems %d", plan[1], dr.Problems())
			}
			if h.services["a"].count("create") != 0 {
				t.Fatal("a dry run called create")
			}
		})
	}
}
