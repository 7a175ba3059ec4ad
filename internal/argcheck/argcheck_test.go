package argcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func mustResolve(t *testing.T, src string) *Schema {
	t.Helper()
	var raw any
	if err := json.Unmarshal([]byte(src), &raw); err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCheck(t *testing.T, s *Schema, v any, lab Label) []Violation {
	t.Helper()
	viols, err := s.Check(context.Background(), v, lab)
	if err != nil {
		t.Fatal(err)
	}
	return viols
}

func decodeArgs(t *testing.T, src string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// describeSchemaError reads jsonschema-go's messages back into argument
// paths; these cases cover the schema shapes the checker leaves to
// jsonschema-go and whose paths differ from the instance's ($ref, anyOf,
// prefixItems, additionalProperties, escaping).
func TestDescribeSchemaError(t *testing.T) {
	r := mustResolve(t, `{"type":"object",
		"$defs":{"P":{"type":"object","properties":{"zip":{"type":"string"}},"required":["zip"]}},
		"properties":{
			"home":{"$ref":"#/$defs/P"},
			"any":{"anyOf":[{"type":"string"},{"type":"integer"}]},
			"tags":{"type":"array","items":{"type":"string"},"minItems":1},
			"pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]},
			"m":{"type":"object","additionalProperties":{"type":"integer"}},
			"a/b":{"type":"string"}}}`)
	if r.check != nil {
		t.Fatal("the checker claims a schema with $ref, anyOf and prefixItems")
	}
	for _, c := range []struct{ in, field, msg, audit string }{
		{`{"home":{}}`, "home.zip", `missing required argument "home.zip" (string)`, `argument "home.zip": required`},
		{`{"home":{"zip":1}}`, "home.zip", `argument "home.zip" must be a string (got 1)`, `argument "home.zip": type`},
		{`{"any":true}`, "any", `argument "any" matches none of the allowed forms: must be a string (got true); must be an integer (got true)`, `argument "any": anyOf`},
		{`{"tags":[]}`, "tags", `argument "tags" must have at least 1 item (got 0)`, `argument "tags": minItems`},
		{`{"tags":[1]}`, "tags[]", `argument "tags[]" must be a string (got an integer)`, `argument "tags[]": type`},
		{`{"pair":["a","b"]}`, "pair[1]", `argument "pair[1]" must be an integer (got string "b")`, `argument "pair[1]": type`},
		{`{"m":{"x":"y"}}`, "m.*", `argument "m.*" must be an integer (got a string)`, `argument "m.*": type`},
		{`{"a/b":1}`, "a/b", `argument "a/b" must be a string (got 1)`, `argument "a/b": type`},
	} {
		v := decodeArgs(t, c.in)
		err := r.resolved.Validate(v)
		if err == nil {
			t.Errorf("%s: valid", c.in)
			continue
		}
		viol := describeSchemaError(r.resolved.Schema(), err.Error(), v, Label{})
		if field, msg, audit := viol.Field(), viol.Sentence(), viol.AuditLine(); field != c.field || msg != c.msg || audit != c.audit {
			t.Errorf("%s:\n got %q %q %q\nwant %q %q %q", c.in, field, msg, audit, c.field, c.msg, c.audit)
		}
	}
}

// The checker's sentences quote the value and say what would be valid;
// its audit lines name the argument and the rule and never a value.
func TestCheckerMessages(t *testing.T) {
	r := mustResolve(t, `{"type":"object",
		"properties":{
			"city":{"type":"string","minLength":1,"maxLength":20},
			"code":{"type":"string","pattern":"^[A-Z]{3}$"},
			"days":{"type":"integer","minimum":1,"maximum":7},
			"ratio":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},
			"step":{"type":"integer","multipleOf":5},
			"unit":{"type":"string","enum":["celsius","fahrenheit"]},
			"v":{"const":"v1"},
			"tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2},
			"stops":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}},
			"labels":{"type":"object","additionalProperties":{"type":"string"}},
			"maybe":{"type":["string","null"]},
			"gone":false},
		"required":["city"],
		"additionalProperties":false}`)
	if r.check == nil {
		t.Fatal("the checker does not cover the schema")
	}
	long := strings.Repeat("x", 50)
	for _, c := range []struct{ in, field, msg, audit string }{
		{`{"city":"Oslo","days":99}`, "days", `argument "days" must be at most 7 (got 99)`, `argument "days": maximum`},
		{`{"city":"Oslo","days":0}`, "days", `argument "days" must be at least 1 (got 0)`, `argument "days": minimum`},
		{`{"city":"Oslo","days":2.5}`, "days", `argument "days" must be an integer (got 2.5)`, `argument "days": type`},
		{`{"city":"Oslo","days":"three"}`, "days", `argument "days" must be an integer (got string "three")`, `argument "days": type`},
		{`{"city":"Oslo","ratio":0}`, "ratio", `argument "ratio" must be greater than 0 (got 0)`, `argument "ratio": exclusiveMinimum`},
		{`{"city":"Oslo","ratio":1}`, "ratio", `argument "ratio" must be less than 1 (got 1)`, `argument "ratio": exclusiveMaximum`},
		{`{"city":"Oslo","step":7}`, "step", `argument "step" must be a multiple of 5 (got 7)`, `argument "step": multipleOf`},
		{`{"city":""}`, "city", `argument "city" must be at least 1 character long (got 0 characters: "")`, `argument "city": minLength`},
		{`{"city":"` + long + `"}`, "city", `argument "city" must be at most 20 characters long (got 50 characters)`, `argument "city": maxLength`},
		{`{"city":"Oslo","code":"osl"}`, "code", "argument \"code\" must match the regular expression `^[A-Z]{3}$` (got string \"osl\")", `argument "code": pattern`},
		{`{"city":"Oslo","unit":"celsus"}`, "unit", `argument "unit" must be one of "celsius", "fahrenheit" (got string "celsus"); did you mean "celsius"?`, `argument "unit": enum`},
		{`{"city":"Oslo","unit":3}`, "unit", `argument "unit" must be a string (got 3)`, `argument "unit": type`},
		{`{"city":"Oslo","v":"v2"}`, "v", `argument "v" must be "v1" (got string "v2")`, `argument "v": const`},
		{`{"city":"Oslo","tags":[]}`, "tags", `argument "tags" must have at least 1 item (got 0)`, `argument "tags": minItems`},
		{`{"city":"Oslo","tags":["a","b","c"]}`, "tags", `argument "tags" must have at most 2 items (got 3)`, `argument "tags": maxItems`},
		{`{"city":"Oslo","tags":["a",2]}`, "tags[1]", `argument "tags[1]" must be a string (got 2)`, `argument "tags[1]": type`},
		{`{"city":"Oslo","stops":[{"name":"a"},{}]}`, "stops[1].name", `missing required argument "stops[1].name" (string)`, `argument "stops[1].name": required`},
		{`{"city":"Oslo","stops":[{"name":"a","nme":"b"}]}`, "stops[0].nme", `unknown argument "stops[0].nme" (did you mean "name"?); valid: name`, `argument "stops[0]": additionalProperties (1 unknown argument)`},
		{`{"city":"Oslo","labels":{"PRIVATE":1}}`, "labels.PRIVATE", `argument "labels.PRIVATE" must be a string (got 1)`, `argument "labels.*": type`},
		{`{"city":"Oslo","maybe":1}`, "maybe", `argument "maybe" must be a string or null (got 1)`, `argument "maybe": type`},
		{`{"city":"Oslo","gone":1}`, "gone", `argument "gone" is not allowed here`, `argument "gone": false`},
		{`{"city":"Oslo","cty":"x"}`, "cty", `unknown argument "cty" (did you mean "city"?); valid: city, code, days, gone, labels, maybe, ratio, step, stops, tags, unit, v`, `the arguments: additionalProperties (1 unknown argument)`},
		{`{"days":3}`, "city", `missing required argument "city" (string)`, `argument "city": required`},
	} {
		v := decodeArgs(t, c.in)
		ch := argChecker{}
		ch.check(r.check, v)
		if ch.unsure || len(ch.viols) == 0 {
			t.Errorf("%s: checker found nothing (unsure %v)", c.in, ch.unsure)
			continue
		}
		viol := ch.viols[0]
		if field, msg, audit := viol.Field(), viol.Sentence(), viol.AuditLine(); field != c.field || msg != c.msg || audit != c.audit {
			t.Errorf("%s:\n got %q %q %q\nwant %q %q %q", c.in, field, msg, audit, c.field, c.msg, c.audit)
		}
		if len(ch.viols) > 1 {
			t.Errorf("%s: %d problems, want 1", c.in, len(ch.viols))
		}
	}

	// Every problem is reported at once, in a stable order.
	ch := argChecker{}
	ch.check(r.check, decodeArgs(t, `{"days":99,"unit":"k","extra":1}`))
	var got []string
	for _, v := range ch.viols {
		got = append(got, v.AuditLine())
	}
	want := `argument "days": maximum|argument "unit": enum|the arguments: additionalProperties (1 unknown argument)|argument "city": required`
	if strings.Join(got, "|") != want {
		t.Errorf("problems %q, want %q", strings.Join(got, "|"), want)
	}
}

// The checker must agree with jsonschema-go on what is valid: it replaces
// it on every call for the schemas it covers.
func TestCheckerAgreesWithJSONSchemaGo(t *testing.T) {
	schemas := []string{
		`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"number"},"c":{"type":"string"},"d":{"type":"boolean"},"e":{"type":"null"},"f":{"type":"array"},"g":{"type":"object"}}}`,
		`{"type":"object","properties":{"n":{"type":"number","minimum":-1.5,"maximum":2,"exclusiveMaximum":2}}}`,
		`{"type":"object","properties":{"n":{"multipleOf":0.5}}}`,
		`{"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":3,"pattern":"é"}}}`,
		`{"type":"object","properties":{"e":{"enum":[1,"1",null,true,[1,2],{"k":[1]}]}}}`,
		`{"type":"object","properties":{"c":{"const":{"a":[1,{"b":null}]}}}}`,
		`{"type":"object","properties":{"l":{"type":"array","items":{"type":["integer","string"]},"minItems":1,"maxItems":2}}}`,
		`{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"],"additionalProperties":{"type":"integer"}}}}`,
		`{"type":"object","properties":{"x":true,"y":false},"additionalProperties":false}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"n":{"type":"integer","maximum":3}},"required":["n"]}`,
	}
	instances := []string{
		`{}`, `{"a":1}`, `{"a":1.0}`, `{"a":1.5}`, `{"a":"1"}`, `{"b":1}`, `{"b":"x"}`, `{"c":"x"}`, `{"c":1}`,
		`{"d":false}`, `{"d":0}`, `{"e":null}`, `{"e":0}`, `{"f":[]}`, `{"f":{}}`, `{"g":{}}`, `{"g":[]}`,
		`{"n":-1.5}`, `{"n":-2}`, `{"n":2}`, `{"n":1.999}`, `{"n":3}`, `{"n":4}`, `{"n":1.25}`, `{"n":"x"}`,
		`{"s":"é"}`, `{"s":"éé"}`, `{"s":"abé"}`, `{"s":"abcé"}`, `{"s":"ab"}`,
		`{"e":1}`, `{"e":1.0}`, `{"e":"1"}`, `{"e":true}`, `{"e":false}`, `{"e":[1,2]}`, `{"e":[2,1]}`, `{"e":{"k":[1]}}`, `{"e":{"k":[1.0]}}`, `{"e":{"k":[]}}`,
		`{"c":{"a":[1,{"b":null}]}}`, `{"c":{"a":[1,{"b":0}]}}`, `{"c":{"a":[1]}}`,
		`{"l":[]}`, `{"l":[1]}`, `{"l":["a",2]}`, `{"l":[1,2,3]}`, `{"l":[1.5]}`, `{"l":[null]}`,
		`{"o":{}}`, `{"o":{"x":"a"}}`, `{"o":{"x":"a","y":1}}`, `{"o":{"x":"a","y":"b"}}`, `{"o":{"x":1}}`,
		`{"x":1}`, `{"y":1}`, `{"z":1}`, `{"x":null,"y":null}`,
	}
	for si, src := range schemas {
		r := mustResolve(t, src)
		if r.check == nil {
			t.Fatalf("schema %d: the checker does not cover %s", si, src)
		}
		for _, in := range instances {
			v := decodeArgs(t, in)
			ch := argChecker{}
			ch.check(r.check, v)
			want := r.resolved.Validate(v)
			if ch.unsure || (len(ch.viols) == 0) != (want == nil) {
				t.Errorf("schema %d %s, arguments %s: checker %v (unsure %v), jsonschema-go %v", si, src, in, ch.viols, ch.unsure, want)
			}
		}
	}
	// Go integers beyond 2^53 compare exactly.
	r := mustResolve(t, `{"type":"object","properties":{"n":{"maximum":9007199254740992},"e":{"enum":[9007199254740992]}}}`)
	for _, v := range []map[string]any{
		{"n": int64(1<<53 + 1)}, {"n": uint64(1 << 53)}, {"e": int64(1<<53 + 1)}, {"e": int64(1 << 53)}, {"n": int(-1 << 60)},
	} {
		ch := argChecker{}
		ch.check(r.check, v)
		want := r.resolved.Validate(v)
		if (len(ch.viols) == 0) != (want == nil) {
			t.Errorf("%v: checker %v, jsonschema-go %v", v, ch.viols, want)
		}
	}
}

func TestCheckerLeavesOtherKeywordsToJSONSchemaGo(t *testing.T) {
	for _, kw := range []string{
		`"$ref":"#"`, `"anyOf":[{}]`, `"allOf":[{}]`, `"oneOf":[{}]`, `"not":{"type":"string"}`,
		`"if":{},"then":{}`, `"patternProperties":{"a":{}}`, `"propertyNames":{}`, `"minProperties":1`,
		`"dependentRequired":{"a":["b"]}`, `"prefixItems":[{}]`, `"uniqueItems":true`, `"contains":{}`,
		`"unevaluatedProperties":false`,
	} {
		r := mustResolve(t, fmt.Sprintf(`{"type":"object","properties":{"p":{%s}}}`, kw))
		if r.check != nil {
			t.Errorf("the checker claims a schema with %s", kw)
		}
	}
	// Annotations validate nothing and keep the checker.
	r := mustResolve(t, `{"type":"object","title":"t","description":"d","$comment":"c","properties":{"p":{"type":"string","format":"email","default":"a","examples":["b"],"deprecated":true,"x-custom":1}}}`)
	if r.check == nil {
		t.Error("annotations made the checker give up")
	}
}

func BenchmarkValidateArgs(b *testing.B) {
	var raw any
	_ = json.Unmarshal([]byte(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":14},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"],"additionalProperties":false}`), &raw)
	r, _ := Resolve(raw)
	args := map[string]any{"city": "Lisbon", "days": 3, "unit": "celsius"}
	b.Run("checker", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c argChecker
			c.check(r.check, args)
			if len(c.viols) > 0 {
				b.Fatal(c.viols)
			}
		}
	})
	b.Run("jsonschema-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := r.resolved.Validate(args); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func decodeValue(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
