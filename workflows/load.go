package workflows

import (
	"context"
	"fmt"
	"os"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Load reads and parses the flow file at path, and loads the sub-flows its
// uses steps run (each parsed and validated, flow.LoadUses). It lives
// here, not in package flow, so that the format package stays free of
// I/O. On failure the error is flow.Problems (every problem in the files,
// each with file:line:column) or a read error.
func Load(path string) (*flow.Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	f, err := flow.Parse(path, data)
	if err != nil {
		return f, err
	}
	if probs := flow.LoadUses(context.Background(), f, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true}).Errors(); len(probs) > 0 {
		return f, probs
	}
	return f, nil
}
