package connectors

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A task that needs input (server-everything's ambiguous research query
// goes input_required and sends an elicitation tied to the task) reaches
// the front end's Elicit like any server request, names its server, and
// the task completes with the answer: tasks and elicitation through one
// connector.
func TestTaskAsksForInput(t *testing.T) {
	var asked atomic.Int32
	host := Host{Elicit: func(_ context.Context, req *ElicitationRequest) (*mcp.ElicitResult, error) {
		asked.Add(1)
		if req.Server != "everything" || !strings.Contains(req.Params.Message, "multiple interpretations") {
			t.Errorf("elicitation from %q: %q", req.Server, req.Params.Message)
		}
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"interpretation": "snake"}}, nil
	}}
	c := everything(t, Config{}, host, nil)
	var log progressLog
	res, err := c.CallTool(WithProgress(testCtx(t), log.add), "simulate-research-query",
		map[string]any{"topic": "python", "ambiguous": true}, nil)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if asked.Load() != 1 {
		t.Errorf("the front end was asked %d times, want once", asked.Load())
	}
	if got := resultText(t, res); res.IsError || !strings.Contains(got, "Research Report: python (snake)") {
		t.Fatalf("result %q (IsError %v): the answer did not reach the task", got, res.IsError)
	}
	if msgs := strings.Join(log.all(), "|"); !strings.Contains(msgs, "Requesting clarification") {
		t.Errorf("progress %q lacks the task's input_required status", msgs)
	}
}
