package orchestrator

import (
	"encoding/json"
	"testing"
)

// describeSchemaError reads jsonschema-go's messages back into argument
// paths; these cases cover the schema shapes whose paths differ from the
// instance's ($ref, anyOf, prefixItems, additionalProperties, escaping).
func TestDescribeSchemaError(t *testing.T) {
	src := `{"type":"object",
		"$defs":{"P":{"type":"object","properties":{"zip":{"type":"string"}},"required":["zip"]}},
		"properties":{
			"home":{"$ref":"#/$defs/P"},
			"any":{"anyOf":[{"type":"string"},{"type":"integer"}]},
			"tags":{"type":"array","items":{"type":"string"},"minItems":1},
			"pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]},
			"m":{"type":"object","additionalProperties":{"type":"integer"}},
			"a/b":{"type":"string"}}}`
	var raw any
	if err := json.Unmarshal([]byte(src), &raw); err != nil {
		t.Fatal(err)
	}
	r := resolveSchema(raw)
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, c := range []struct{ in, field, msg string }{
		{`{"home":{}}`, "home.zip", `missing required argument "home.zip" (string)`},
		{`{"home":{"zip":1}}`, "home.zip", `argument "home.zip" has type integer, want string`},
		{`{"any":true}`, "any", `argument "any" matches none of the allowed forms: type: true has type "boolean", want "string"; type: true has type "boolean", want "integer"`},
		{`{"tags":[]}`, "tags", `argument "tags": minItems: array length 0 is less than 1`},
		{`{"tags":[1]}`, "tags[]", `argument "tags[]" has type integer, want string`},
		{`{"pair":["a","b"]}`, "pair[1]", `argument "pair[1]" has type string, want integer`},
		{`{"m":{"x":"y"}}`, "m.*", `argument "m.*" has type string, want integer`},
		{`{"a/b":1}`, "a/b", `argument "a/b" has type integer, want string`},
	} {
		var v map[string]any
		if err := json.Unmarshal([]byte(c.in), &v); err != nil {
			t.Fatal(err)
		}
		err := r.resolved.Validate(v)
		if err == nil {
			t.Errorf("%s: valid", c.in)
			continue
		}
		field, msg := describeSchemaError(r.resolved.Schema(), err.Error())
		if field != c.field || msg != c.msg {
			t.Errorf("%s:\n got %q %q\nwant %q %q", c.in, field, msg, c.field, c.msg)
		}
	}
}
