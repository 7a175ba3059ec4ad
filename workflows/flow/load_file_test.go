package flow

import (
	"fmt"
	"os"
)

// Load reads and parses a flow file for tests; the package itself does no
// I/O (package workflows has the real Load).
func Load(path string) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	return Parse(path, data)
}
