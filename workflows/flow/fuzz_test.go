package flow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any input either parses, or fails with Problems that each
// carry a message and a position in the file; validation and graph
// building never panic on what parses.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/format/*.flow.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"version: 1\nname: x\nsteps: [{id: a, call: {server: s, tool: t}, with: {x: ${ .item }}}]\n",
		"version: 1\nname: x\nsteps:\n  - id: a\n    for_each: ${ [.steps.b.items[] | .result] }\n    steps:\n      - id: b\n        call: {server: s, tool: t}\n",
		"a: &a [*a]\n",
		"x: ${ \"\\(\" }\n",
		"version: 1\nname: x\nsteps: [{id: a, parallel: {l: [{id: b, call: {server: s, tool: t}}]}}]\n",
		"version: 1\nname: x\nflows: [a -> b]\ninputs: {n: {type: integer, default: 1}}\noutputs: {o: ${ .inputs.n }}\nsteps: []\n",
		"version: 1\nname: x\nsteps:\n  - id: g\n    steps: [{id: c, call: {server: s, tool: t}}]\n  - id: p\n    parallel: {l: [{id: d, call: {server: s, tool: t}}]}\noutputs: {o: ${ [.steps.g.steps.c.status, .steps.p.branches.l, .steps.g.counts, .steps.p.branches.r] }}\n",
		"- ${\n",
		"x: '${ .a }' ${ }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flow, err := Parse("fuzz.flow.yaml", data)
		if err != nil {
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("error is not Problems: %v", err)
			}
			for _, p := range probs {
				if p.Message == "" || p.Pos.File != "fuzz.flow.yaml" || p.Pos.Line < 0 || p.Pos.Column < 0 {
					t.Fatalf("bad problem %+v", p)
				}
			}
		}
		if flow == nil {
			return
		}
		for _, p := range Validate(context.Background(), flow, ValidateOptions{}) {
			if p.Message == "" {
				t.Fatalf("problem without a message at %v", p.Pos)
			}
		}
		_ = BuildGraph(flow)
	})
}

// FuzzCompileExpr: any jq source either compiles, or fails with Problems
// that each carry a message; what compiles evaluates without panicking.
func FuzzCompileExpr(f *testing.F) {
	for _, s := range []string{
		".inputs.cities",
		`[.steps.forecast.items[] | select(.status == "succeeded") | .result]`,
		`"Umbrella: \(.item.location) (\(.item.p * 100 | round)% rain)"`,
		"now", "$ENV", "..", ".steps", "def f: f; .inputs | f",
		"reduce .steps.a.items[] as $x (0; . + $x)",
		".a | | .b", "[", `"\(`, "{(.inputs.k): 1}", "label $out | .item | ., break $out",
		".steps.a.result as [$x, {y: $y}] | $x + $y",
		"try error(.item) catch .",
		"@base64d", `@sh "x\(.inputs.a)"`,
		"limit(3; .inputs.xs[])", "getpath([\"a\"])", "$__loc__", "input_line_number",
	} {
		f.Add(s)
	}
	scope := map[string]any{
		"inputs": map[string]any{"cities": []any{"Oslo"}, "xs": []any{1, 2}, "k": "key", "a": "b"},
		"steps":  map[string]any{"a": map[string]any{"result": []any{1, map[string]any{"y": 2}}, "items": []any{}}},
		"item":   map[string]any{"location": "Oslo", "p": 0.8},
		"index":  0,
		"run":    map[string]any{"id": "r1"},
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := CompileExpr(src)
		if err != nil {
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("error is not Problems: %v", err)
			}
			for _, p := range probs {
				if p.Message == "" {
					t.Fatalf("problem without a message at %v", p.Pos)
				}
			}
			return
		}
		_, _ = Eval(context.Background(), e, scope)
		_ = e.SimplePath()
	})
}
