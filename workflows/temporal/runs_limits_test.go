package temporal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/workflows/temporal"
)

// Runs.Start refuses a run that cannot fit before anything is started,
// so the CLI and the daemon (which start runs through it) answer at
// submission rather than halfway.
func TestStartRefusesWhatCannotFit(t *testing.T) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs := &temporal.Runs{Client: c, Limits: temporal.Limits{Events: 300, BatchItems: -1}}
	in := temporal.FlowInput{Path: "each.flow.yaml", Source: []byte(eachFlow), Inputs: map[string]any{"xs": numbers(100)}}
	err := runs.Start(ctx, temporal.StartOptions{RunID: "start-refused", Input: in})
	if !errors.Is(err, temporal.ErrWouldNotFit) {
		t.Fatalf("Start = %v, want ErrWouldNotFit", err)
	}
	if _, err := c.DescribeWorkflow(ctx, "start-refused", ""); err == nil {
		t.Error("a refused run was started")
	}
}
