// Package interop runs mediator's OAuth client end to end against
// authorization servers that we did not write (ory/fosite today).
//
// It is a module of its own so that the servers' large dependency graphs
// (fosite brings grpc, otel and more) never enter mediator's go.mod: the
// mediator binary builds with exactly the modules it uses. `make test` runs
// it after the main module's tests.
package interop
