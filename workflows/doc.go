// Package workflows holds mediator's flow files: deterministic, validated,
// resumable chains of MCP tool calls across servers.
//
// The format side (format.go, load.go, expr.go, validate*.go, graph.go) is
// pure: Load is its only I/O. Parse turns a *.flow.yaml file into a Flow
// with a position on everything; expressions are whole `${ jq }` values,
// compiled once, with banned builtins (now, input, env, ...) rejected and
// the .steps.<id> they read extracted for dependencies and data-flow
// policy. Validate checks what needs the whole flow (references, cycles,
// undeclared cross-server flows) and, given a Catalog, the live tools.
// BuildGraph draws the data flow. The JSON Schema of the format is in the
// schema subpackage.
//
// The engine side runs a Flow on a small runtime interface and keeps the
// run journal.
package workflows
