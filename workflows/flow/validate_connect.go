package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/argcheck"
)

// connect runs the checks that need each called tool's definition.
func (v *validator) connect(ctx context.Context) {
	tools := map[string]*mcp.Tool{}
	failed := map[string]error{}
	lookup := func(c *Call) (*mcp.Tool, error) {
		key := c.Server + "\x00" + c.Tool
		if t, ok := tools[key]; ok {
			return t, nil
		}
		if err, ok := failed[key]; ok {
			return nil, err
		}
		t, err := v.opts.Catalog.Tool(ctx, c.Server, c.Tool)
		if err == nil && t == nil {
			err = fmt.Errorf("tool %s not found", c)
		}
		if err != nil {
			failed[key] = err
			return nil, err
		}
		tools[key] = t
		return t, nil
	}
	for _, s := range v.all {
		if s.Call == nil || s.Call.Server == "" || s.Call.Tool == "" {
			continue
		}
		tool, err := lookup(s.Call)
		if err != nil {
			v.add(s.Call.Pos, s.field+".call", "%s: %v", s.Call, err)
			continue
		}
		var ann *mcp.ToolAnnotations
		if v.opts.TrustAnnotations != nil && v.opts.TrustAnnotations(s.Call.Server) {
			ann = tool.Annotations
		}
		if err := v.f.CheckRetrySafety(s, ann); err != nil {
			pos, field := s.Call.Pos, s.field+".call"
			if s.Retry != nil {
				pos, field = s.FieldPos("retry"), s.field+".retry"
			}
			v.add(pos, field, "%v", err)
		}
		if err := v.f.CheckPoll(s, ann); err != nil {
			v.add(s.FieldPos("until"), s.field+".until", "%v", err)
		}
		v.arguments(ctx, s, tool, lookup)
	}
}

