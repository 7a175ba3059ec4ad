// Package flow is the *.flow.yaml format: Parse turns a file's bytes into
// a Flow with a position on everything; expressions are whole `${ jq }`
// values, compiled once, with banned builtins (now, input, env, ...)
// rejected and the .steps.<id> they read extracted for dependencies and
// data-flow policy. Validate checks what needs the whole flow (references,
// cycles, undeclared cross-server flows) and, given a Catalog, the live
// tools. BuildGraph draws the data flow. The JSON Schema of the format is
// in package workflows/schema.
//
// The package does no I/O (a test holds it to that): reading files and
// running flows belong to package workflows. A uses step's sub-flow is read
// through ValidateOptions.ReadFile, which the caller supplies.
package flow
