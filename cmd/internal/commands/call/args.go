package call

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// BuildArgs merges --args and the -a pairs into one arguments object.
// --args is a JSON object, @FILE or - (read from stdin); each pair is
// KEY=VALUE with a dotted KEY for nesting, and VALUE taken as JSON when it
// is valid JSON, else as a string. Pairs override --args.
func BuildArgs(argsJSON string, pairs []string, stdin io.Reader, readFile func(string) ([]byte, error)) (map[string]any, error) {
	args := map[string]any{}
	if argsJSON != "" {
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
		v, err := decodeJSON(data)
		if err != nil {
			return nil, cmdutil.UsageErrorf("%s: not valid JSON: %v; give an object such as '{\"city\": \"Oslo\"}'", src, err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, cmdutil.UsageErrorf("%s: tool arguments must be a JSON object such as '{\"city\": \"Oslo\"}', got %s", src, jsonKind(v))
		}
		args = obj
	}
	for _, p := range pairs {
		key, raw, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			return nil, cmdutil.UsageErrorf("-a %s: expected KEY=VALUE, e.g. -a city=Oslo", keyOnly(p))
		}
		var val any = raw
		if v, err := decodeJSON([]byte(raw)); err == nil {
			val = v
		}
		if err := setPath(args, key, val); err != nil {
			return nil, cmdutil.UsageErrorf("-a %s: %v", key, err)
		}
	}
	return args, nil
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

// decodeJSON decodes one JSON value, keeping integers exact.
func decodeJSON(data []byte) (any, error) {
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
