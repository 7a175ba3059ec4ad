package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// flowSuffixes are the workflow file names a Catalog takes, as serve's
// workflow tools do.
var flowSuffixes = []string{".flow.yaml", ".flow.yml"}

// Workflow is one workflow file of the daemon's workflows_dir, named
// after its file (rain-reminders.flow.yaml is "rain-reminders").
type Workflow struct {
	Name string
	// Path is the file's absolute path, as the journal records it.
	Path string
	// Flow is the validated flow; nil when Problems is not empty.
	Flow *flow.Flow
	// Problems are why the file cannot run (FILE:LINE:COL each);
	// Warnings do not stop it.
	Problems []string
	Warnings []string
}

// Valid reports whether the workflow can run.
func (w *Workflow) Valid() bool { return w.Flow != nil && len(w.Problems) == 0 }

// Catalog is the workflows the daemon may run, loaded from one directory.
// It is immutable; a reload builds another (Runs.SetCatalog).
type Catalog struct {
	Dir       string
	workflows map[string]*Workflow
	names     []string
}

// LoadCatalog loads and validates every workflow file of dir (not its
// subdirectories) as `mediator run` validates a file (workflows.LoadForRun
// with vo). A file that does not validate is in the catalog with its
// Problems; only an unreadable directory is an error.
func LoadCatalog(ctx context.Context, dir string, vo flow.ValidateOptions) (*Catalog, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("workflows_dir: %w", err)
	}
	c := &Catalog{Dir: dir, workflows: map[string]*Workflow{}}
	for _, e := range entries {
		name, ok := flowName(e.Name())
		if !ok || !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		path, err := filepath.Abs(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("workflows_dir: %w", err)
		}
		w := &Workflow{Name: name, Path: path}
		if other, dup := c.workflows[name]; dup {
			other.Problems = append(other.Problems, fmt.Sprintf("%s: workflow %q is also the name of %s; rename one of them", other.Path, name, path))
			other.Flow = nil
			continue
		}
		c.workflows[name] = w
		c.names = append(c.names, name)
		f, ps, err := workflows.LoadForRun(ctx, path, vo)
		if err != nil {
			w.Problems = []string{err.Error()}
			continue
		}
		for _, p := range ps.Errors() {
			w.Problems = append(w.Problems, p.String())
		}
		for _, p := range ps.Warnings() {
			w.Warnings = append(w.Warnings, p.String())
		}
		if len(w.Problems) == 0 {
			w.Flow = f
		}
	}
	slices.Sort(c.names)
	return c, nil
}

func flowName(file string) (string, bool) {
	for _, suf := range flowSuffixes {
		if b, ok := strings.CutSuffix(file, suf); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

// Get returns the workflow of that name, nil for none.
func (c *Catalog) Get(name string) *Workflow {
	if c == nil {
		return nil
	}
	return c.workflows[name]
}

// Workflows lists the catalog in name order.
func (c *Catalog) Workflows() []*Workflow {
	if c == nil {
		return nil
	}
	out := make([]*Workflow, len(c.names))
	for i, n := range c.names {
		out[i] = c.workflows[n]
	}
	return out
}

// Err joins every invalid workflow's problems, for a log line at load.
func (c *Catalog) Err() error {
	var errs []error
	for _, w := range c.Workflows() {
		if !w.Valid() {
			errs = append(errs, fmt.Errorf("workflow %s cannot run: %s", w.Name, strings.Join(w.Problems, "; ")))
		}
	}
	return errors.Join(errs...)
}

// InputsSchema is the JSON Schema of a workflow's inputs: an object with
// one property per input as the file declares it, an input without a
// default required, no other property allowed.
func InputsSchema(f *flow.Flow) map[string]any {
	props := map[string]any{}
	required := []string{}
	for name, in := range f.Inputs {
		props[name] = in.Schema
		if _, ok := in.Schema["default"]; !ok {
			required = append(required, name)
		}
	}
	slices.Sort(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}
