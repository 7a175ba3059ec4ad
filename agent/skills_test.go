package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/fakellm"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Skills are offered by name and description, and read only when the
// model loads one; the skill's text carries its server's provenance, and
// once the listing is offered the context holds that server's output.
func TestSkillLoadedOnDemand(t *testing.T) {
	for _, w := range []wire{wires[0], wires[3]} {
		t.Run(w.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := hostile.NewSkillServer(0, hostile.SkillSpec{Path: "pdf-processing", Description: "Fill in PDF forms.", Body: "Use pdftk to fill the form fields."})
			s := newSetup(t, w, setupOptions{
				extra: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "docs", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(srv.Server)}},
				script: []fakellm.Turn{
					{ToolCalls: []fakellm.ToolCall{{ID: "s", Name: agent.LoadSkillTool, Args: `{"server":"docs","skill":"pdf-processing"}`}}},
					{Text: "I will use pdftk."},
				},
			})
			sess := s.session(t, agent.Options{})
			readsBefore := -1
			_, err := sess.Send(ctx, "Fill in my tax form.", func(u agent.Update) {
				if u.Kind == agent.UpdateToolCall {
					readsBefore = srv.TotalReads()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if readsBefore != 0 || srv.TotalReads() != 1 {
				t.Errorf("skill files read: %d before the load, %d after; want 0 then 1", readsBefore, srv.TotalReads())
			}
			reqs := s.llm.Requests()
			first := string(reqs[0].Body)
			if !strings.Contains(first, "Fill in PDF forms.") || !strings.Contains(first, `\"pdf-processing\"`) || strings.Contains(first, "pdftk") {
				t.Errorf("first request offers the skills wrongly: %s", first)
			}
			if !strings.Contains(string(reqs[1].Body), "Use pdftk to fill the form fields.") {
				t.Error("the skill's text did not reach the model")
			}
			var found bool
			for _, e := range sess.Transcript() {
				if e.Result != nil && e.Result.Name == agent.LoadSkillTool {
					found = true
					if e.Result.IsError || e.Provenance.Servers()[0] != "docs" {
						t.Errorf("load_skill result %+v with provenance %v", e.Result, e.Provenance.Servers())
					}
				}
			}
			if !found {
				t.Error("no load_skill result")
			}
			if !sess.Provenance().Has("docs") {
				t.Errorf("context holds %v, want docs", sess.Provenance().Servers())
			}
		})
	}
}
