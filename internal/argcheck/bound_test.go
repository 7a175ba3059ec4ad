package argcheck

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
)

func decodeSchema(t *testing.T, src string) any {
	t.Helper()
	var raw any
	if err := json.Unmarshal([]byte(src), &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// Each of these would send jsonschema-go into recursion without end (the
// Go runtime then kills the whole process: a stack overflow is not a
// panic), so they are refused when resolved, naming the cycle.
func TestCyclicSchemasRefused(t *testing.T) {
	for _, c := range []struct{ name, schema, cycle string }{
		{"root", `{"type":"object","$ref":"#"}`, "# → #"},
		{"defs", `{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}`, "#/$defs/a → #/$defs/b → #/$defs/a"},
		{"allOf", `{"properties":{"p":{"$ref":"#/$defs/a"}},"$defs":{"a":{"allOf":[{"type":"string"},{"$ref":"#/$defs/a"}]}}}`, "#/$defs/a → #/$defs/a/allOf/1 → #/$defs/a"},
		{"anyOf via anchor", `{"$defs":{"a":{"$anchor":"x","anyOf":[{"$ref":"#x"}]}},"$ref":"#x"}`, "#/$defs/a → #/$defs/a/anyOf/0 → #/$defs/a"},
		{"not and if", `{"$defs":{"a":{"not":{"if":{"$ref":"#/$defs/a"}}}},"$ref":"#/$defs/a"}`, "#/$defs/a → #/$defs/a/not → #/$defs/a/not/if → #/$defs/a"},
		{"$id", `{"$id":"https://example.com/root","$defs":{"a":{"$id":"a.json","$ref":"b.json"},"b":{"$id":"b.json","$ref":"a.json"}},"$ref":"a.json"}`, "#/$defs/a → #/$defs/b → #/$defs/a"},
		{"draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"$ref":"#/definitions/a"}},"properties":{"p":{"$ref":"#/definitions/a"}}}`, "#/definitions/a → #/definitions/a"},
		{"dynamic", `{"$dynamicAnchor":"d","$defs":{"a":{"$dynamicRef":"#d"}},"anyOf":[{"$ref":"#/$defs/a"}]}`, "# → #/anyOf/0 → #/$defs/a → #"},
		{"hostile server", mustJSON(t, hostile.CyclicSchema()), "#/$defs/a → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a"},
	} {
		_, err := Resolve(decodeSchema(t, c.schema))
		if !errors.Is(err, ErrUncheckable) {
			t.Errorf("%s: %v, want an ErrUncheckable", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), "$ref cycle "+c.cycle+" never reaches into the value") {
			t.Errorf("%s: %q does not name the cycle %s", c.name, err, c.cycle)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A schema that refers to itself for a part of the value (a tree) is
// fine: each step goes one level into the value, which is finite.
func TestRecursiveSchemasStillCheck(t *testing.T) {
	s := mustResolve(t, `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","required":["name"],
		"properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`)
	if v := mustCheck(t, s, decodeArgs(t, `{"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]}`), Label{}); v != nil {
		t.Errorf("valid tree: %v", v[0].Sentence())
	}
	v := mustCheck(t, s, decodeArgs(t, `{"name":"a","children":[{"name":"b","children":[{"name":3}]}]}`), Label{})
	if len(v) != 1 || v[0].Sentence() != `argument "children[].children[].name" must be a string (got an integer)` {
		t.Errorf("got %d violations: %s", len(v), v[0].Sentence())
	}
}

// Alternatives nested within alternatives take exponential work for any
// value: refused when resolved. A few levels are fine.
func TestExplosiveSchemasRefused(t *testing.T) {
	_, err := Resolve(hostile.ExplosiveSchema(60))
	if !errors.Is(err, ErrUncheckable) || !strings.Contains(err.Error(), "# expands into more checks of a single value than the work budget allows") {
		t.Fatalf("60 levels: %v", err)
	}
	// The chain through allOf and oneOf is refused too.
	_, err = Resolve(decodeSchema(t, strings.ReplaceAll(mustJSON(t, hostile.ExplosiveSchema(60)), "anyOf", "oneOf")))
	if !errors.Is(err, ErrUncheckable) {
		t.Fatalf("oneOf: %v", err)
	}
	s, err := Resolve(hostile.ExplosiveSchema(4))
	if err != nil {
		t.Fatal(err)
	}
	if v := mustCheck(t, s, map[string]any{}, Label{}); len(v) != 1 || !strings.Contains(v[0].Sentence(), "matches none of the allowed forms") {
		t.Errorf("4 levels: %v", v)
	}
}

// A schema harmless for flat values can double its work at every level
// of the value: the budget then refuses that value, and that value only.
func TestDeepValueOverBudget(t *testing.T) {
	s, err := Resolve(hostile.DeepAlternativesSchema())
	if err != nil {
		t.Fatal(err)
	}
	if v := mustCheck(t, s, hostile.Nested(3), Label{}); v != nil {
		t.Errorf("3 levels: %v", v[0].Sentence())
	}
	_, err = s.Check(context.Background(), hostile.Nested(60), Label{})
	if !errors.Is(err, ErrUncheckable) || !strings.Contains(err.Error(), "checking this value would take more work than the budget allows") {
		t.Fatalf("60 levels: %v", err)
	}
	// Deeper than any budget could follow.
	flat, err := Resolve(decodeSchema(t, `{"$ref":"#/$defs/n","$defs":{"n":{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flat.Check(context.Background(), hostile.Nested(100), Label{}); err != nil {
		t.Errorf("100 levels of a linear schema: %v", err)
	}
	_, err = flat.Check(context.Background(), hostile.Nested(5000), Label{})
	if !errors.Is(err, ErrUncheckable) || !strings.Contains(err.Error(), "more than 1000 deep") {
		t.Errorf("5000 levels: %v", err)
	}
}

// Checking ends with its context.
func TestCheckEndsWithContext(t *testing.T) {
	s, err := Resolve(hostile.DeepAlternativesSchema())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Check(ctx, hostile.Nested(2), Label{}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// The graph resolves references as jsonschema-go does: for each form of
// reference, the schema jsonschema-go reports validating is the one the
// graph leads to.
func TestGraphFollowsReferencesLikeJSONSchemaGo(t *testing.T) {
	validating := regexp.MustCompile(`validating ([^:]+): type:`)
	for _, c := range []struct{ name, schema string }{
		{"pointer", `{"$defs":{"x":{"type":"string"}},"$ref":"#/$defs/x"}`},
		{"anchor", `{"$defs":{"x":{"$anchor":"here","type":"string"}},"$ref":"#here"}`},
		{"escaped", `{"$defs":{"a/b~c":{"type":"string"}},"$ref":"#/$defs/a~1b~0c"}`},
		{"items", `{"properties":{"p":{"items":{"type":"string"}}},"$ref":"#/properties/p/items"}`},
		{"allOf index", `{"$defs":{"x":{"allOf":[{"type":"null"},{"type":"string"}]}},"$ref":"#/$defs/x/allOf/1"}`},
		{"relative $id", `{"$id":"https://example.com/a/root.json","$defs":{"x":{"$id":"sub/x.json","type":"string"}},"$ref":"sub/x.json"}`},
		{"pointer within $id", `{"$id":"https://example.com/root","$defs":{"x":{"$id":"x","$defs":{"y":{"type":"string"}}}},"$ref":"x#/$defs/y"}`},
		{"anchor within $id", `{"$id":"https://example.com/root","$defs":{"x":{"$id":"x","$defs":{"y":{"$anchor":"y","type":"string"}}}},"$ref":"x#y"}`},
		{"draft-07 id anchor", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"x":{"$id":"#x","type":"string"}},"allOf":[{"$ref":"#x"}]}`},
		{"dynamic as lexical", `{"$defs":{"x":{"type":"string"}},"$dynamicRef":"#/$defs/x"}`},
	} {
		s, err := Resolve(decodeSchema(t, c.schema))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		verr := s.resolved.Validate(1.0)
		if verr == nil {
			t.Errorf("%s: 1 is valid", c.name)
			continue
		}
		m := validating.FindStringSubmatch(verr.Error())
		if m == nil {
			t.Errorf("%s: %v", c.name, verr)
			continue
		}
		// Find where the graph leads, from the root through in-place edges.
		var found []string
		seen := map[*node]bool{}
		var walk func(n *node)
		walk = func(n *node) {
			if seen[n] {
				return
			}
			seen[n] = true
			if n.s.Type == "string" {
				name := n.ptr
				if n.s.ID != "" {
					name = n.s.ID
				}
				found = append(found, name)
			}
			for _, c := range n.inPlace {
				walk(c)
			}
		}
		walk(s.graph.root)
		if len(found) != 1 || found[0] != m[1] {
			t.Errorf("%s: jsonschema-go validated %s, the graph leads to %v", c.name, m[1], found)
		}
	}
}
