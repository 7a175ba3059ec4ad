package workflows

import (
	"fmt"
	"os"
)

// Load reads and parses the flow file at path. It is the only function in
// this package that does I/O. On failure the error is Problems (every
// problem in the file, each with file:line:column) or a read error.
func Load(path string) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a flow from data; name is used in positions. It checks the
// file's shape, compiles every expression and rejects banned builtins; the
// checks that need the whole flow (references, cycles, data-flow policy,
// retry safety) are Validate's. The error, if any, is Problems.
func Parse(name string, data []byte) (*Flow, error) {
	return nil, Problems{{Pos: Pos{File: name}, Message: "flow parsing is not implemented yet"}}
}
