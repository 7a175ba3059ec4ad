package flows_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/graph"
)

const timesFlow = `version: 1
name: times
inputs:
  xs: {type: array, items: {type: number}}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    max_concurrency: 1
    call: {server: calc, tool: flaky}
    with: {a: ${ .item }, b: 0}
outputs:
  tens: ${ [.steps.each.items[].result.sum] }
`

// TestRunSubFlowResume runs a flow whose step uses a sub-flow through the
// commands, over a real HTTP server and the orchestrator: the sub-flow's
// failure fails the run, the resume reuses its journalled calls, runs
// show lists them under the step's path, and a changed sub-flow refuses
// the resume; validate and dry-run read the sub-flow too.
func TestRunSubFlowResume(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	if err := os.MkdirAll(filepath.Join(e.dir, "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	sub := e.writeFlow("lib/times.flow.yaml", timesFlow)
	main := e.writeFlow("main.flow.yaml", `version: 1
name: main
steps:
  - id: first
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
  - id: tens
    needs: [first]
    uses: lib/times.flow.yaml
    with: {xs: [1, 2, 3]}
outputs:
  tens: ${ .steps.tens.result.tens }
`)
	r := e.exec(validateCmd, main)
	want(t, r, 0, "validate")
	r = e.exec(func(f *cmdutil.Factory) *cobra.Command { return graph.NewCmdGraph(f, nil) }, main)
	want(t, r, 0, "graph")
	if !strings.Contains(r.stdout, `subgraph sub0 ["sub-flow lib/times.flow.yaml (times)"]`) || !strings.Contains(r.stdout, "n_tens_uses__each") {
		t.Errorf("graph:\n%s", r.stdout)
	}
	r = e.exec(runCmd, main, "--dry-run")
	want(t, r, 0, "dry run")
	if !regexp.MustCompile(`(?s)first .*tens\.uses/each\[0\] .*tens\.uses/each\[2\]`).MatchString(r.stdout) {
		t.Errorf("dry-run plan:\n%s", r.stdout)
	}

	calc.setBroken(true)
	r = e.exec(runCmd, main, "--json")
	want(t, r, 1, "failing run")
	id := regexp.MustCompile(`"run_id": "([^"]+)"`).FindStringSubmatch(r.stdout)
	if id == nil || !strings.Contains(r.stdout, "step tens failed: step tens.uses/each failed: item 1") {
		t.Fatalf("failed run:\n%s\n%s", r.stdout, r.stderr)
	}
	calc.setBroken(false)
	flakyBefore, addBefore := calc.count("flaky"), calc.count("add")

	if err := os.WriteFile(sub, []byte(timesFlow+"# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.exec(resumeCmd, id[1])
	want(t, r, 2, "resume of a changed sub-flow")
	if !strings.Contains(r.stderr, "a changed flow cannot be resumed") || !strings.Contains(r.stderr, sub) {
		t.Errorf("resume of a changed sub-flow says:\n%s", r.stderr)
	}
	if err := os.WriteFile(sub, []byte(timesFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.exec(resumeCmd, id[1])
	want(t, r, 0, "resume")
	if !strings.Contains(r.stdout, `"tens": [`) || !strings.Contains(r.stdout, "30") {
		t.Fatalf("resume outputs:\n%s", r.stdout)
	}
	// Item 0 succeeded before; items 1 and 2 are made now; add is reused.
	if n, a := calc.count("flaky")-flakyBefore, calc.count("add")-addBefore; n != 2 || a != 0 {
		t.Errorf("resume made %d flaky and %d add calls, want 2 and 0", n, a)
	}
	r = e.exec(runsCmd, "show", id[1])
	want(t, r, 0, "runs show")
	for _, s := range []string{"tens.uses/each[0]  calc.flaky  1        succeeded", "tens.uses/each[1]  calc.flaky  1        failed", "tens.uses/each[1]  calc.flaky  2        succeeded"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("runs show lacks %q:\n%s", s, r.stdout)
		}
	}
}
