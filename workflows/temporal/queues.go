package temporal

import "time"

// FlowQueue is the task queue of the flow workers: runs are started on it
// (WorkflowRunFlow) and `mediator-temporal worker --flows` polls it. The
// domains' queues are DomainQueue's.
const FlowQueue = "mediator.flows"

// DeadlockDetectionTimeout is the flow workers' worker.Options
// DeadlockDetectionTimeout: how long workflow code may run without
// yielding before the SDK takes it for a deadlock and fails the workflow
// task. The SDK's default, 1 s, is what one expression can take at its
// evaluation budget (flow.DefaultEvalSteps: about 1 s of jq on a loaded
// 2-core machine, docs/scale.md), so a flow that runs locally could fail
// here; this leaves five times that, within the workflow task's 10 s.
const DeadlockDetectionTimeout = 5 * time.Second
