package argcheck

import (
	"strings"
	"testing"
)

// A workflow names its values "input" and checks each under its own name;
// the sentences follow, whether the checker or jsonschema-go found the
// problem.
func TestLabelNamesTheValue(t *testing.T) {
	in := Label{Noun: "input", Root: "threshold"}
	for _, c := range []struct{ schema, value, msg, audit string }{
		{`{"type":"number","maximum":1}`, `2`, `input "threshold" must be at most 1 (got 2)`, `input "threshold": maximum`},
		{`{"type":"object","properties":{"min":{"type":"integer"}},"required":["max"],"additionalProperties":false}`, `{"min":"a"}`,
			`input "threshold.min" must be an integer (got string "a")`, `input "threshold.min": type`},
		{`{"type":"object","required":["max"]}`, `{}`, `missing required input "threshold.max"`, `input "threshold.max": required`},
		{`{"type":"array","items":{"type":"string"}}`, `["a",1]`, `input "threshold[1]" must be a string (got 1)`, `input "threshold[1]": type`},
		{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`,
			`input "threshold" matches none of the allowed forms: must be a string (got true); must be an integer (got true)`, `input "threshold": anyOf`},
	} {
		s := mustResolve(t, c.schema)
		var v any
		if strings.HasPrefix(c.value, "{") {
			v = decodeArgs(t, c.value)
		} else {
			v = decodeValue(t, c.value)
		}
		viols := mustCheck(t, s, v, in)
		if len(viols) == 0 {
			t.Errorf("%s against %s: valid", c.value, c.schema)
			continue
		}
		if got, audit := viols[0].Sentence(), viols[0].AuditLine(); got != c.msg || audit != c.audit {
			t.Errorf("%s against %s:\n got %q %q\nwant %q %q", c.value, c.schema, got, audit, c.msg, c.audit)
		}
	}
	// Tool arguments keep their wording by default.
	s := mustResolve(t, `{"type":"object","properties":{"days":{"type":"integer","maximum":7}}}`)
	if got := mustCheck(t, s, decodeArgs(t, `{"days":99}`), Label{})[0].Sentence(); got != `argument "days" must be at most 7 (got 99)` {
		t.Errorf("got %q", got)
	}
	if viols := mustCheck(t, s, decodeArgs(t, `{"days":3}`), Label{}); viols != nil {
		t.Errorf("valid arguments: %v", viols)
	}
}
