package problem

import (
	"errors"
	"testing"
)

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Pos: Pos{File: "f.yaml"}, Message: "bad"}, "f.yaml: bad"},
		{Problem{Pos: Pos{File: "f.yaml", Column: 3}, Message: "bad"}, "f.yaml: bad"},
		{Problem{Pos: Pos{File: "f.yaml", Line: 2}, Field: "a.b", Message: "bad"}, "f.yaml:2: a.b: bad"},
		{Problem{Pos: Pos{File: "f.yaml", Line: 2, Column: 5}, Field: "a", Message: "bad", Warning: true}, "f.yaml:2:5: warning: a: bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestProblemsErrAndFilters(t *testing.T) {
	var none Problems
	if err := none.Err(); err != nil {
		t.Errorf("empty Problems.Err() = %v, want nil", err)
	}
	ps := Problems{
		{Pos: Pos{File: "f", Line: 1}, Message: "a"},
		{Pos: Pos{File: "f", Line: 2}, Message: "b", Warning: true},
	}
	if got, want := ps.Error(), "f:1: a\nf:2: warning: b"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var as Problems
	if !errors.As(ps.Err(), &as) || len(as) != 2 {
		t.Errorf("Err() does not unwrap to Problems: %v", ps.Err())
	}
	if e, w := ps.Errors(), ps.Warnings(); len(e) != 1 || e[0].Message != "a" || len(w) != 1 || w[0].Message != "b" {
		t.Errorf("Errors() = %v, Warnings() = %v", e, w)
	}
}

func TestSortIsStableByPosition(t *testing.T) {
	ps := []Problem{
		{Pos: Pos{File: "b", Line: 1}, Message: "b1"},
		{Pos: Pos{File: "a", Line: 3, Column: 2}, Message: "a3.2"},
		{Pos: Pos{File: "a", Line: 3, Column: 1}, Message: "a3.1 first"},
		{Pos: Pos{File: "a", Line: 3, Column: 1}, Message: "a3.1 second"},
		{Pos: Pos{File: "a", Line: 1}, Message: "a1"},
	}
	Sort(ps)
	want := []string{"a1", "a3.1 first", "a3.1 second", "a3.2", "b1"}
	for i, p := range ps {
		if p.Message != want[i] {
			t.Fatalf("after Sort: %v, want messages %v", ps, want)
		}
	}
}
