package temporal

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
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
