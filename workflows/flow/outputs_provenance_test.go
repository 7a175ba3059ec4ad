package flow

import (
	"slices"
	"testing"
)

// OutputServers is the union of the outputs' expressions' servers: a step
// read directly, one read through another step's arguments, and nothing
// for a literal; a step no output reads does not count.
func TestOutputServers(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`steps:
  - id: src
    call: {server: a, tool: t}
  - id: mid
    call: {server: b, tool: t}
    with: {x: "${ .steps.src.result }"}
  - id: other
    call: {server: c, tool: t}
  - id: unread
    call: {server: d, tool: t}
flows: [a -> b]
outputs:
  direct: ${ .steps.other.result }
  nested: {deep: ["${ .steps.mid.result }", literal]}
  plain: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := NewProvenance(f).OutputServers(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("OutputServers %v, want [a b c]", got)
	}

	f, err = Parse("f.flow.yaml", []byte(header+"steps:\n  - id: s\n    call: {server: a, tool: t}\noutputs:\n  n: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := NewProvenance(f).OutputServers(); len(got) != 0 {
		t.Errorf("OutputServers of literal outputs %v, want none", got)
	}
}
