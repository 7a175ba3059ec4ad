package argcheck

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoIO keeps the package usable from the I/O-free flow format: it
// checks values and builds sentences, and touches no files, processes or
// network.
func TestNoIO(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(token.NewFileSet(), name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "os", strings.HasPrefix(path, "os/"), path == "net", strings.HasPrefix(path, "net/"),
				path == "database/sql", path == "io/ioutil", path == "syscall":
				t.Errorf("%s imports %q: argcheck must stay free of I/O", name, path)
			case strings.Contains(path, ".") && path != "github.com/google/jsonschema-go/jsonschema" && path != "github.com/mediatorhq/mediator/internal/suggest":
				t.Errorf("%s imports %q: argcheck depends only on the standard library, jsonschema-go and internal/suggest", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no non-test Go files found")
	}
}
