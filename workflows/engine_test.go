package workflows

import (
	"testing"
)

func TestRunSmoke(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(`
version: 1
name: smoke
inputs:
  x: {type: number, default: 2}
steps:
  - id: sum
    call: {server: a, tool: add}
    with: {a: ${ .inputs.x }, b: 3}
outputs:
  sum: ${ .steps.sum.result.sum }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if jsonString(res.Outputs) != `{"sum":5}` {
		t.Fatalf("outputs = %s", jsonString(res.Outputs))
	}
}
