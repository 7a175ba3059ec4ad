package call

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/internal/argcheck"
)

// BuildArgs merges --args and the -a pairs into one arguments object, with
// no schema to go by (see ApplyPairs).
func BuildArgs(argsJSON string, pairs []string, stdin io.Reader, readFile func(string) ([]byte, error)) (map[string]any, error) {
	args, err := ReadArgs(argsJSON, stdin, readFile)
	if err != nil {
		return nil, err
	}
	ps, err := ParsePairs(pairs)
	if err != nil {
		return nil, err
	}
	if err := ApplyPairs(args, ps, nil); err != nil {
		return nil, err
	}
	return args, nil
}

// ReadArgs reads --args: a JSON object, @FILE, or - (stdin); "" gives an
// empty object.
func ReadArgs(argsJSON string, stdin io.Reader, readFile func(string) ([]byte, error)) (map[string]any, error) {
	if argsJSON == "" {
		return map[string]any{}, nil
	}
	src, data := "--args", []byte(argsJSON)
	switch {
	case argsJSON == "-":
		src = "--args - (stdin)"
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, cmdutil.UsageErrorf("--args -: reading stdin: %v", err)
		}
		data = b
	case strings.HasPrefix(argsJSON, "@"):
		src = "--args " + argsJSON
		b, err := readFile(argsJSON[1:])
		if err != nil {
			return nil, cmdutil.UsageErrorf("--args: %v", err)
		}
		data = b
	}
	v, err := DecodeJSON(data)
	if err != nil {
		return nil, cmdutil.UsageErrorf("%s: not valid JSON: %v; give an object such as '{\"location\": \"Oslo\"}'", src, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, cmdutil.UsageErrorf("%s: tool arguments must be a JSON object such as '{\"location\": \"Oslo\"}', got %s", src, jsonKind(v))
	}
	return obj, nil
}

// Pair is one -a KEY=VALUE, VALUE as typed.
type Pair struct {
	Key, Raw string
}

// ParsePairs splits the -a flags, so a malformed one is reported before
// any server is contacted.
func ParsePairs(pairs []string) ([]Pair, error) {
	out := make([]Pair, 0, len(pairs))
	for _, p := range pairs {
		key, raw, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			return nil, cmdutil.UsageErrorf("-a %s: expected KEY=VALUE, e.g. -a location=Oslo", keyOnly(p))
		}
		out = append(out, Pair{Key: key, Raw: raw})
	}
	return out, nil
}

// NeedsSchema reports whether the tool's input schema could change how a
// pair is read: only a VALUE that is valid JSON other than a string can be
// taken two ways.
func NeedsSchema(pairs []Pair) bool {
	for _, p := range pairs {
		if v, err := DecodeJSON([]byte(p.Raw)); err == nil {
			if _, isString := v.(string); !isString {
				return true
			}
		}
	}
	return false
}

// ApplyPairs sets each pair in args, overriding --args; a dotted KEY nests.
// A VALUE is read by the type the tool's input schema gives its property:
// where the schema wants a string and VALUE would otherwise be a number,
// boolean, null, array or object (zip=01234, version=1.10, name=null), it
// stays the string typed. Where the schema says nothing (schema nil, no
// such property, no type), a VALUE that is valid JSON is taken as that
// JSON value, anything else as a string.
func ApplyPairs(args map[string]any, pairs []Pair, schema any) error {
	root := argcheck.SchemaMap(schema)
	for _, p := range pairs {
		val := readValue(p.Raw, typesAt(root, strings.Split(p.Key, ".")))
		if err := setPath(args, p.Key, val); err != nil {
			return cmdutil.UsageErrorf("-a %s: %v", p.Key, err)
		}
	}
	return nil
}

func readValue(raw string, types []string) any {
	v, err := DecodeJSON([]byte(raw))
	switch {
	case err != nil:
		return raw
	case types == nil, fitsType(v, types), !slices.Contains(types, "string"):
		// With no string among the types, the validator's message about the
		// JSON value is clearer than one about a string nobody meant.
		return v
	}
	return raw
}

// typesAt returns the JSON types the schema allows at path, nil when it
// does not say.
func typesAt(s map[string]any, path []string) []string {
	if s = schemaAt(s, path); s == nil {
		return nil
	}
	return schemaTypes(s)
}

// schemaAt returns the schema of the value at path (a property, else
// additionalProperties, at each step), nil when s says nothing of it.
func schemaAt(s map[string]any, path []string) map[string]any {
	for _, key := range path {
		if s == nil {
			return nil
		}
		props, _ := s["properties"].(map[string]any)
		next, ok := props[key].(map[string]any)
		if !ok {
			next, _ = s["additionalProperties"].(map[string]any)
		}
		s = next
	}
	return s
}

func schemaTypes(s map[string]any) []string {
	if t, ok := argcheck.TypeKeyword(s); ok {
		return t
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		branches, ok := s[k].([]any)
		if !ok || len(branches) == 0 {
			continue
		}
		var out []string
		for _, b := range branches {
			bm, ok := b.(map[string]any)
			if !ok {
				return nil
			}
			bt := schemaTypes(bm)
			if bt == nil {
				return nil // one branch takes anything
			}
			out = append(out, bt...)
		}
		return out
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		var out []string
		for _, e := range enum {
			out = append(out, jsonType(e))
		}
		return out
	}
	return nil
}

func fitsType(v any, types []string) bool {
	for _, t := range types {
		switch jt := jsonType(v); {
		case t == jt:
			return true
		case t == "number" && jt == "integer":
			return true
		}
	}
	return false
}

// jsonType names v's JSON Schema type, "integer" for a whole number.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return ""
}

// keyOnly shows the key part of a malformed pair; the rest may be a value
// the user would rather not see echoed.
func keyOnly(p string) string {
	if k, _, ok := strings.Cut(p, "="); ok {
		return k + "=…"
	}
	if len(p) > 20 {
		return p[:20] + "…"
	}
	return p
}

func setPath(args map[string]any, key string, val any) error {
	parts := strings.Split(key, ".")
	m := args
	for i, part := range parts {
		if part == "" {
			return fmt.Errorf("empty segment in key %q", key)
		}
		if i == len(parts)-1 {
			m[part] = val
			return nil
		}
		switch next := m[part].(type) {
		case nil:
			child := map[string]any{}
			m[part] = child
			m = child
		case map[string]any:
			m = next
		default:
			return fmt.Errorf("%s is already set to %s, which cannot hold %q", strings.Join(parts[:i+1], "."), jsonKind(next), parts[i+1])
		}
	}
	return nil
}

// DecodeJSON decodes one JSON value, keeping integers exact.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return plain(v), nil
}

// plain turns json.Number into int64 when integral, else float64, so the
// arguments hold only the types the schema validator expects.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plain(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plain(e)
		}
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
