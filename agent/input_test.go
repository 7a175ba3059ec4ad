package agent_test

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/internal/fakellm"
)

// An attachment from weather (`@weather:uri`) puts weather in the
// context: the model is shown it marked with its server, and a calendar
// call the model then makes carries weather's provenance, so without
// weather -> calendar allowed it is refused.
func TestAttachmentCarriesItsServer(t *testing.T) {
	ctx := testContext(t)
	s := newSetup(t, wires[0], setupOptions{script: []fakellm.Turn{
		{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "calendar__create_event", Args: `{"title":"from the note"}`}}},
		{Text: "done"},
	}})
	sess := s.session(t, agent.Options{Approvals: agent.Approvals{Allow: []string{"*"}}})
	in := agent.Input{Text: "Book what the note says.", Attachments: []agent.Attachment{{Server: "weather", Label: "weather://notes/today", Text: "picnic at noon"}}}
	if _, err := sess.SendInput(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	first := string(s.llm.Requests()[0].Body)
	for _, want := range []string{"Book what the note says.", `server=\"weather\"`, "weather://notes/today", "picnic at noon"} {
		if !strings.Contains(first, want) {
			t.Errorf("the model's first request lacks %q:\n%s", want, first)
		}
	}
	if got := sess.Provenance().Servers(); len(got) != 1 || got[0] != "weather" {
		t.Errorf("context holds %v, want [weather]", got)
	}
	if n := len(s.cal.got()); n != 0 {
		t.Errorf("calendar got %d calls with weather's data and no flow allowed", n)
	}
	if r := results(sess)["calendar__create_event"]; r == nil || !r.IsError || !strings.Contains(r.Text, `"weather -> calendar"`) {
		t.Errorf("the model was told %+v", r)
	}
}

// Markdown shows each message under its role, tool calls with their
// arguments and results with the servers they came from.
func TestMarkdown(t *testing.T) {
	ctx := testContext(t)
	s := newSetup(t, wires[0], setupOptions{script: seedScript})
	sess := s.session(t, agent.Options{Approvals: agent.Approvals{Allow: []string{"*"}}})
	if _, err := sess.Send(ctx, "Plan a picnic.", nil); err != nil {
		t.Fatal(err)
	}
	md := agent.Markdown("Picnic", sess.Transcript())
	for _, want := range []string{"# Picnic", "## You\n\nPlan a picnic.", "Tool call `weather__get_forecast`", `{"city":"Lisbon"}`, "(from: weather)", "## Assistant\n\nAll done."} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
