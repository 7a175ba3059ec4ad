package argcheck

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// TestNoIO keeps the package usable from the I/O-free flow format: it
// checks values and builds sentences, and touches no files, processes or
// network.
func TestNoIO(t *testing.T) {
	for name, paths := range testenv.Imports(t) {
		for _, path := range paths {
			switch {
			case path == "net/url":
				// Parsing only: references resolve as jsonschema-go resolves them.
			case path == "os", strings.HasPrefix(path, "os/"), path == "net", strings.HasPrefix(path, "net/"),
				path == "database/sql", path == "io/ioutil", path == "syscall":
				t.Errorf("%s imports %q: argcheck must stay free of I/O", name, path)
			case strings.Contains(path, ".") && path != "github.com/google/jsonschema-go/jsonschema" && path != "github.com/mediatorhq/mediator/internal/suggest":
				t.Errorf("%s imports %q: argcheck depends only on the standard library, jsonschema-go and internal/suggest", name, path)
			}
		}
	}
}
