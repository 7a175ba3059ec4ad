package flow

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoIO holds the format package to its promise: parsing and validating
// a flow touches no files, databases or network, so anything may embed it.
// Reading the import lines (not go list) keeps the test hermetic and fast.
func TestNoIO(t *testing.T) {
	banned := func(path string) bool {
		switch path {
		case "os", "os/exec", "database/sql", "net", "net/http", "io/ioutil", "syscall":
			return true
		}
		return strings.HasPrefix(path, "net/") || strings.HasPrefix(path, "modernc.org/")
	}
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
			if banned(path) {
				t.Errorf("%s imports %q: package flow must stay free of I/O (put it in package workflows)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no non-test Go files found")
	}
}