// arguments checks a call's arguments against the tool's inputSchema:
// literal values are validated, required arguments must be present,
// unknown ones are reported when the schema is closed, and a simple path
// from an input or an upstream result must have a compatible type.
func (v *validator) arguments(ctx context.Context, s *Step, tool *mcp.Tool, lookup func(*Call) (*mcp.Tool, error)) {
	schema := argcheck.SchemaMap(tool.InputSchema)
	if schema == nil {
		return
	}
	if _, err := argcheck.Resolve(schema); errors.Is(err, argcheck.ErrUncheckable) {
		// mediator refuses to call such a tool: say so now.
		v.add(s.Call.Pos, s.field+".call", "%s cannot be called: its inputSchema cannot be checked safely: %v", s.Call, err)
		return
	}
	props, _ := schema["properties"].(map[string]any)
	var have []string
	if s.With != nil {
		have = s.With.Keys
	}
	if req, ok := schema["required"].([]any); ok {
		var missing []string
		for _, r := range req {
			if name, ok := r.(string); ok && !contains(have, name) {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			pos, field := s.Call.Pos, s.field+".call"
			if s.With != nil {
				pos, field = s.FieldPos("with"), s.field+".with"
			}
			v.add(pos, field, "%s requires %s", s.Call, plural("argument", quoteAll(missing)))
		}
	}
	if s.With == nil {
		return
	}
	closed := schema["additionalProperties"] == false
	names := sortedKeys(props)
	for _, k := range s.With.Keys {
		val := s.With.Object[k]
		field := s.field + ".with." + k
		prop, known := props[k].(map[string]any)
		if !known {
			if closed {
				v.add(val.Pos, field, "%s has no argument %q%s; it takes %s", s.Call, k, didYouMean(k, names), strings.Join(names, ", "))
			}
			continue
		}
		if !hasExpr(val) {
			if err := validateProperty(ctx, schema, k, literalOf(val)); err != nil {
				v.add(val.Pos, field, "invalid argument for %s: %v", s.Call, err)
			}
			continue
		}
		if val.Kind == KindExpr {
			v.pathType(s, k, val, ResolveSchemaRef(schema, prop), lookup)
		}
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// validateProperty validates one literal argument against its property
// schema, resolved against the whole input schema so $refs work. The
// whole-object keywords (required, additionalProperties) are left out:
// they are checked separately, with better messages.
func validateProperty(ctx context.Context, root map[string]any, name string, value any) error {
	props, _ := root["properties"].(map[string]any)
	one := map[string]any{"type": "object", "properties": map[string]any{name: props[name]}}
	for _, k := range []string{"$defs", "definitions", "$schema", "$id"} {
		if d, ok := root[k]; ok {
			one[k] = d
		}
	}
	rs, err := argcheck.Resolve(one)
	if err != nil {
		return nil // a schema we cannot read is the server's problem, not the flow's
	}
	inst, err := JSONRoundTrip(map[string]any{name: value})
	if err != nil {
		return nil
	}
	viols, err := rs.Check(ctx, inst, argcheck.Label{})
	if err != nil {
		return err
	}
	if len(viols) > 0 {
		say := make([]string, len(viols))
		for i := range viols {
			say[i] = viols[i].Sentence()
		}
		return errors.New(strings.Join(say, "; "))
	}
	return nil
}

// JSONRoundTrip gives v the types encoding/json decodes to.
func JSONRoundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// ResolveSchemaRef follows a local "#/$defs/..." reference.
func ResolveSchemaRef(root, s map[string]any) map[string]any {
	for i := 0; i < 16 && s != nil; i++ {
		ref, ok := s["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return s
		}
		var cur any = root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
		}
		s, _ = cur.(map[string]any)
	}
	return s
}

// schemaAt navigates a schema along property names; ok is false when the
// path leaves what the schema describes.
func schemaAt(root map[string]any, path []string) (map[string]any, bool) {
	s := ResolveSchemaRef(root, root)
	for _, p := range path {
		if s == nil {
			return nil, false
		}
		props, _ := s["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			return nil, false
		}
		s = ResolveSchemaRef(root, next)
	}
	return s, s != nil
}

// SchemaTypes returns the JSON types a schema allows, or nil for any.
func SchemaTypes(s map[string]any) []string {
	if t, ok := argcheck.TypeKeyword(s); ok {
		return t
	}
	if c, ok := s["const"]; ok {
		return []string{jsonType(c)}
	}
	return nil
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case int:
		return "integer"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return ""
}

// typesCompatible reports whether a value of one of src's types can be of
// one of dst's types; integers are numbers.
func typesCompatible(src, dst []string) bool {
	if len(src) == 0 || len(dst) == 0 {
		return true
	}
	for _, a := range src {
		for _, b := range dst {
			if a == b || (a == "integer" && b == "number") || (a == "number" && b == "integer") {
				return true
			}
		}
	}
	return false
}

// pathType compares the schema of a simple path feeding argument k with
// the argument's input schema.
func (v *validator) pathType(s *Step, k string, val *Value, dst map[string]any, lookup func(*Call) (*mcp.Tool, error)) {
	path := val.Expr.SimplePath()
	if path == nil || dst == nil {
		return
	}
	src, what := v.pathSchema(s, k, val, path, lookup)
	if src == nil {
		return
	}
	st, dt := SchemaTypes(src), SchemaTypes(dst)
	if !typesCompatible(st, dt) {
		v.add(val.Pos, s.field+".with."+k, "argument %q of %s is %s, but .%s is %s (%s)",
			k, s.Call, strings.Join(dt, " or "), strings.Join(path, "."), strings.Join(st, " or "), what)
	}
}

// pathSchema finds the schema of a simple path: an input's declared
// schema, or an upstream call's outputSchema for .steps.<id>.result...
func (v *validator) pathSchema(s *Step, k string, val *Value, path []string, lookup func(*Call) (*mcp.Tool, error)) (map[string]any, string) {
	switch path[0] {
	case "inputs":
		if len(path) < 2 {
			return nil, ""
		}
		in, ok := v.f.Inputs[path[1]]
		if !ok {
			return nil, ""
		}
		sch, ok := schemaAt(in.Schema, path[2:])
		if !ok {
			return nil, ""
		}
		return sch, "input " + path[1] + "'s schema"
	case "steps":
		if len(path) < 3 || path[2] != "result" {
			return nil, ""
		}
		t, ok := v.byID[path[1]]
		if !ok || t.Call == nil || t.ForEach != nil {
			return nil, ""
		}
		tool, err := lookup(t.Call)
		if err != nil {
			return nil, ""
		}
		out := argcheck.SchemaMap(tool.OutputSchema)
		if out == nil {
			return nil, ""
		}
		sch, ok := schemaAt(out, path[3:])
		if !ok {
			if parent, ok := schemaAt(out, path[3:len(path)-1]); ok && parent["additionalProperties"] == false {
				props, _ := parent["properties"].(map[string]any)
				v.add(val.Pos, s.field+".with."+k, "%s's outputSchema has no property %q%s", t.Call, path[len(path)-1], didYouMean(path[len(path)-1], sortedKeys(props)))
			}
			return nil, ""
		}
		return sch, "outputSchema of " + t.Call.String()
	}
	return nil, ""
}
