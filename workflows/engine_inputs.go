package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// PrepareInputs checks given against the flow's declared inputs and returns
// the complete input object: every given value valid against its input's
// JSON Schema, every missing one filled from its default. An input without
// a default is required. Unknown names are errors, so a typo is caught
// before any call rather than silently ignored. All problems are reported
// together. Each check is bounded and ends with ctx.
func PrepareInputs(ctx context.Context, fl *flow.Flow, given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(fl.Inputs))
	var errs []error
	names := make([]string, 0, len(fl.Inputs))
	for n := range fl.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for n := range given {
		if _, ok := fl.Inputs[n]; !ok {
			errs = append(errs, fmt.Errorf("input %q is not declared by %s; declared inputs: %s", n, fl.Source, namesOrNone(names)))
		}
	}
	for _, n := range names {
		in := fl.Inputs[n]
		v, ok := given[n]
		if !ok {
			d, has := in.Schema["default"]
			if !has {
				errs = append(errs, fmt.Errorf("%s: input %q is required (it has no default); pass it with -i %s=VALUE or in --inputs", in.Pos, n, n))
				continue
			}
			v = d
		}
		v = flow.Normalize(asDecodedJSON(v))
		viols, err := flow.CheckInputValue(ctx, in, asDecodedJSON(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: input %q: %w", in.Pos, n, err))
			continue
		}
		if len(viols) > 0 {
			for _, vl := range viols {
				errs = append(errs, fmt.Errorf("%s: %s", in.Pos, vl))
			}
			continue
		}
		out[n] = v
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("inputs of %s are not valid:\n%w", fl.Source, errors.Join(errs...))
	}
	return out, nil
}

// CoerceInput turns a command-line `-i name=text` into a value of the type
// the input's schema asks for: a string stays text, numbers, booleans,
// arrays and objects are parsed as JSON (a bare word for a string-typed
// input needs no quotes).
func CoerceInput(fl *flow.Flow, name, text string) (any, error) {
	in, ok := fl.Inputs[name]
	if !ok {
		names := make([]string, 0, len(fl.Inputs))
		for n := range fl.Inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("input %q is not declared by %s; declared inputs: %s", name, fl.Source, namesOrNone(names))
	}
	types := flow.SchemaTypes(in.Schema)
	if len(types) == 1 && types[0] == "string" {
		return text, nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		// Not JSON: a string is the only thing it can be.
		for _, t := range types {
			if t == "string" {
				return text, nil
			}
		}
		want := strings.Join(types, " or ")
		if want == "" {
			want = "a JSON value"
		}
		return nil, fmt.Errorf("input %q: %q is not valid JSON; it must be %s (e.g. -i %s=%s)", name, text, want, name, inputExample(types))
	}
	return flow.Normalize(v), nil
}

func inputExample(types []string) string {
	if len(types) == 0 {
		return "42"
	}
	switch types[0] {
	case "number":
		return "0.5"
	case "integer":
		return "3"
	case "boolean":
		return "true"
	case "array":
		return `'["a","b"]'`
	case "object":
		return `'{"k":"v"}'`
	}
	return "text"
}

func namesOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// asDecodedJSON gives v the types encoding/json decodes to, which is what
// the schema validator understands.
func asDecodedJSON(v any) any {
	out, err := flow.JSONRoundTrip(v)
	if err != nil {
		return v
	}
	return out
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
