package flow

import (
	"context"
	"testing"
)

func TestToleranceProblems(t *testing.T) {
	each := func(tol string) string {
		return header + "steps:\n  - id: a\n    for_each: ${ [1, 2] }\n    call: {server: s, tool: t}\n    tolerate_failures: " + tol + "\n"
	}
	runtime := ValidateOptions{RetryAtRunTime: true}
	runProblemCases(t, []problemCase{
		{name: "count", src: each("3"), opts: runtime},
		{name: "zero", src: each("0"), opts: runtime},
		{name: "percent", src: each(`"10%"`), opts: runtime},
		{name: "decimal percent", src: each(`"12.5%"`), opts: runtime},
		{name: "all of them", src: each(`"100%"`), opts: runtime},
		{name: "negative count", src: each("-1"), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must not be negative, found -1; write a number of items (0 or more, e.g. 3) or a share of the items from 0% to 100% in quotes (e.g. "10%")`}},
		{name: "over 100%", src: each(`"150%"`), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must be at most 100%, found "150%"; write a number of items`}},
		{name: "negative percent", src: each(`"-5%"`), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must not be negative, found "-5%"`}},
		{name: "not an integer", src: each("1.5"), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must be a number of items or a percentage, found "1.5"; write a number of items (0 or more, e.g. 3)`}},
		{name: "a string without %", src: each(`"10"`), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must be a number of items or a percentage, found "10"`}},
		{name: "a word", src: each("some"), opts: runtime, want: []string{
			`7:24 steps[0].tolerate_failures: must be a number of items or a percentage, found "some"`}},
		{name: "not on a plain call", opts: runtime, src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n    tolerate_failures: 2\n", want: []string{
			`6:5 steps[0].tolerate_failures: tolerate_failures applies only to a for_each step`}},
		{name: "not on a group", opts: runtime, src: header + "steps:\n  - id: g\n    tolerate_failures: 2\n    steps:\n      - id: a\n        call: {server: s, tool: t}\n", want: []string{
			`5:5 steps[0].tolerate_failures: tolerate_failures applies only to a for_each step`}},
		{name: "on a for_each group", opts: runtime, src: header + "steps:\n  - id: g\n    for_each: ${ [1] }\n    tolerate_failures: \"50%\"\n    steps:\n      - id: a\n        call: {server: s, tool: t}\n"},
	})
}

func TestToleranceParsed(t *testing.T) {
	f, probs := Check(context.Background(), "f.flow.yaml", []byte(header+"steps:\n  - id: a\n    for_each: ${ [1] }\n    call: {server: s, tool: t}\n    tolerate_failures: \"12.5%\"\n  - id: b\n    for_each: ${ [1] }\n    call: {server: s, tool: t}\n    tolerate_failures: 3\n"), ValidateOptions{RetryAtRunTime: true})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	a, b := f.Steps[0].TolerateFailures, f.Steps[1].TolerateFailures
	if a == nil || a.Percent != 12.5 || a.Count != 0 || a.String() != "12.5%" || a.Pos.Line != 7 {
		t.Errorf("percent tolerance %+v", a)
	}
	if b == nil || b.Count != 3 || b.Percent != 0 || b.String() != "3" {
		t.Errorf("count tolerance %+v", b)
	}
}

func TestToleranceAllows(t *testing.T) {
	for _, tc := range []struct {
		t             *Tolerance
		failed, total int
		want          bool
	}{
		{nil, 0, 10, true},
		{nil, 1, 10, false},
		{&Tolerance{Count: 2}, 2, 10, true},
		{&Tolerance{Count: 2}, 3, 10, false},
		{&Tolerance{Percent: 10}, 1, 10, true},
		{&Tolerance{Percent: 10}, 2, 10, false},
		{&Tolerance{Percent: 10}, 10, 100, true},
		{&Tolerance{Percent: 10}, 11, 100, false},
		{&Tolerance{Percent: 100}, 5, 5, true},
		{&Tolerance{Percent: 25}, 1, 3, false},
	} {
		if got := tc.t.Allows(tc.failed, tc.total); got != tc.want {
			t.Errorf("%v.Allows(%d, %d) = %v", tc.t, tc.failed, tc.total, got)
		}
		if got := tc.t.Hopeless(tc.failed, tc.total); got == tc.want {
			t.Errorf("%v.Hopeless(%d, %d) = %v", tc.t, tc.failed, tc.total, got)
		}
	}
}
