package workflows

import (
	"fmt"
	"os"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Load reads and parses the flow file at path. It lives here, not in
// package flow, so that the format package stays free of I/O. On failure
// the error is flow.Problems (every problem in the file, each with
// file:line:column) or a read error.
func Load(path string) (*flow.Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	return flow.Parse(path, data)
}
