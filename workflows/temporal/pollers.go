package temporal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/mediatorhq/mediator/workflows"
)

// QueuesWithoutWorker returns the queues, of those given, on which no
// worker has polled for activities lately: a call to one of their servers
// would wait until a worker comes. Temporal lists a queue's pollers of
// the last minutes, so a worker that just stopped still counts; this is a
// check before a run (validate --connect), not a guarantee.
func QueuesWithoutWorker(ctx context.Context, c client.Client, queues ...string) ([]string, error) {
	var missing []string
	for _, q := range queues {
		resp, err := c.DescribeTaskQueue(ctx, q, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		if err != nil {
			return nil, fmt.Errorf("describe task queue %s: %w", q, err)
		}
		if len(resp.GetPollers()) == 0 {
			missing = append(missing, q)
		}
	}
	return missing, nil
}

// notStarted reports whether err is an activity's schedule-to-start
// timeout: no worker took it from its queue.
func notStarted(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// notPolledError is the failure of an attempt no worker took from queue
// within d: class transport, and workflows.ErrNotSent, since nothing
// reached the server: the step's retry may send any call again.
func notPolledError(queue, server string, d time.Duration) error {
	domain := server
	if name, ok := strings.CutPrefix(queue, "mcp."); ok {
		domain = name
	}
	return &workflows.CallError{Class: workflows.ClassTransport, Err: fmt.Errorf(
		"no worker polled %s for %s: start `mediator-temporal worker --domain %s`; %w, so it may be sent again", queue, d, domain, workflows.ErrNotSent)}
}
