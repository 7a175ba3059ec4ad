package flow

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func TestCompileExprRejects(t *testing.T) {
	for _, tc := range []struct {
		src  string
		col  int
		want string
	}{
		{"now", 1, "now is not allowed in flow expressions: it reads the clock"},
		{".inputs.t | localtime", 1, "localtime is not allowed"},
		{"input", 1, "input is not allowed"},
		{"[inputs]", 1, "inputs is not allowed"},
		{"$ENV.HOME", 1, "$ENV is not allowed"},
		{"env.HOME", 1, "env is not allowed"},
		{"input_filename", 1, "input_filename is not allowed"},
		{".inputs.a | debug", 1, "debug is not allowed"},
		{".inputs.a | debug(\"x\")", 1, "debug is not allowed"},
		{".inputs.a | stderr", 1, "stderr is not allowed"},
		{"halt", 1, "halt is not allowed"},
		{".inputs.a | halt_error", 1, "halt_error is not allowed"},
		{"input_line_number", 1, "input_line_number is not allowed"},
		{"get_search_list", 1, "get_search_list is not allowed"},
		{".", 1, "expression reads the whole scope"},
		{"..", 1, "expression reads the whole scope"},
		{"keys", 1, "expression reads the whole scope"},
		{"to_entries", 1, "expression reads the whole scope"},
		{"{steps}", 1, ".steps needs a step id"},
		{".steps", 1, ".steps needs a step id"},
		{".steps | keys", 1, ".steps needs a step id"},
		{".steps[.inputs.which]", 1, ".steps needs a step id"},
		{". as $s | $s.steps.a", 1, "expression reads the whole scope"},
		{".steps.a.result |= 1", 1, "expression reads the whole scope"},
		{"tojson", 1, "expression reads the whole scope"},
		{"getpath([\"steps\",\"a\"])", 1, "expression reads the whole scope"},
		{".secrets.token", 1, ".secrets is not in scope"},
		{".input.x", 1, `.input is not in scope (did you mean "inputs"?)`},
		{".run.nmae", 1, `.run.nmae does not exist (did you mean "name"?); .run has .run.id and .run.name`},
		{".run.started_at", 1, `.run.started_at does not exist; .run has .run.id and .run.name`},
		{"import \"m\" as m; .inputs", 1, "jq modules (import/include) are not allowed"},
		{"", 1, "empty expression"},
		{".a | | .b", 6, `jq syntax error: unexpected token "|"`},
		{"[.inputs.a", 11, "jq syntax error: unexpected EOF"},
		{"undefined_function(1)", 1, "jq: function not defined: undefined_function/1"},
		{"$nope", 1, "jq: variable not defined: $nope"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			_, err := CompileExpr(tc.src)
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("err = %v, want Problems", err)
			}
			p := probs[0]
			if !strings.Contains(p.Message, tc.want) || p.Pos.Line != 1 || p.Pos.Column != tc.col {
				t.Errorf("got %d:%d %q, want 1:%d %q", p.Pos.Line, p.Pos.Column, p.Message, tc.col, tc.want)
			}
		})
	}
}

