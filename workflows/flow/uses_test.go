package flow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFlows writes files (name -> text) under a new directory and
// returns it.
func writeFlows(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkFile checks dir/name with sub-flows read from disk and returns
// its problems as "file:line:column field: message", file relative to
// dir.
func checkFile(t *testing.T, dir, name string) (*Flow, []string) {
	t.Helper()
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, probs := Check(context.Background(), path, data, ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true})
	var out []string
	for _, p := range probs.Errors() {
		rel, _ := filepath.Rel(dir, p.Pos.File)
		out = append(out, fmt.Sprintf("%s:%d:%d %s: %s", filepath.ToSlash(rel), p.Pos.Line, p.Pos.Column, p.Field, p.Message))
	}
	return f, out
}

// wantProblems checks that got has exactly one problem starting with
// each of want's prefixes and containing its fragment ("prefix|fragment").
func wantProblems(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i, w := range want {
		prefix, frag, _ := strings.Cut(w, "|")
		if !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], frag) {
			t.Errorf("problem %d:\n  %s\nwant %q containing %q", i, got[i], prefix, frag)
		}
	}
}

const remindFlow = `version: 1
name: remind
inputs:
  when: {type: string}
  note: {type: string, default: "rain"}
steps:
  - id: add
    call: {server: calendar, tool: create_event}
    with:
      date: ${ .inputs.when }
  - id: ping
    call: {server: chat, tool: post}
    with:
      text: ${ .inputs.note }
outputs:
  event: ${ .steps.add.result }
`

// checkRemindMain checks a main flow whose step sync uses
// lib/remind.flow.yaml (remindFlow) with the date of a forecast, followed
// by more (YAML at the top level), and wants no problem.
func checkRemindMain(t *testing.T, more string) *Flow {
	t.Helper()
	dir := writeFlows(t, map[string]string{
		"main.flow.yaml": `version: 1
name: main
flows: [weather -> calendar, weather -> chat]
steps:
  - id: fc
    call: {server: weather, tool: forecast}
  - id: sync
    uses: lib/remind.flow.yaml
    with:
      when: ${ .steps.fc.result.date }
` + more,
		"lib/remind.flow.yaml": remindFlow,
	})
	f, probs := checkFile(t, dir, "main.flow.yaml")
	wantProblems(t, probs)
	return f
}

func TestUsesLoads(t *testing.T) {
	f := checkRemindMain(t, "outputs:\n  id: ${ .steps.sync.result.event }\n")
	sync := f.Steps[1]
	if sync.Uses == nil || sync.Uses.Flow == nil || sync.Uses.Flow.Name != "remind" {
		t.Fatalf("sub-flow not loaded: %+v", sync.Uses)
	}
	if got := strings.Join(f.Servers(), " "); got != "calendar chat weather" {
		t.Errorf("Servers() = %q, want the sub-flow's too", got)
	}
	if got := strings.Join(f.Files(), " "); !strings.HasSuffix(got, filepath.Join("lib", "remind.flow.yaml")) {
		t.Errorf("Files() = %q", got)
	}
	if f.RunDigest() == f.Digest {
		t.Error("RunDigest does not cover the sub-flow")
	}
	if got := strings.Join(sync.ViewFields(), " "); got != "status result error" {
		t.Errorf("view fields %q", got)
	}
}

func TestUsesProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{{
		name: "missing file",
		files: map[string]string{"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: nope.flow.yaml
`},
		want: []string{"main.flow.yaml:5:11 steps[0].uses: |nope.flow.yaml does not exist (uses: paths are relative to the calling file's directory"},
	}, {
		name: "absolute path",
		files: map[string]string{"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: /etc/x.flow.yaml
`},
		want: []string{"main.flow.yaml:5:11 steps[0].uses: |absolute path"},
	}, {
		name: "a uses step's own timeout",
		files: map[string]string{
			"main.flow.yaml": "version: 1\nname: main\nsteps:\n  - id: s\n    uses: sub.flow.yaml\n    timeout: 5s\n",
			"sub.flow.yaml":  "version: 1\nname: sub\ntimeout: 1m\nsteps:\n  - id: x\n    call: {server: a, tool: t}\n",
		},
		want: []string{"main.flow.yaml:6:5 steps[0].timeout: |a sub-flow's time is the top-level timeout: in its own file"},
	}, {
		name: "self cycle",
		files: map[string]string{"main.flow.yaml": `version: 1
name: main
steps:
  - id: again
    uses: main.flow.yaml
`},
		want: []string{"main.flow.yaml:5:11 steps[0].uses: |cycle: "},
	}, {
		name: "two-file cycle names the chain",
		files: map[string]string{
			"a.flow.yaml": "version: 1\nname: a\nsteps:\n  - id: b\n    uses: b.flow.yaml\n",
			"b.flow.yaml": "version: 1\nname: b\nsteps:\n  - id: a\n    uses: a.flow.yaml\n",
		},
		want: []string{
			"a.flow.yaml:5:11 steps[0].uses: |has 1 problem(s)",
			"b.flow.yaml:5:11 steps[0].uses: |a.flow.yaml -> ",
		},
	}, {
		name: "problems in the sub-flow at their own positions",
		files: map[string]string{
			"main.flow.yaml": "version: 1\nname: main\nsteps:\n  - id: s\n    uses: sub.flow.yaml\n",
			"sub.flow.yaml":  "version: 1\nname: sub\nsteps:\n  - id: x\n    call: {server: a, tool: t}\n    with: {v: ${ .steps.nope.result }}\n",
		},
		want: []string{
			"main.flow.yaml:5:11 steps[0].uses: |sub-flow ",
			"sub.flow.yaml:6:15 steps[0].with.v: |unknown step \"nope\"",
		},
	}, {
		name: "inputs checked against the sub-flow's schema",
		files: map[string]string{
			"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: remind.flow.yaml
    with:
      note: 42
      wehn: "2024-01-01"
`,
			"remind.flow.yaml": remindFlow,
		},
		want: []string{
			"main.flow.yaml:7:7 steps[0].with: |missing input \"when\"",
			"main.flow.yaml:7:13 steps[0].with.note: |input \"note\" must be a string (got 42) (as sub-flow ",
			"main.flow.yaml:8:13 steps[0].with.wehn: |declares no input \"wehn\" (did you mean \"when\"?); its inputs: note, when",
		},
	}, {
		name: "an output the sub-flow does not have",
		files: map[string]string{
			"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: remind.flow.yaml
    with: {when: "x"}
outputs:
  x: ${ .steps.sync.result.evnt }
  y: ${ .steps.sync.attempts }
`,
			"remind.flow.yaml": remindFlow,
		},
		want: []string{
			"main.flow.yaml:8:6 outputs.x: |has no output \"evnt\"",
			"main.flow.yaml:9:6 outputs.y: |a uses step has status, result, error",
		},
	}, {
		name: "uses with call, retry",
		files: map[string]string{
			"main.flow.yaml": `version: 1
name: main
steps:
  - id: sync
    uses: remind.flow.yaml
    call: {server: a, tool: t}
  - id: s2
    uses: remind.flow.yaml
    retry: {max_attempts: 2}
    with: {when: "x"}
`,
			"remind.flow.yaml": remindFlow,
		},
		want: []string{
			"main.flow.yaml:4:5 steps[0]: |more than one of call, read, steps and parallel (or uses)",
			"main.flow.yaml:4:5 steps[0]: |missing input \"when\"",
			"main.flow.yaml:9:5 steps[1].retry: |retry applies only to a step with call",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFlows(t, tc.files)
			name := "main.flow.yaml"
			if _, ok := tc.files[name]; !ok {
				name = "a.flow.yaml"
			}
			_, probs := checkFile(t, dir, name)
			wantProblems(t, probs, tc.want...)
		})
	}
}

func TestUsesDepth(t *testing.T) {
	files := map[string]string{}
	for i := 0; i <= MaxUsesDepth; i++ {
		files[fmt.Sprintf("f%d.flow.yaml", i)] = fmt.Sprintf("version: 1\nname: f%d\nsteps:\n  - id: next\n    uses: f%d.flow.yaml\n", i, i+1)
	}
	files[fmt.Sprintf("f%d.flow.yaml", MaxUsesDepth+1)] = "version: 1\nname: last\nsteps:\n  - id: x\n    call: {server: a, tool: t}\n"
	dir := writeFlows(t, files)
	_, probs := checkFile(t, dir, "f0.flow.yaml")
	found := false
	for _, p := range probs {
		if strings.Contains(p, fmt.Sprintf("nest more than %d deep", MaxUsesDepth)) {
			found = true
		}
	}
	if !found {
		t.Errorf("no depth problem in:\n%s", strings.Join(probs, "\n"))
	}
}

