package flow

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// TestNoIO holds the format package to its promise: parsing and validating
// a flow touches no files, databases or network, so anything may embed it.
func TestNoIO(t *testing.T) {
	banned := func(path string) bool {
		switch path {
		case "os", "os/exec", "database/sql", "net", "net/http", "io/ioutil", "syscall":
			return true
		}
		return strings.HasPrefix(path, "net/") || strings.HasPrefix(path, "modernc.org/")
	}
	for name, paths := range testenv.Imports(t) {
		for _, path := range paths {
			if banned(path) {
				t.Errorf("%s imports %q: package flow must stay free of I/O (put it in package workflows)", name, path)
			}
		}
	}
}