func TestCompileExprAccepts(t *testing.T) {
	for _, tc := range []struct {
		src   string
		refs  []string
		paths []string // dotted
	}{
		{`.inputs.cities`, nil, []string{"inputs.cities"}},
		{`[.steps.forecast.items[] | select(.status == "succeeded") | .result]`, []string{"forecast"}, []string{"steps.forecast.items"}},
		{`.steps["a"].result.x`, []string{"a"}, []string{"steps.a.result.x"}},
		{`."steps".a?.result`, []string{"a"}, []string{"steps.a"}},
		{`"Umbrella: \(.item.location) (\(.item.p * 100 | round)% rain)"`, nil, []string{"item.location", "item.p"}},
		{`reduce .steps.a.items[] as $i (0; . + $i.result)`, []string{"a"}, []string{"steps.a.items"}},
		{`def twice: . * 2; .inputs.n | twice`, nil, []string{"inputs.n"}},
		{`first(.steps.b.items[]) // .steps.c.result`, []string{"b", "c"}, []string{"steps.b.items", "steps.c.result"}},
		{`[range(3)] | map(. + 1)`, nil, nil},
		{`if .item.ok then .inputs.a else null end`, nil, []string{"inputs.a", "item.ok"}},
		{`try .item.a catch .`, nil, []string{"item.a"}},
		{`{a: .inputs.x, b: [.index]}`, nil, []string{"index", "inputs.x"}},
		{`.steps.a.result as {x: $x} | $x + .inputs.y`, []string{"a"}, []string{"inputs.y", "steps.a.result"}},
		{`.run.id`, nil, []string{"run.id"}},
		{`.steps.a.result | keys`, []string{"a"}, []string{"steps.a.result"}},
		{`"x" | @base64`, nil, nil},
	} {
		t.Run(tc.src, func(t *testing.T) {
			e, err := CompileExpr(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.References, tc.refs) {
				t.Errorf("references %v, want %v", e.References, tc.refs)
			}
			var paths []string
			for _, p := range e.Paths {
				paths = append(paths, strings.Join(p, "."))
			}
			if !reflect.DeepEqual(paths, tc.paths) {
				t.Errorf("paths %v, want %v", paths, tc.paths)
			}
		})
	}
}

