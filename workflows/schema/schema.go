// Package schema holds the JSON Schema (draft 2020-12) of *.flow.yaml
// files, for editor completion and for tools that check flows without
// mediator. The parser in package workflows/flow is the authority; a test keeps
// the two in sync.
package schema

import (
	"bytes"
	_ "embed"
)

//go:embed flow.schema.json
var flowSchema []byte

// FlowJSON returns the flow file schema.
func FlowJSON() []byte { return bytes.Clone(flowSchema) }
