// Package temporal runs mediator's workflow interpreter (workflows.Run,
// unchanged) as a Temporal workflow: Runtime implements workflows.Runtime
// with workflow coroutines, timers and clock, and makes every tools/call,
// tool lookup and resources/read an activity on the task queue of the
// server's worker (Activities, over a workflows.ToolCaller that holds the
// sessions and credentials). The flow worker holds no credentials; the
// history holds the flow file, inputs, arguments and results, never a
// secret. docs/scale.md describes the architecture and what is built.
package temporal
