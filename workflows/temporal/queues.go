package temporal

// FlowQueue is the task queue of the flow workers: runs are started on it
// (WorkflowRunFlow) and `mediator-temporal worker --flows` polls it. The
// domains' queues are DomainQueue's.
const FlowQueue = "mediator.flows"
