package flow

import (
	"os"
	"strings"
	"testing"
)

func TestValidateProblems(t *testing.T) {
	runProblemCases(t, []problemCase{
		{name: "duplicate id in a nested group", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
  - id: g
    steps:
      - id: a
        call: {server: s, tool: t}
`, want: []string{`8:13 steps[1].steps[0].id: duplicate step id "a" (first used at line 4)`}},
		{name: "unknown step", src: header + `steps:
  - id: forecast
    call: {server: s, tool: t}
  - id: b
    call: {server: s, tool: t}
    with: {x: ${ .steps.forcast.result }}
`, want: []string{`8:15 steps[1].with.x: unknown step "forcast" in .steps.forcast (did you mean "forecast"?)`}},
		{name: "own result", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    if: ${ .steps.a.status == "failed" }
`, want: []string{`6:9 steps[0].if: step "a" reads its own result`}},
		{name: "unknown step field and items without for_each", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
  - id: b
    call: {server: s, tool: t}
    with:
      x: ${ .steps.a.reslt }
      y: ${ .steps.a.items }
`, want: []string{
			`9:10 steps[1].with.x: unknown field "reslt" in .steps.a.reslt (did you mean "result"?)`,
			`10:10 steps[1].with.y: step "a" has no for_each, so no .items; read .steps.a.result`}},
		{name: "fields by step kind", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
  - id: each
    for_each: ${ [1] }
    call: {server: s, tool: t}
  - id: g
    steps:
      - id: inner
        call: {server: s, tool: t}
  - id: p
    parallel:
      left:
        - id: l
          call: {server: s, tool: t}
  - id: b
    call: {server: s, tool: t}
    with:
      ok: [${ .steps.each.counts.total }, ${ .steps.g.steps.inner.result }, ${ .steps.p.branches.left.status }, ${ .steps.a.attempts }]
      counts: ${ .steps.a.counts }
      attempts: ${ .steps.each.attempts }
      child: ${ .steps.g.steps.innr }
      branch: ${ .steps.p.branches.right }
      steps: ${ .steps.p.steps }
`, want: []string{
			`22:15 steps[4].with.counts: unknown field "counts" in .steps.a.counts; a call step has status, result, error, attempts, content, text`,
			`23:17 steps[4].with.attempts: unknown field "attempts" in .steps.each.attempts; each item has it: .steps.each.items[].attempts; a for_each step has status, result, error, counts, items`,
			`24:14 steps[4].with.child: group "g" has no step "innr" in .steps.g.steps.innr (did you mean "inner"?); its steps are inner`,
			`25:15 steps[4].with.branch: parallel step "p" has no branch "right" in .steps.p.branches.right; its branches are left`,
			`26:14 steps[4].with.steps: unknown field "steps" in .steps.p.steps; a parallel step has status, result, error, branches`}},
		{name: "group scoping", src: header + `steps:
  - id: g
    for_each: [1, 2]
    steps:
      - id: inner
        call: {server: s, tool: t}
      - id: sibling
        call: {server: s, tool: t}
        with: {x: ${ .steps.inner.result }, y: ${ .steps.g.items }}
  - id: after
    call: {server: s, tool: t}
    with: {x: ${ .steps.inner.result }, y: ${ .steps.g.items }}
outputs:
  bad: ${ .steps.inner.result }
  good: ${ .steps.g.items }
`, want: []string{
			`11:48 steps[0].steps[1].with.y: reads .steps.g, the group enclosing this step`,
			`14:15 steps[1].with.x: step "inner" is inside group "g" and private to it; depend on "g" instead`,
			`16:8 outputs.bad: outputs may read top-level steps only; "inner" is inside group "g"; depend on "g" instead`}},
		{name: "parallel branches are private to each other", src: header + `steps:
  - id: p
    parallel:
      left:
        - id: l
          call: {server: s, tool: t}
      right:
        - id: r
          call: {server: s, tool: t}
          needs: l
`, want: []string{`12:18 steps[0].parallel.right[0].needs[0]: step "l" is inside group "p" and private to it`}},
		{name: "needs", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    needs: [b, nope, a]
  - id: b
    call: {server: s, tool: t}
`, want: []string{
			`6:16 steps[0].needs[1]: unknown step "nope"`,
			`6:22 steps[0].needs[2]: step "a" names itself in needs`}},
		{name: "cycle through needs and references", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    with: {x: ${ .steps.c.result }}
  - id: b
    call: {server: s, tool: t}
    needs: a
  - id: c
    call: {server: s, tool: t}
    with: {y: ${ .steps.b.status }}
`, want: []string{`4:5 steps[0]: dependency cycle: a -> c -> b -> a (a reads .steps.c in with.x; c reads .steps.b in with.y; b needs it)`}},
		{name: "cycle lifted out of a group", src: header + `steps:
  - id: g
    steps:
      - id: inner
        call: {server: s, tool: t}
        with: {x: ${ .steps.late.result }}
  - id: late
    call: {server: s, tool: t}
    needs: g
`, want: []string{`4:5 steps[0]: dependency cycle: g -> late -> g (g its step "inner" reads .steps.late in with.x; late needs it)`}},
		{name: "on_error target", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    on_error: handler
  - id: b
    call: {server: s, tool: t}
    on_error: b
  - id: handle
    call: {server: s, tool: t}
`, want: []string{
			`6:15 steps[0].on_error: unknown step "handler" (did you mean "handle"?)`,
			`9:15 steps[1].on_error: step "b" names itself in on_error`}},
		{name: "inputs", src: header + `inputs:
  n: {type: integer, default: "three"}
  s: {type: nope}
steps:
  - id: a
    call: {server: s, tool: t}
    with: {x: ${ .inputs.m }}
`, want: []string{
			`4:3 inputs.n: invalid schema or default`,
			`5:3 inputs.s: invalid schema: unknown type "nope"`,
			`9:15 steps[0].with.x: undeclared input "m"; declare it under inputs:`}},
		{name: "item outside for_each", src: header + `steps:
  - id: a
    for_each: ${ [.item] }
    call: {server: s, tool: t}
    with: {x: ${ .item }}
  - id: b
    call: {server: s, tool: t}
    with: {x: ${ .index }}
outputs:
  o: ${ .item }
`, want: []string{
			`5:15 steps[0].for_each: .item is bound only inside a for_each step`,
			`10:15 steps[1].with.x: .index is bound only inside a for_each step`,
			`12:6 outputs.o: .item is bound only inside a for_each step`}},
	})
}

func TestValidateFlows(t *testing.T) {
	issue, err := os.ReadFile("testdata/format/rain-reminders.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	undeclared := strings.Replace(string(issue), "flows: [weather -> calendar]", "flows: []", 1)
	runProblemCases(t, []problemCase{
		{name: "issue example without its flow", src: undeclared, want: []string{
			`22:14 steps[1].with.title: step "remind" sends data from server "weather" (via .item (from .steps.forecast)) to calendar.create_event in fields with.title, with.start and idempotency_key; this flow is not declared: add "weather -> calendar" to flows:`}},
		{name: "issue example allowed by global policy", src: undeclared,
			opts: ValidateOptions{PolicyFlows: []FlowEdge{{From: "weather", To: "calendar"}}}},
		{name: "direct reference, group and idempotency key", src: header + `flows: [a -> c]
steps:
  - id: fa
    call: {server: a, tool: t}
  - id: g
    steps:
      - id: fb
        call: {server: b, tool: t}
  - id: to_c
    call: {server: c, tool: t}
    with:
      ok: ${ .steps.fa.result }
      both: ${ [.steps.fa.result, .steps.g.result] }
    idempotency_key: ${ .steps.g.result | length | tostring }
    if: ${ .steps.fa.status == "succeeded" }
`, want: []string{
			`15:13 steps[2].with.both: step "to_c" sends data from server "b" (via .steps.g) to c.t in fields with.both and idempotency_key; this flow is not declared: add "b -> c" to flows:`}},
		{name: "nested for_each item", src: header + `steps:
  - id: src
    call: {server: a, tool: t}
  - id: outer
    for_each: ${ .steps.src.result }
    steps:
      - id: inner
        for_each: ${ .item.children }
        call: {server: b, tool: t}
        with: {x: ${ .item }}
`, want: []string{
			`12:19 steps[1].steps[0].with.x: step "inner" sends data from server "a" (via .item (from .steps.src)) to b.t in field with.x; this flow is not declared: add "a -> b" to flows:`}},
		{name: "data relayed through an echoing server keeps its origin", src: header + `flows: [a -> b, b -> c]
steps:
  - id: src
    call: {server: a, tool: t}
  - id: mid
    call: {server: b, tool: echo}
    with: {copy: ${ .steps.src.result }}
  - id: sink
    call: {server: c, tool: t}
    with: {x: ${ .steps.mid.result.copy }}
`, want: []string{
			`12:15 steps[2].with.x: step "sink" sends data from server "a" (via .steps.mid (from .steps.src)) to c.t in field with.x; this flow is not declared: add "a -> c" to flows:`}},
		{name: "relay allowed when every hop is declared", src: header + `flows: [a -> b, b -> c, a -> c]
steps:
  - id: src
    call: {server: a, tool: t}
  - id: g
    steps:
      - id: mid
        for_each: ${ [1, 2] }
        call: {server: b, tool: echo}
        with: {copy: ${ .steps.src.result }}
  - id: sink
    call: {server: c, tool: t}
    with: {x: ${ .steps.g.result }}
`},
		{name: "relay through a group and for_each items", src: header + `flows: [a -> b, b -> c]
steps:
  - id: src
    call: {server: a, tool: t}
  - id: g
    for_each: ${ .steps.src.result }
    steps:
      - id: mid
        call: {server: b, tool: echo}
        with: {copy: ${ .item }}
  - id: sink
    call: {server: c, tool: t}
    with: {x: ${ .steps.g.result }}
`, want: []string{
			`15:15 steps[2].with.x: step "sink" sends data from server "a" (via .steps.g (from .steps.src)) to c.t in field with.x; this flow is not declared: add "a -> c" to flows:`}},
		{name: "a for_each's view carries its list", src: header + `flows: [a -> c, c -> b]
steps:
  - id: src
    call: {server: a, tool: t}
  - id: each
    for_each: ${ .steps.src.result }
    call: {server: c, tool: t}
  - id: sink
    call: {server: b, tool: t}
    with: {x: '${ [.steps.each.items[].item] }'}
`, want: []string{
			`12:15 steps[2].with.x: step "sink" sends data from server "a" (via .steps.each (from .steps.src)) to b.t in field with.x; this flow is not declared: add "a -> b" to flows:`}},
		{name: "an if decides a call", src: header + `steps:
  - id: src
    call: {server: a, tool: t}
  - id: sink
    if: ${ .steps.src.result.flag }
    call: {server: b, tool: t}
`, want: []string{
			`7:9 steps[1].if: step "sink" calls b.t under the control of data from server "a" (via the if of step "sink" at line 7 (from .steps.src)), so whether and how often it calls tells server "b" about that data; this flow is not declared: add "a -> b" to flows: (or, for every flow, to policy.flows in the config)`}},
		{name: "an enclosing group decides, reported at the call", src: header + `steps:
  - id: src
    call: {server: a, tool: t}
  - id: g
    for_each: ${ .steps.src.result }
    steps:
      - id: sink
        call: {server: b, tool: t}
`, want: []string{
			`9:9 steps[1].steps[0]: step "sink" calls b.t under the control of data from server "a" (via the for_each of step "g" at line 7 (from .steps.src))`}},
		{name: "a handler runs on another server's failure", src: header + `steps:
  - id: probe
    call: {server: a, tool: t}
    on_error: sink
  - id: sink
    call: {server: b, tool: t}
`, want: []string{
			`7:5 steps[1]: step "sink" calls b.t under the control of data from server "a" (via a failure of step "probe" (line 4), which runs it as on_error handler)`}},
		{name: "data and control from one server are one problem", src: header + `steps:
  - id: src
    call: {server: a, tool: t}
  - id: sink
    if: ${ .steps.src.result.flag }
    call: {server: b, tool: t}
    with: {x: ${ .steps.src.result.x }}
`, want: []string{
			`9:15 steps[1].with.x: step "sink" sends data from server "a" (via .steps.src) to b.t in field with.x`}},
		{name: "flows naming servers no step calls", src: header + `flows: [wether -> calendar]
steps:
  - id: a
    call: {server: weather, tool: t}
  - id: b
    call: {server: calendar, tool: t}
`, want: []string{`3:9 flows[0]: no step calls server "wether" (did you mean "weather"?)`}},
	})
}
