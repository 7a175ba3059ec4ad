package flow

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseTimeoutAndFinally(t *testing.T) {
	f, err := Load("testdata/format/cleanup.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Timeout != 15*time.Minute {
		t.Errorf("timeout %v", f.Timeout)
	}
	if len(f.Finally) != 2 || f.Finally[0].Path != "finally/unlock" || !f.Finally[1].InFinally() || f.Steps[0].InFinally() {
		t.Fatalf("finally %+v", f.Finally)
	}
	var paths []string
	for _, s := range f.AllSteps() {
		paths = append(paths, s.Path)
	}
	if got := strings.Join(paths, ","); got != "lock,work,finally/unlock,finally/report" {
		t.Errorf("AllSteps %s", got)
	}
	if got := strings.Join(f.Servers(), ","); got != "chat,store" {
		t.Errorf("servers %s", got)
	}
}

func TestFinallyProblems(t *testing.T) {
	runProblemCases(t, []problemCase{
		{name: "timeout not positive", src: header + "timeout: 0s\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
			want: []string{`3:10 timeout: invalid duration "0s": write a positive duration`}},
		{name: "timeout not a duration", src: header + "timeout: 15\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
			want: []string{`3:10 timeout: must be a duration such as 500ms, 20s or 5m`}},
		{name: "empty finally", src: header + "steps: [{id: a, call: {server: s, tool: t}}]\nfinally: []\n",
			want: []string{`4:10 finally: finally needs at least one step`}},
		{name: "finally step without id", src: header + "steps: [{id: a, call: {server: s, tool: t}}]\nfinally:\n  - call: {server: s, tool: t}\n",
			want: []string{`5:5 finally[0]: missing id`}},
		{name: "finally reads steps, nested ones through their group", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
  - id: g
    steps:
      - id: inner
        call: {server: s, tool: t}
finally:
  - id: f
    call: {server: s, tool: t}
    with: {x: ${ .steps.a.result }, y: ${ .steps.g.steps.inner.status }, z: ${ .run.status }}
    needs: [a]
`},
		{name: "a step reads a finally step", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    with: {x: ${ .steps.f.result }}
finally:
  - id: f
    call: {server: s, tool: t}
`, want: []string{`6:15 steps[0].with.x: step "f" is a finally step, which runs after every step has ended; only finally steps may read it`}},
		{name: "needs and on_error across the line", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
    needs: f
    on_error: h
finally:
  - id: f
    call: {server: s, tool: t}
    on_error: a
  - id: h
    call: {server: s, tool: t}
`, want: []string{
			`6:12 steps[0].needs[0]: step "f" is a finally step, which runs after every step has ended; only finally steps may depend on it`,
			`7:15 steps[0].on_error: step "h" is a finally step, which runs after every step has ended; only finally steps may use it as on_error handler`,
			`11:15 finally[0].on_error: step "a" is not a finally step; a finally step's on_error handler must be a finally step too`}},
		{name: "outputs read a finally step", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
finally:
  - id: f
    call: {server: s, tool: t}
outputs:
  x: ${ .steps.f.result }
`, want: []string{`10:6 outputs.x: outputs are computed before the finally steps run, so they cannot read finally step "f"`}},
		{name: "ids unique across steps and finally", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
finally:
  - id: a
    call: {server: s, tool: t}
`, want: []string{`7:9 finally[0].id: duplicate step id "a" (first used at line 4)`}},
		{name: "finally steps among themselves: a cycle", src: header + `steps:
  - id: a
    call: {server: s, tool: t}
finally:
  - id: f
    call: {server: s, tool: t}
    needs: g
  - id: g
    call: {server: s, tool: t}
    needs: f
`, want: []string{`7:5 finally[0]: dependency cycle: f -> g -> f`}},
	})
}

// Data from the steps' results into a finally call is a flow like any
// other, and .run.status carries what decided the run's failure.
func TestFinallyDataFlows(t *testing.T) {
	runProblemCases(t, []problemCase{
		{name: "result into a finally call", src: header + `steps:
  - id: a
    call: {server: src, tool: t}
finally:
  - id: f
    call: {server: sink, tool: t}
    with: {x: ${ .steps.a.result }}
`, want: []string{`9:15 finally[0].with.x: step "f" sends data from server "src" (via .steps.a) to sink.t in field with.x; this flow is not declared: add "src -> sink" to flows:`}},
		{name: "run status into a finally call", src: header + `steps:
  - id: a
    call: {server: src, tool: t}
  - id: b
    call: {server: other, tool: t}
    on_error: continue
finally:
  - id: f
    call: {server: sink, tool: t}
    with: {x: ${ .run.status }}
`, want: []string{`12:15 finally[0].with.x: step "f" sends data from server "src" (via .run.status (from a failure of step "a" (line 4), which would make the run fail)) to sink.t in field with.x; this flow is not declared: add "src -> sink" to flows:`}},
		{name: "run status decides a finally call", src: header + `steps:
  - id: a
    call: {server: src, tool: t}
finally:
  - id: f
    if: ${ .run.status == "failed" }
    call: {server: sink, tool: t}
`, want: []string{`8:9 finally[0].if: step "f" calls sink.t under the control of data from server "src"`}},
		{name: "run status in the steps is a constant", src: header + `steps:
  - id: a
    call: {server: src, tool: t}
  - id: b
    call: {server: sink, tool: t}
    with: {x: ${ .run.status }}
`},
		{name: "a finally failure cancels the later finally steps", src: header + `steps:
  - id: a
    call: {server: x, tool: t}
finally:
  - id: f
    call: {server: src, tool: t}
  - id: g
    call: {server: sink, tool: t}
    needs: f
`, want: []string{`9:5 finally[1]: step "g" calls sink.t under the control of data from server "src" (via a failure of step "f" (line 7), which would cancel it)`}},
	})
}

func TestGraphFinallyLane(t *testing.T) {
	f, err := Load("testdata/format/cleanup.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := BuildGraph(f)
	var m, d bytes.Buffer
	if err := g.WriteMermaid(&m); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteDOT(&d); err != nil {
		t.Fatal(err)
	}
	golden(t, "cleanup.mmd", m.Bytes())
	golden(t, "cleanup.dot", d.Bytes())
	for _, n := range g.Nodes {
		if n.Finally != strings.HasPrefix(n.ID, FinallyPath) {
			t.Errorf("node %s: Finally %v", n.ID, n.Finally)
		}
	}
}

func TestCheckFinallyValid(t *testing.T) {
	data := []byte(header + "timeout: 1h30m\nsteps: [{id: a, call: {server: s, tool: t}}]\nfinally: [{id: f, call: {server: s, tool: t}}]\n")
	if _, probs := Check(context.Background(), "f.flow.yaml", data, ValidateOptions{}); len(probs.Errors()) > 0 {
		t.Fatal(probs)
	}
}
