package temporal

// FlowQueue is the task queue of the flow workers: the one RunFlow
// workflows are started on.
const FlowQueue = "mediator.flows"
