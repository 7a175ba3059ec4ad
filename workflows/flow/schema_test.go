package flow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/workflows/schema"
)

func flowSchema(t *testing.T) *jsonschema.Resolved {
	t.Helper()
	var s jsonschema.Schema
	if err := json.Unmarshal(schema.FlowJSON(), &s); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// yamlInstance reads a flow file as editors do, after the same expression
// quoting the loader applies.
func yamlInstance(t *testing.T, src string) any {
	t.Helper()
	text, _ := quoteExprs(src)
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validFlows are every flow file the loader accepts that the repository
// holds: the format's own test data and the examples.
func validFlows(t *testing.T) []string {
	t.Helper()
	var files []string
	seen := map[string]bool{}
	for _, pattern := range []string{"testdata/format/*.flow.yaml", "../../examples/*/*.flow.yaml"} {
		m, _ := filepath.Glob(pattern)
		for _, f := range m {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no flow files found")
	}
	return files
}

func TestSchemaAcceptsValidFlows(t *testing.T) {
	rs := flowSchema(t)
	for _, file := range validFlows(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(file, data); err != nil {
				t.Skipf("the loader rejects it, so the schema need not accept it: %v", err)
			}
			if err := rs.Validate(yamlInstance(t, string(data))); err != nil {
				t.Errorf("the loader accepts %s but the schema rejects it: %v", file, err)
			}
		})
	}
}

// Files the loader rejects for their shape must fail the schema too, so
// that editors flag what mediator will.
func TestSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	rs := flowSchema(t)
	for name, src := range map[string]string{
		"unknown top-level field":   header + "stepz: []\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
		"wrong version":             "version: 2\nname: t\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
		"missing name":              "version: 1\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
		"no steps":                  header + "steps: []\n",
		"step without id":           header + "steps: [{call: {server: s, tool: t}}]\n",
		"hyphen in id":              header + "steps: [{id: a-b, call: {server: s, tool: t}}]\n",
		"unknown step field":        header + "steps: [{id: a, call: {server: s, tool: t}, retries: 2}]\n",
		"call as a string":          header + "steps: [{id: a, call: s.t}]\n",
		"call without tool":         header + "steps: [{id: a, call: {server: s}}]\n",
		"call and steps":            header + "steps: [{id: a, call: {server: s, tool: t}, steps: [{id: b, call: {server: s, tool: t}}]}]\n",
		"nothing to do":             header + "steps: [{id: a}]\n",
		"with on a group":           header + "steps: [{id: g, with: {a: 1}, steps: [{id: b, call: {server: s, tool: t}}]}]\n",
		"for_each on parallel":      header + "steps: [{id: p, for_each: [1], parallel: {a: [{id: b, call: {server: s, tool: t}}]}}]\n",
		"bad duration":              header + "steps: [{id: a, call: {server: s, tool: t}, timeout: soon}]\n",
		"bad retry field":           header + "steps: [{id: a, call: {server: s, tool: t}, retry: {attempts: 2}}]\n",
		"bad retry class":           header + "steps: [{id: a, call: {server: s, tool: t}, retry: {on: [timout]}}]\n",
		"max_concurrency zero":      header + "steps: [{id: a, for_each: [1], max_concurrency: 0, call: {server: s, tool: t}}]\n",
		"max_concurrency alone":     header + "steps: [{id: a, max_concurrency: 2, call: {server: s, tool: t}}]\n",
		"flow without arrow":        header + "flows: [weather calendar]\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
		"input name with hyphen":    header + "inputs: {a-b: {type: string}}\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
		"on_error not an id":        header + "steps: [{id: a, call: {server: s, tool: t}, on_error: explode!}]\n",
		"retry_unsafe not a bool":   header + "steps: [{id: a, call: {server: s, tool: t}, retry_unsafe: maybe}]\n",
		"if neither expr nor bool":  header + "steps: [{id: a, call: {server: s, tool: t}, if: sometimes}]\n",
		"for_each not a list":       header + "steps: [{id: a, call: {server: s, tool: t}, for_each: cities}]\n",
		"empty parallel":            header + "steps: [{id: p, parallel: {}}]\n",
		"defaults with extra field": header + "defaults: {retries: 1}\nsteps: [{id: a, call: {server: s, tool: t}}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("f.flow.yaml", []byte(src)); err == nil {
				t.Fatalf("the loader accepts it")
			}
			if err := rs.Validate(yamlInstance(t, src)); err == nil {
				t.Errorf("the loader rejects it but the schema accepts it")
			}
		})
	}
}

// The schema lists the same fields as the loader.
func TestSchemaFieldsMatchLoader(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(schema.FlowJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	props := func(m any, path ...string) []string {
		for _, p := range path {
			m = m.(map[string]any)[p]
		}
		var out []string
		for k := range m.(map[string]any)["properties"].(map[string]any) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(ss []string) []string {
		out := append([]string(nil), ss...)
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		what         string
		schema, load []string
	}{
		{"flow", props(doc), flowFields},
		{"step", props(defs, "step"), stepFieldNames},
		{"call", props(defs, "step", "properties", "call"), callFields},
		{"retry", props(defs, "retry"), retryFields},
		{"defaults", props(doc, "properties", "defaults"), defaultsFields},
	} {
		if !reflect.DeepEqual(tc.schema, sorted(tc.load)) {
			t.Errorf("%s fields: schema %v, loader %v", tc.what, tc.schema, sorted(tc.load))
		}
	}
	on := defs["retry"].(map[string]any)["properties"].(map[string]any)["on"].(map[string]any)["items"].(map[string]any)["enum"]
	if got := strings.Trim(strings.Join(strings.Fields(strings.Trim(jsonString(t, on), "[]")), ""), ""); got != strings.Join(quoted(retryOnValues), ",") {
		t.Errorf("retry.on enum %s, loader %v", got, retryOnValues)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = `"` + s + `"`
	}
	return out
}
