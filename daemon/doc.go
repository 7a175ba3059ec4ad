// Package daemon is `mediator daemon`: mediator running unattended. It
// holds the orchestrator's open sessions and runs workflow files on
// request and on schedules.
//
// Runs is the run manager: runs of the workflow files of a Catalog,
// submitted over the HTTP API (APIHandler) or by the Scheduler, executed
// by the workflows engine detached from the request, at most
// MaxConcurrentRuns at once, journalled in the state directory's run
// journal like `mediator run`'s (so `mediator runs` and `mediator resume`
// see them), with every submission recorded beforehand in StoreFile so
// that a queued run and its Idempotency-Key survive a restart.
// ResumeInterrupted finishes on start what a shutdown or crash left, by
// the workflow resume rules; Resolve settles a blocked run as `mediator
// resume --rerun/--mark-done` does.
//
// APIHandler serves the HTTP API under /v1, /healthz, /readyz and
// /metrics, described by openapi.yaml in this directory and docs/api.md.
package daemon
