package argcheck

import (
	"fmt"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
)

func TestSchemaMapAcceptsStructsAndMaps(t *testing.T) {
	m := SchemaMap(&jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"n": {Type: "integer"}}})
	props, _ := m["properties"].(map[string]any)
	if n, _ := props["n"].(map[string]any); n["type"] != "integer" {
		t.Errorf("SchemaMap(struct) = %v", m)
	}
	in := map[string]any{"type": "string"}
	if got := SchemaMap(in); fmt.Sprint(got) != fmt.Sprint(in) {
		t.Errorf("SchemaMap(map) = %v", got)
	}
	if SchemaMap(nil) != nil || SchemaMap("not an object") != nil {
		t.Error("SchemaMap of nil or a non-object should be nil")
	}
}

func TestTypeKeyword(t *testing.T) {
	for _, tc := range []struct {
		s    map[string]any
		want string
		ok   bool
	}{
		{map[string]any{"type": "string"}, "[string]", true},
		{map[string]any{"type": []any{"string", "null"}}, "[string null]", true},
		{map[string]any{"const": 1}, "[]", false},
	} {
		got, ok := TypeKeyword(tc.s)
		if fmt.Sprint(got) != tc.want || ok != tc.ok {
			t.Errorf("TypeKeyword(%v) = %v, %v; want %s, %v", tc.s, got, ok, tc.want, tc.ok)
		}
	}
}
