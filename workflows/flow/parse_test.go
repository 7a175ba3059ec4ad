package flow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadIssueExample(t *testing.T) {
	f, err := Load("testdata/format/rain-reminders.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || f.Name != "rain-reminders" || len(f.Digest) != 64 {
		t.Fatalf("header: version %d name %q digest %q", f.Version, f.Name, f.Digest)
	}
	if got := f.Inputs["threshold"].Schema["default"]; got != 0.6 {
		t.Errorf("threshold default = %#v", got)
	}
	if want := []FlowEdge{{From: "weather", To: "calendar", Pos: Pos{File: f.Source, Line: 7, Column: 9}, field: "flows[0]"}}; !reflect.DeepEqual(f.Flows, want) {
		t.Errorf("flows = %+v", f.Flows)
	}
	if f.Defaults.Timeout != 20*time.Second {
		t.Errorf("default timeout %v", f.Defaults.Timeout)
	}
	r := f.Defaults.Retry
	if r.MaxAttempts != 3 || r.InitialInterval != time.Second || r.Backoff != 2 || r.MaxInterval != 30*time.Second ||
		!reflect.DeepEqual(r.On, []string{"transport", "timeout"}) {
		t.Errorf("default retry %+v", r)
	}
	if len(f.Steps) != 2 {
		t.Fatalf("%d steps", len(f.Steps))
	}
	fc, rm := f.Steps[0], f.Steps[1]
	if fc.ID != "forecast" || fc.Path != "forecast" || fc.MaxConcurrency != 4 || *fc.Call != (Call{Server: "weather", Tool: "get_forecast", Pos: Pos{File: f.Source, Line: 15, Column: 11}}) {
		t.Errorf("forecast = %+v call %+v", fc, fc.Call)
	}
	if fc.ForEach.Source != ".inputs.cities" || fc.ForEach.Pos != (Pos{File: f.Source, Line: 13, Column: 15}) {
		t.Errorf("forecast for_each %+v", fc.ForEach)
	}
	if got := fc.With.Keys; !reflect.DeepEqual(got, []string{"location", "days"}) {
		t.Errorf("with keys %v", got)
	}
	if d := fc.With.Object["days"]; d.Kind != KindLiteral || d.Literal != 1 {
		t.Errorf("days = %+v", d)
	}
	if loc := fc.With.Object["location"]; loc.Kind != KindExpr || loc.Expr.Source != ".item" || loc.Pos != (Pos{File: f.Source, Line: 16, Column: 22}) {
		t.Errorf("location = %+v", loc)
	}
	if !reflect.DeepEqual(rm.ForEach.References, []string{"forecast"}) {
		t.Errorf("remind for_each refs %v", rm.ForEach.References)
	}
	if rm.OnError != "continue" || rm.IdempotencyKey == nil || rm.If == nil {
		t.Errorf("remind = %+v", rm)
	}
	if title := rm.With.Object["title"]; title.Expr.Source != `"Umbrella: \(.item.location)"` {
		t.Errorf("title source %q", title.Expr.Source)
	}
	if got := f.EffectiveRetry(rm); got.MaxAttempts != 3 || got.Jitter != "full" {
		t.Errorf("effective retry %+v", got)
	}
	if got := f.EffectiveTimeout(rm); got != 20*time.Second {
		t.Errorf("effective timeout %v", got)
	}
	if !reflect.DeepEqual(f.OutputOrder, []string{"created"}) {
		t.Errorf("outputs %v", f.OutputOrder)
	}
	if probs := Validate(context.Background(), f, ValidateOptions{}); len(probs) > 0 {
		t.Errorf("issue example has problems:\n%v", probs)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.flow.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	var probs Problems
	if errors.As(err, &probs) {
		t.Fatalf("a read error is not Problems: %v", err)
	}
}

func TestParseNestedPathsAndLiterals(t *testing.T) {
	src := header + `steps:
  - id: each
    for_each: [a, b]
    steps:
      - id: inner
        call: {server: s, tool: t}
        with:
          raw: {literal: "${ not an expression }"}
          list: [1, "two", ${ .item }]
          when: 2026-12-02
  - id: both
    parallel:
      left:
        - id: l1
          call: {server: s, tool: t}
      right:
        - id: r1
          call: {server: s, tool: t}
    if: true
`
	f, err := Parse("f.flow.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	each := f.Steps[0]
	if each.ForEach.Source != `["a","b"]` {
		t.Errorf("literal for_each compiled as %q", each.ForEach.Source)
	}
	inner := each.Steps[0]
	if inner.Path != "each/inner" || inner.Parent != each {
		t.Errorf("inner path %q", inner.Path)
	}
	w := inner.With.Object
	if w["raw"].Kind != KindLiteral || w["raw"].Literal != "${ not an expression }" {
		t.Errorf("raw = %+v", w["raw"])
	}
	if l := w["list"]; l.Kind != KindArray || l.Array[2].Kind != KindExpr || l.Array[1].Literal != "two" {
		t.Errorf("list = %+v", l)
	}
	if w["when"].Literal != "2026-12-02" {
		t.Errorf("a date stays a string, got %#v", w["when"].Literal)
	}
	both := f.Steps[1]
	if !reflect.DeepEqual(both.BranchOrder, []string{"left", "right"}) || both.Parallel["right"][0].Path != "both/right/r1" {
		t.Errorf("parallel %+v", both.Parallel)
	}
	if both.Parallel["left"][0].Branch() != "left" || both.Parallel["left"][0].Field() != "steps[1].parallel.left[0]" {
		t.Errorf("branch %q field %q", both.Parallel["left"][0].Branch(), both.Parallel["left"][0].Field())
	}
	if both.If.Source != "true" {
		t.Errorf("if literal compiled as %q", both.If.Source)
	}
	if got := len(f.AllSteps()); got != 5 {
		t.Errorf("AllSteps = %d", got)
	}
}

func TestParseProblems(t *testing.T) {
	runProblemCases(t, []problemCase{
		{name: "empty file", src: "", want: []string{"1:1 : the file is empty"}},
		{name: "not a mapping", src: "- a\n", want: []string{"1:1 : a flow is a YAML mapping"}},
		{name: "missing header", src: "steps:\n  - id: a\n    call: {server: s, tool: t}\n", want: []string{
			"1:1 : missing version", "1:1 : missing name"}},
		{name: "wrong version", src: "version: 2\nname: t\nsteps: [{id: a, call: {server: s, tool: t}}]\n", want: []string{
			"1:10 version: unsupported version 2"}},
		{name: "version not a number", src: "version: one\nname: t\nsteps: [{id: a, call: {server: s, tool: t}}]\n", want: []string{
			"1:10 version: must be an integer"}},
		{name: "bad name", src: "version: 1\nname: -x\nsteps: [{id: a, call: {server: s, tool: t}}]\n", want: []string{
			"2:7 name: invalid name"}},
		{name: "unknown top-level field", src: header + "stepz: []\n", want: []string{
			`3:1 stepz: unknown field "stepz" (did you mean "steps"?)`, "1:1 : missing steps"}},
		{name: "duplicate key", src: header + "name: u\nsteps: [{id: a, call: {server: s, tool: t}}]\n", want: []string{
			`3:1 name: duplicate key "name" (first at line 2)`}},
		{name: "yaml syntax error with expression hint", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with:\n      x: ${ \"a: b\" } x: y\n", want: []string{
			`7:0 : YAML syntax error: mapping values are not allowed in this context; if this is about the ${ ... } here`}},
		{name: "two documents", src: header + "steps: [{id: a, call: {server: s, tool: t}}]\n---\nx: 1\n", want: []string{
			"4:1 : a flow file holds one YAML document"}},
		{name: "no steps", src: header + "steps: []\n", want: []string{"3:8 steps: a flow needs at least one step"}},
		{name: "step not a mapping", src: header + "steps:\n  - just text\n", want: []string{
			"4:5 steps[0]: a step is a mapping"}},
		{name: "step without id or action", src: header + "steps:\n  - description: x\n", want: []string{
			"4:5 steps[0]: missing id", `4:5 steps[0]: step "" does nothing`}},
		{name: "unknown step field", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    retries: 3\n", want: []string{
			`6:5 steps[0].retries: unknown field "retries" (did you mean "retry"?)`}},
		{name: "bad step id", src: header + "steps:\n  - id: get-forecast\n    call: {server: s, tool: t}\n", want: []string{
			`4:9 steps[0].id: invalid step id "get-forecast"`}},
		{name: "call as a string", src: header + "steps:\n  - id: a\n    call: weather.get_forecast\n", want: []string{
			"5:11 steps[0].call: must be a mapping (tool names may contain dots); write call: {server: weather, tool: get_forecast}"}},
		{name: "call missing tool", src: header + "steps:\n  - id: a\n    call: {server: s}\n", want: []string{
			"5:11 steps[0].call: missing tool"}},
		{name: "call and steps", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    steps:\n      - id: b\n        call: {server: s, tool: t}\n", want: []string{
			`4:5 steps[0]: step "a" has more than one of call, read, steps and parallel`}},
		{name: "call-only fields on a group", src: header + "steps:\n  - id: g\n    with: {a: 1}\n    retry: {max_attempts: 2}\n    steps:\n      - id: b\n        call: {server: s, tool: t}\n", want: []string{
			"5:5 steps[0].with: with applies only to a step with call:",
			"6:5 steps[0].retry: retry applies only to a step with call:"}},
		{name: "max_concurrency without for_each", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    max_concurrency: 2\n", want: []string{
			"6:5 steps[0].max_concurrency: max_concurrency applies only with for_each"}},
		{name: "max_concurrency zero", src: header + "steps:\n  - id: a\n    for_each: [1]\n    call: {server: s, tool: t}\n    max_concurrency: 0\n", want: []string{
			"7:22 steps[0].max_concurrency: must be at least 1"}},
		{name: "bad durations", src: header + "defaults: {timeout: 20}\nsteps:\n  - id: a\n    call: {server: s, tool: t}\n    timeout: soon\n    retry: {initial_interval: -1s}\n", want: []string{
			"3:21 defaults.timeout: must be a duration",
			`7:14 steps[0].timeout: invalid duration "soon"`,
			`8:31 steps[0].retry.initial_interval: invalid duration "-1s"`}},
		{name: "bad retry", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    retry: {max_attempts: 0, backoff: 0.5, jitter: some, on: [timout], max_interval: 1s, initial_interval: 2s}\n", want: []string{
			"6:27 steps[0].retry.max_attempts: must be at least 1",
			"6:39 steps[0].retry.backoff: must be a number >= 1",
			`6:52 steps[0].retry.jitter: must be none or full, found "some"`,
			`6:63 steps[0].retry.on[0]: unknown error class "timout" (did you mean "timeout"?)`,
			"6:86 steps[0].retry.max_interval: max_interval 1s is shorter than initial_interval 2s"}},
		{name: "on_error value", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    on_error: explode!\n", want: []string{
			`6:15 steps[0].on_error: must be fail, continue or the id of a step`}},
		{name: "flows syntax", src: header + "flows: [weather calendar, a -> a, x -> y -> z]\nsteps: [{id: a, call: {server: a, tool: t}}]\n", want: []string{
			`3:9 flows[0]: invalid flow "weather calendar"`,
			`3:27 flows[1]: flow "a -> a" is not needed`,
			`3:35 flows[2]: invalid flow "x -> y -> z"`}},
		{name: "inputs", src: header + "inputs:\n  bad-name: {type: string}\n  n: 3\nsteps: [{id: a, call: {server: s, tool: t}}]\n", want: []string{
			`4:3 inputs.bad-name: invalid input name "bad-name"`,
			"5:6 inputs.n: must be a JSON Schema mapping"}},
		{name: "partial template", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with:\n      greeting: Hello ${ .inputs.name }\n", want: []string{
			"7:17 steps[0].with.greeting: a string may not contain ${ ... } inside other text"}},
		{name: "partial template in a flow mapping", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with: {greeting: Hello ${ .inputs.name }}\n", want: []string{
			"6:0 : YAML syntax error: did not find expected ',' or '}'; if this is about the ${ ... } here: an expression must be the whole value"}},
		{name: "two expressions in one value", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with:\n      x: ${ .a } and ${ .b }\n", want: []string{
			"7:16 steps[0].with.x: jq syntax error: unexpected token \"}\"; a value is one whole ${ ... } expression or a literal"}},
		{name: "list of expressions as for_each", src: header + "steps:\n  - id: a\n    for_each: [${ .inputs.x }]\n    call: {server: s, tool: t}\n", want: []string{
			"5:15 steps[0].for_each: write the whole value as one expression"}},
		{name: "parallel problems", src: header + "steps:\n  - id: p\n    for_each: [1]\n    parallel:\n      a-b: []\n", want: []string{
			"5:5 steps[0].for_each: for_each cannot drive parallel branches",
			`7:7 steps[0].parallel.a-b: invalid branch name "a-b"`,
			"7:12 steps[0].parallel.a-b: a branch needs at least one step"}},
		{name: "merge keys", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with:\n      <<: {x: 1}\n", want: []string{
			"7:7 steps[0].with.<<: YAML merge keys (<<) are not supported"}},
		{name: "non-JSON number", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    with: {x: .inf}\n", want: []string{
			"6:15 steps[0].with.x: .inf is not a JSON number"}},
		{name: "literal types of evaluated fields", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    for_each: cities\n    if: 1\n    idempotency_key: [k]\n", want: []string{
			`6:15 steps[0].for_each: must be a list or a ${ ... } expression, found "cities"`,
			`7:9 steps[0].if: must be a boolean or a ${ ... } expression, found "1"`,
			`8:22 steps[0].idempotency_key: must be a string or a ${ ... } expression, found a list`}},
		{name: "retry_unsafe not a bool", src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    retry_unsafe: yes please\n", want: []string{
			`6:19 steps[0].retry_unsafe: must be true or false`}},
	})
}

func TestParseRecursiveAliases(t *testing.T) {
	for _, src := range []string{
		header + "steps: &s [{id: a, steps: *s}]\n",
		header + "steps: [{id: a, call: {server: s, tool: t}, with: &w {x: *w}}]\n",
		header + "inputs: &i {a: *i}\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
	} {
		_, err := Parse("f.flow.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "levels deep") {
			t.Errorf("%q: err = %v", src, err)
		}
	}
}

func TestParseAliasBomb(t *testing.T) {
	src := header + `a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
steps:
  - id: s
    call: {server: s, tool: t}
    with: {x: *g}
`
	_, err := Parse("f.flow.yaml", []byte(src))
	if err == nil {
		t.Fatal("an alias bomb parsed")
	}
}
