package flowrun

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/workflows"
)

// TestExecuteFinalLineOnTTY: after the live view exits, the run's outcome
// and duration stay on stderr as a plain line.
func TestExecuteFinalLineOnTTY(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	ios.SetTTY(false, false, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = Execute(ctx, Env{IO: ios}, parse(t), nil, func(ctx context.Context, progress func(workflows.Event)) (*workflows.RunResult, error) {
			now := time.Now()
			progress(workflows.Event{Kind: workflows.EventRunStarted, RunID: "r9", Time: now})
			progress(workflows.Event{Kind: workflows.EventRunFinished, RunID: "r9", Status: workflows.RunSucceeded, Time: now.Add(1500 * time.Millisecond)})
			return &workflows.RunResult{RunID: "r9", Status: workflows.RunSucceeded}, nil
		})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Execute did not return")
	}
	if err != nil {
		t.Fatal(err)
	}
	out := errOut.String()
	if i := strings.LastIndex(out, "run r9: succeeded in "); i < 0 || !strings.HasSuffix(out, "\n") || strings.Contains(out[i:len(out)-1], "\n") {
		t.Fatalf("stderr does not end with the run's final line:\n%q", out)
	}
}
