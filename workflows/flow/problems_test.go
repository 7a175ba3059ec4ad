package flow

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// problemCase is one flow file and the problems it must produce, each
// written "line:column field: message fragment" (field may be empty).
type problemCase struct {
	name string
	src  string
	want []string
	opts ValidateOptions
}

// header is prepended to case sources, so their line numbers start at 3.
const header = "version: 1\nname: t\n"

func runProblemCases(t *testing.T, cases []problemCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, probs := Check(context.Background(), "f.flow.yaml", []byte(tc.src), tc.opts)
			matchProblems(t, probs, tc.want)
		})
	}
}

func matchProblems(t *testing.T, probs Problems, want []string) {
	t.Helper()
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = fmt.Sprintf("%d:%d %s: %s", p.Pos.Line, p.Pos.Column, p.Field, p.Message)
		if p.Pos.File != "f.flow.yaml" {
			t.Errorf("problem %q has file %q", got[i], p.Pos.File)
		}
		if p.Message == "" {
			t.Errorf("problem at %v has no message", p.Pos)
		}
	}
	used := make([]bool, len(got))
	for _, w := range want {
		prefix, frag, _ := strings.Cut(w, ": ")
		found := false
		for i, g := range got {
			if used[i] {
				continue
			}
			gp, gm, _ := strings.Cut(g, ": ")
			if gp == prefix && strings.Contains(gm, frag) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing problem %q", w)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected problem %q", g)
		}
	}
}