// TestUsesDataFlow: the caller declares the flows its arguments and the
// sub-flow's result make; the sub-flow's own flows apply inside it.
func TestUsesDataFlow(t *testing.T) {
	sub := `version: 1
name: remind
inputs:
  when: {type: string}
  tag: {type: string, default: "x"}
flows: [calendar -> chat]
steps:
  - id: add
    call: {server: calendar, tool: create_event}
    with:
      date: ${ .inputs.when }
  - id: ping
    call: {server: chat, tool: post}
    with:
      text: ${ .steps.add.result.id }
outputs:
  event: ${ .steps.add.result }
`
	for _, tc := range []struct {
		name, main string
		want       []string
	}{{
		name: "declared",
		main: `version: 1
name: main
flows: [weather -> calendar, weather -> chat]
steps:
  - id: fc
    call: {server: weather, tool: forecast}
  - id: sync
    uses: remind.flow.yaml
    with: {when: "${ .steps.fc.result.date }"}
`,
	}, {
		name: "argument into the sub-flow's call",
		main: `version: 1
name: main
steps:
  - id: fc
    call: {server: weather, tool: forecast}
  - id: sync
    uses: remind.flow.yaml
    with: {when: "${ .steps.fc.result.date }", tag: "${ .steps.fc.result.x }"}
`,
		want: []string{
			// when reaches calendar, and through it chat; tag reaches nothing.
			`main.flow.yaml:8:18 steps[1].with.when: |sends data from server "weather" (via .steps.fc) to server "calendar" through the sub-flow "remind.flow.yaml" in field with.when; this flow is not declared: add "weather -> calendar"`,
			`main.flow.yaml:8:18 steps[1].with.when: |add "weather -> chat"`,
		},
	}, {
		name: "only through the sub-flow's result",
		main: `version: 1
name: main
steps:
  - id: sync
    uses: remind.flow.yaml
    with: {when: "2024-01-01"}
  - id: tell
    call: {server: mail, tool: send}
    with: {body: "${ .steps.sync.result.event }"}
`,
		want: []string{
			`main.flow.yaml:9:18 steps[1].with.body: |sends data from server "calendar" (via .steps.sync (from the sub-flow remind.flow.yaml of step "sync", which calls server "calendar")) to mail.send`,
			`main.flow.yaml:9:18 steps[1].with.body: |add "chat -> mail"`,
		},
	}, {
		name: "the caller's if decides the sub-flow's calls",
		main: `version: 1
name: main
flows: [weather -> calendar]
steps:
  - id: fc
    call: {server: weather, tool: forecast}
  - id: sync
    if: ${ .steps.fc.result.rain }
    uses: remind.flow.yaml
    with: {when: "x"}
`,
		want: []string{`main.flow.yaml:8:9 steps[1].if: |runs the sub-flow "remind.flow.yaml", which calls server "chat", under the control of data from server "weather"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFlows(t, map[string]string{"main.flow.yaml": tc.main, "remind.flow.yaml": sub})
			_, probs := checkFile(t, dir, "main.flow.yaml")
			wantProblems(t, probs, tc.want...)
		})
	}
}

// TestUsesGraph: the sub-flow is drawn as a cluster under its step, its
// calls named with their servers, its steps' IDs under the step's path.
func TestUsesGraph(t *testing.T) {
	f := checkRemindMain(t, "")
	g := BuildGraph(f)
	var mm, dot strings.Builder
	if err := g.WriteMermaid(&mm); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteDOT(&dot); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`subgraph sub0 ["sub-flow lib/remind.flow.yaml (remind)"]`,
		`n_sync_uses__add["<b>add</b><br/>calendar.create_event"]`,
		`n_sync{{"<b>sync</b><br/><i>uses lib/remind.flow.yaml</i>"}}`,
		`n_sync -.- n_sync_uses__add`,
		`n_sync_uses__inputs -- "when → date" --> n_sync_uses__add`,
		`n_fc -- "date → when" --> n_sync`,
	} {
		if !strings.Contains(mm.String(), want) {
			t.Errorf("mermaid lacks %q:\n%s", want, mm.String())
		}
	}
	if strings.Contains(mm.String(), `server: calendar`) {
		t.Errorf("an empty server cluster for a server only the sub-flow calls:\n%s", mm.String())
	}
	if !strings.Contains(dot.String(), `subgraph cluster_sub0 {`) || !strings.Contains(dot.String(), `"sync.uses/add" [label="add\ncalendar.create_event"];`) {
		t.Errorf("dot:\n%s", dot.String())
	}
}
