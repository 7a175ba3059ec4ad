package flow

import (
	"context"
	"strings"
	"testing"
)

// A read step parses with a literal or computed URI, has a call's view,
// and its URI's sources are checked like a call's arguments: data from
// one server in the URI read from another needs that flow declared.
func TestReadStep(t *testing.T) {
	src := header + `steps:
  - id: find
    call: {server: mail, tool: search}
  - id: doc
    read: {server: docs, uri: "${ .steps.find.result.uri }"}
    timeout: 5s
  - id: fixed
    read: {server: docs, uri: "docs://readme"}
  - id: post
    call: {server: chat, tool: send}
    with:
      text: ${ .steps.doc.text }
`
	f, err := Parse("f.flow.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	doc := f.AllSteps()[1]
	if doc.Read == nil || doc.Read.Server != "docs" || doc.Read.URI.Kind != KindExpr || doc.Timeout.Seconds() != 5 {
		t.Fatalf("doc step: %+v", doc)
	}
	if fixed := f.AllSteps()[2]; fixed.Read.URI.Literal != "docs://readme" || fixed.StepKind() != "read" || fixed.Server() != "docs" {
		t.Errorf("fixed step: %+v", fixed.Read)
	}
	if strings.Join(doc.ViewFields(), ",") != "status,result,error,attempts,content,text" {
		t.Errorf("view fields %v", doc.ViewFields())
	}
	probs := Validate(context.Background(), f, ValidateOptions{})
	want := []string{
		`7:31: steps[1].read.uri: step "doc" sends data from server "mail" (via .steps.find) to the read of a resource of server "docs" in field read.uri; this flow is not declared: add "mail -> docs"`,
		`14:13: steps[3].with.text: step "post" sends data from server "docs" (via .steps.doc) to chat.send in field with.text; this flow is not declared: add "docs -> chat"`,
		// What a read returns may echo its URI: the URI's sources stay.
		`14:13: steps[3].with.text: step "post" sends data from server "mail" (via .steps.doc (from .steps.find)) to chat.send`,
	}
	if len(probs) != len(want) {
		t.Fatalf("problems:\n%v", probs)
	}
	for i, w := range want {
		if got := probs[i].String(); !strings.Contains(got, w) {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got, w)
		}
	}
	if probs := Validate(context.Background(), f, ValidateOptions{PolicyFlows: []FlowEdge{{From: "mail", To: "docs"}, {From: "docs", To: "chat"}, {From: "mail", To: "chat"}}}); len(probs) != 0 {
		t.Errorf("with the flows declared: %v", probs)
	}
}

// A read step written wrong is refused with the field and what is valid.
func TestReadStepProblems(t *testing.T) {
	for _, tc := range []struct{ name, step, want string }{
		{"no uri", `read: {server: docs}`, `steps[0].read: missing uri`},
		{"empty uri", `read: {server: docs, uri: ""}`, `steps[0].read.uri: must be a non-empty URI string`},
		{"object uri", `read: {server: docs, uri: {a: 1}}`, `steps[0].read.uri: must be a URI string or ${ ... } yielding one, found an object or list`},
		{"unknown key", `read: {server: docs, uri: "x://y", tool: t}`, `steps[0].read.tool`},
		{"scalar", `read: docs`, `steps[0].read: must be {server: <alias>, uri: <URI or ${ ... }>}`},
		{"with call", "read: {server: docs, uri: \"x://y\"}\n    call: {server: a, tool: t}", `has more than one of call, read, steps and parallel`},
		{"with with", "read: {server: docs, uri: \"x://y\"}\n    with: {a: 1}", `steps[0].with: with applies only to a step with call:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.flow.yaml", []byte(header+"steps:\n  - id: a\n    "+tc.step+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}