func TestSimplePath(t *testing.T) {
	for src, want := range map[string][]string{
		".steps.forecast.result.location": {"steps", "forecast", "result", "location"},
		`.inputs["calendar_id"]`:          {"inputs", "calendar_id"},
		".item":                           {"item"},
		".item.a?":                        nil,
		".steps.a.items[]":                nil,
		".inputs.a | .b":                  nil,
		".inputs.a + 1":                   nil,
		`"x"`:                             nil,
	} {
		e, err := CompileExpr(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.SimplePath(); !reflect.DeepEqual(got, want) {
			t.Errorf("SimplePath(%s) = %v, want %v", src, got, want)
		}
	}
}

func mustExpr(t *testing.T, src string) *Expr {
	t.Helper()
	e, err := CompileExpr(src)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The worked example of the format notes: Oslo at 80% rain gets a
// reminder, Bergen at 30% does not.
func TestEvalRainReminder(t *testing.T) {
	ctx := context.Background()
	scope := func(item map[string]any) any {
		return map[string]any{"inputs": map[string]any{"threshold": 0.6}, "item": item, "steps": map[string]any{}}
	}
	oslo := scope(map[string]any{"location": "Oslo", "precipitation_probability": 0.8, "date": "2026-12-02"})
	bergen := scope(map[string]any{"location": "Bergen", "precipitation_probability": 0.3, "date": "2026-12-02"})
	cond := mustExpr(t, ".item.precipitation_probability >= .inputs.threshold")
	for _, tc := range []struct {
		e     *Expr
		scope any
		want  any
	}{
		{cond, oslo, true},
		{cond, bergen, false},
		{mustExpr(t, `"Umbrella: \(.item.location) (\(.item.precipitation_probability * 100 | round)% rain)"`), oslo, "Umbrella: Oslo (80% rain)"},
		{mustExpr(t, `"rain-\(.item.location)-\(.item.date)"`), oslo, "rain-Oslo-2026-12-02"},
		{mustExpr(t, `.item.date + "T07:30:00"`), oslo, "2026-12-02T07:30:00"},
		{mustExpr(t, `.item.missing`), oslo, nil},
		{mustExpr(t, `empty`), oslo, nil},
		{mustExpr(t, `[.item.location, .inputs.threshold]`), oslo, []any{"Oslo", 0.6}},
	} {
		got, err := Eval(ctx, tc.e, tc.scope)
		if err != nil {
			t.Fatalf("%s: %v", tc.e, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.e, got, tc.want)
		}
	}
}

func TestEvalValue(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`steps:
  - id: a
    for_each: [x]
    call: {server: s, tool: t}
    with:
      n: 1
      nested: {who: ${ .item }, list: [true, null, ${ .index }]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvalValue(context.Background(), f.Steps[0].With, map[string]any{"item": "x", "index": 0})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": 1, "nested": map[string]any{"who": "x", "list": []any{true, nil, 0}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
}

func TestEvalErrors(t *testing.T) {
	ctx := context.Background()
	scope := map[string]any{"inputs": map[string]any{"xs": []any{1, 2}}}
	for _, tc := range []struct {
		src, want string
	}{
		{".inputs.xs[]", "yields more than one value; wrap it in [ ... ]"},
		{`.inputs.xs | error("boom")`, "boom"},
		{`.inputs.xs + "a"`, "cannot add"},
		{`.inputs.xs | "x" * 5000000`, "yields more than 4194304 bytes"},
	} {
		_, err := Eval(ctx, mustExpr(t, tc.src), scope)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), ":1:1: ${ ") {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := Eval(ctx, &Expr{Source: "."}, scope); err == nil {
		t.Error("an uncompiled Expr evaluated")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Eval(cancelled, mustExpr(t, ".inputs.xs | last(repeat(.))"), scope); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
	// The budget is counted in steps, so the same evaluation fails the
	// same way every time, and one step more is enough to succeed.
	loop := mustExpr(t, ".inputs.xs | last(repeat(.))")
	_, err := evalSteps(ctx, loop, scope, 10_000)
	if !errors.Is(err, ErrEvalBudget) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within 10000 jq steps") {
		t.Errorf("budget error %v", err)
	}
	short := mustExpr(t, "[range(100)] | add")
	n := 0
	for ; n < 10_000; n++ {
		if _, err := evalSteps(ctx, short, scope, n); err == nil {
			break
		}
	}
	for range 3 {
		if _, err := evalSteps(ctx, short, scope, n-1); !errors.Is(err, ErrEvalBudget) {
			t.Fatalf("%d steps: %v", n-1, err)
		}
		if v, err := evalSteps(ctx, short, scope, n); err != nil || v != 4950 {
			t.Fatalf("%d steps: %v, %v", n, v, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	big1 := new(big.Int)
	big1.SetString("123456789012345678901234567890", 10)
	in := map[string]any{
		"n":     json.Number("42"),
		"f":     json.Number("1.5"),
		"huge":  json.Number("123456789012345678901234567890"),
		"i64":   int64(7),
		"f32":   float32(0.5),
		"raw":   json.RawMessage(`{"a":[1,"b"]}`),
		"typed": map[string]string{"k": "v"},
		"strs":  []string{"a"},
		"pt":    point{X: 3},
		"nilp":  (*point)(nil),
	}
	want := map[string]any{
		"n": 42, "f": 1.5, "huge": big1, "i64": 7, "f32": 0.5,
		"raw": map[string]any{"a": []any{1, "b"}}, "typed": map[string]any{"k": "v"},
		"strs": []any{"a"}, "pt": map[string]any{"x": 3}, "nilp": nil,
	}
	if got := Normalize(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Normalize = %#v", got)
	}
	// Already-normal values come back as they are, without a copy.
	plain := map[string]any{"a": []any{1.0, "x", map[string]any{"b": true}}}
	if got := Normalize(plain).(map[string]any); reflect.ValueOf(got).Pointer() != reflect.ValueOf(plain).Pointer() {
		t.Error("Normalize copied an already-normal map")
	}
	// The result is what gojq evaluates.
	v, err := Eval(context.Background(), mustExpr(t, ".inputs.n + .inputs.i64"), map[string]any{"inputs": Normalize(in)})
	if err != nil || v != 49 {
		t.Errorf("eval over normalised = %v, %v", v, err)
	}
}

func TestDidYouMean(t *testing.T) {
	known := []string{"steps", "retry", "timeout", "for_each"}
	for s, want := range map[string]string{
		"stpes":   ` (did you mean "steps"?)`,
		"retries": ` (did you mean "retry"?)`,
		"forEach": ` (did you mean "for_each"?)`,
		"zzz":     "",
	} {
		if got := didYouMean(s, known); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", s, got, want)
		}
	}
}
