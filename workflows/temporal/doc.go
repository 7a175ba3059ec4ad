// Package temporal runs mediator's workflow interpreter (workflows.Run,
// unchanged) as a Temporal workflow: Runtime implements workflows.Runtime
// with workflow coroutines, timers and clock, and makes every tools/call,
// tool lookup and resources/read an activity on the task queue of the
// server's worker (Activities, over a workflows.ToolCaller that holds the
// sessions and credentials). Flows is the workflow; the flow worker holds
// no credentials. History holds the flow file, inputs, arguments, results
// and events, never a secret, and with Codec (Converters) none of it is
// readable there. docs/scale.md describes the architecture and what is
// built.
package temporal
