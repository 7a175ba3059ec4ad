// Package workflows will hold the workflow file format, its validation, the
// engine that runs deterministic chains of tool calls across servers, and the
// run journal. It is empty until that work lands.
package workflows
