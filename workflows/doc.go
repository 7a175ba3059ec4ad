// Package workflows runs mediator's flow files: deterministic, validated,
// resumable chains of MCP tool calls across servers.
//
// The format itself (parsing, expressions, validation, the graph) is in
// package flow, which does no I/O so that anything may parse and check a
// flow without touching files, databases or the network; Load here reads
// a file and hands it to flow.Parse. This package runs a flow.Flow on a
// small runtime interface and keeps the run journal.
package workflows
