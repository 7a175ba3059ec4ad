package temporal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// CallDetails are a call's or read's heartbeat details: what its worker
// knows of it while it runs, kept by Temporal with the pending activity
// (the latest only, never in history) until the attempt ends. A client
// reads the progress report (Progress); a workflow whose worker was lost
// reads the task id from the heartbeat timeout and attaches to the task.
type CallDetails struct {
	// Path is the call's (or read's) runtime path.
	Path   string `json:"path"`
	Server string `json:"server"`
	Tool   string `json:"tool,omitempty"`
	// TaskID is the MCP task the call runs as, once the server created
	// it (or the one it attaches to).
	TaskID string `json:"task_id,omitempty"`
	// Report is the server's latest progress report.
	Report *ProgressReport `json:"report,omitempty"`
}

// ProgressReport is a connectors.Progress as it travels: a server's
// notifications/progress, or a task's status message.
type ProgressReport struct {
	Progress float64 `json:"progress"`
	Total    float64 `json:"total,omitempty"`
	// Message is the server's: untrusted text.
	Message string `json:"message,omitempty"`
}

// heartbeatEvery is how often an activity in flight heartbeats; the SDK
// sends at most one per 0.8 of the heartbeat timeout (the latest details
// then), and learns of a cancellation from the answer, which then ends
// ctx (and the call, with MCP cancellation).
const heartbeatEvery = time.Second

// beat is an activity's heartbeat: its details, recorded every
// heartbeatEvery and as soon as they change.
type beat struct {
	mu      sync.Mutex
	details CallDetails
	kick    chan struct{}
}

// heartbeat heartbeats d for the activity of ctx until stop is called.
// The returned context reports the server's progress into the details.
func heartbeat(ctx context.Context, d CallDetails) (context.Context, *beat, func()) {
	ctx, cancel := context.WithCancel(ctx)
	b := &beat{details: d, kick: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-b.kick:
			}
			b.mu.Lock()
			d := b.details
			b.mu.Unlock()
			activity.RecordHeartbeat(ctx, d)
		}
	}()
	pctx := connectors.WithProgress(ctx, func(p connectors.Progress) {
		b.update(func(d *CallDetails) {
			d.Report = &ProgressReport{Progress: p.Progress, Total: p.Total, Message: p.Message}
		})
	})
	return pctx, b, func() { cancel(); <-done }
}

// update changes the details and has them recorded without waiting: the
// connector's callbacks must not block, and recording may send.
func (b *beat) update(f func(*CallDetails)) {
	b.mu.Lock()
	f(&b.details)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Progress returns the latest progress report of each call or read of
// run runID in flight, its open child workflows' included (a batch of a
// large for_each runs in one), as EventProgress views (Path, Time: when
// the worker last heartbeated, Progress), read from the pending
// activities' heartbeat details without touching history. codec must be
// the clients' (nil: none), since details are payloads.
func Progress(ctx context.Context, c client.Client, codec *Codec, runID string) ([]EventView, error) {
	dc := converter.GetDefaultDataConverter()
	if codec != nil {
		dc, _ = Converters(codec)
	}
	var out []EventView
	err := eachOpenWorkflow(ctx, c, runID, func(id string, resp *workflowservice.DescribeWorkflowExecutionResponse) error {
		for _, pa := range resp.GetPendingActivities() {
			name := pa.GetActivityType().GetName()
			if (name != ActivityCallTool && name != ActivityReadResource) || pa.GetHeartbeatDetails() == nil {
				continue
			}
			var d CallDetails
			if err := dc.FromPayloads(pa.GetHeartbeatDetails(), &d); err != nil {
				return fmt.Errorf("run %s: the heartbeat details of activity %s do not decode (is the codec key the workers'?): %w", id, pa.GetActivityId(), err)
			}
			if d.Report != nil {
				out = append(out, EventView{Kind: workflows.EventProgress, Time: pa.GetLastHeartbeatTime().AsTime(), Path: d.Path, Progress: d.Report, Server: d.Server})
			}
		}
		return nil
	})
	return out, err
}

// eachOpenWorkflow calls fn with the description of workflow id and of
// each of its open child workflows, theirs, and so on.
func eachOpenWorkflow(ctx context.Context, c client.Client, id string, fn func(id string, resp *workflowservice.DescribeWorkflowExecutionResponse) error) error {
	desc, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return fmt.Errorf("describe run %s: %w", id, err)
	}
	if err := fn(id, desc.RawResponse); err != nil {
		return err
	}
	for _, ch := range desc.RawResponse.GetPendingChildren() {
		if err := eachOpenWorkflow(ctx, c, ch.GetWorkflowId(), fn); err != nil {
			return err
		}
	}
	return nil
}
