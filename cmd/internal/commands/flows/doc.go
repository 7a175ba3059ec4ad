// Package flows holds the end-to-end tests of the flow commands (run,
// resume, runs, validate, graph), which share one harness: real servers,
// a real journal and the command tree as a user runs it.
package flows
