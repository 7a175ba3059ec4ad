package argcheck

import (
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// checkNode is one schema of a tool's input schema compiled for the
// checker. The checker covers the keywords nearly every tool uses (type,
// properties, required, additionalProperties, items, enum, const, numeric
// and string bounds, pattern, min/maxItems) with jsonschema-go's semantics.
// It runs on every call, so it works on the decoded values without
// reflection or allocation, and when arguments fail it has what a clear
// message needs at hand: the item index, the value and the whole list of
// problems rather than the first. Schemas with any other keyword ($ref,
// anyOf, if, patternProperties, ...) are left to jsonschema-go.
type checkNode struct {
	s       *jsonschema.Schema
	never   bool // the false schema
	pattern *regexp.Regexp
	props   map[string]*checkNode
	names   []string   // props' keys, sorted, for a stable order of problems
	extra   *checkNode // additionalProperties as a schema; nil allows anything
	noExtra bool       // additionalProperties: false
	items   *checkNode
}

// compileCheck compiles s, or reports false if s uses a keyword the checker
// leaves to jsonschema-go.
func compileCheck(s *jsonschema.Schema) (*checkNode, bool) {
	if s == nil {
		return &checkNode{s: &jsonschema.Schema{}}, true
	}
	if isFalseSchema(s) {
		return &checkNode{s: s, never: true}, true
	}
	if !onlyCheckedKeywords(s) {
		return nil, false
	}
	n := &checkNode{s: s}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, false
		}
		n.pattern = re
	}
	if len(s.Properties) > 0 {
		n.props = make(map[string]*checkNode, len(s.Properties))
		for name, ps := range s.Properties {
			c, ok := compileCheck(ps)
			if !ok {
				return nil, false
			}
			n.props[name] = c
		}
		n.names = sortedKeys(n.props)
	}
	if ap := s.AdditionalProperties; ap != nil {
		if isFalseSchema(ap) {
			n.noExtra = true
		} else {
			c, ok := compileCheck(ap)
			if !ok {
				return nil, false
			}
			n.extra = c
		}
	}
	if s.Items != nil {
		c, ok := compileCheck(s.Items)
		if !ok {
			return nil, false
		}
		n.items = c
	}
	return n, true
}

// onlyCheckedKeywords reports whether s has no keyword but those the
// checker implements and annotations, which validate nothing. It clears
// the known fields of a copy and looks at what is left, so a keyword a
// newer jsonschema-go adds goes to jsonschema-go rather than being ignored.
func onlyCheckedKeywords(s *jsonschema.Schema) bool {
	c := *s
	// Annotations, and identifiers that matter only to $ref (which is not
	// on this list).
	c.ID, c.Schema, c.Comment, c.Defs, c.Definitions, c.Anchor = "", "", "", nil, nil, ""
	c.Title, c.Description, c.Default, c.Deprecated, c.ReadOnly, c.WriteOnly, c.Examples = "", "", nil, false, false, false, nil
	c.Format, c.ContentEncoding, c.ContentMediaType, c.ContentSchema = "", "", "", nil
	c.Extra, c.PropertyOrder = nil, nil
	// What the checker checks.
	c.Type, c.Types, c.Enum, c.Const = "", nil, nil, nil
	c.MultipleOf, c.Minimum, c.Maximum, c.ExclusiveMinimum, c.ExclusiveMaximum = nil, nil, nil, nil, nil
	c.MinLength, c.MaxLength, c.Pattern = nil, nil, ""
	c.Items, c.MinItems, c.MaxItems = nil, nil, nil
	c.Properties, c.Required, c.AdditionalProperties = nil, nil, nil
	return reflect.ValueOf(c).IsZero()
}

// isFalseSchema reports whether s is the schema `false`, which jsonschema-go
// decodes as {"not": {}}.
func isFalseSchema(s *jsonschema.Schema) bool {
	if s.Not == nil || !reflect.ValueOf(*s.Not).IsZero() {
		return false
	}
	rest := *s
	rest.Not = nil
	return reflect.ValueOf(rest).IsZero()
}

// argChecker walks arguments against a compiled schema, collecting
// violations. unsure means it met a Go value JSON does not decode to, and
// jsonschema-go must decide.
type argChecker struct {
	// stack holds the path to the value being checked. A fixed array
	// keeps a check that finds nothing free of allocations; arguments
	// nested deeper go to jsonschema-go.
	stack  [16]pathSeg
	depth  int
	viols  []Violation
	lab    Label
	unsure bool
}

func (c *argChecker) path() argPath { return slices.Clone(c.stack[:c.depth]) }

func (c *argChecker) fail(n *checkNode, keyword string, v any) {
	c.viols = append(c.viols, Violation{lab: c.lab, path: c.path(), keyword: keyword, schema: n.s, value: v, hasVal: true})
}

// descend checks v as the child seg of the current value.
func (c *argChecker) descend(seg pathSeg, n *checkNode, v any) {
	if c.depth == len(c.stack) {
		c.unsure = true
		return
	}
	c.stack[c.depth] = seg
	c.depth++
	c.check(n, v)
	c.depth--
}

func (c *argChecker) check(n *checkNode, v any) {
	if c.unsure || len(c.viols) >= MaxViolations {
		return
	}
	t, ok := jsonTypeOf(v)
	if !ok {
		c.unsure = true
		return
	}
	if n.never {
		c.fail(n, "false", v)
		return
	}
	s := n.s
	if (s.Type != "" || s.Types != nil) && !typeAllows(s, t) {
		c.fail(n, "type", v)
		return
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return jsonEqual(e, v) }) {
		c.fail(n, "enum", v)
		return
	}
	if s.Const != nil && !jsonEqual(*s.Const, v) {
		c.fail(n, "const", v)
		return
	}
	switch t {
	case "integer", "number":
		if kw := c.numberRule(s, v); kw != "" {
			c.fail(n, kw, v)
		}
	case "string":
		str := v.(string)
		if s.MinLength != nil || s.MaxLength != nil {
			l := utf8.RuneCountInString(str)
			if s.MinLength != nil && l < *s.MinLength {
				c.fail(n, "minLength", v)
				return
			}
			if s.MaxLength != nil && l > *s.MaxLength {
				c.fail(n, "maxLength", v)
				return
			}
		}
		if n.pattern != nil && !n.pattern.MatchString(str) {
			c.fail(n, "pattern", v)
		}
	case "array":
		arr := v.([]any)
		if n.items != nil {
			for i, item := range arr {
				c.descend(pathSeg{kind: segIndex, index: i}, n.items, item)
			}
		}
		if s.MinItems != nil && len(arr) < *s.MinItems {
			c.fail(n, "minItems", v)
		} else if s.MaxItems != nil && len(arr) > *s.MaxItems {
			c.fail(n, "maxItems", v)
		}
	case "object":
		c.checkObject(n, v.(map[string]any))
	}
}

func (c *argChecker) checkObject(n *checkNode, obj map[string]any) {
	for _, name := range n.names {
		if pv, ok := obj[name]; ok {
			c.descend(pathSeg{kind: segProp, name: name}, n.props[name], pv)
		}
	}
	if n.noExtra || n.extra != nil {
		var unknown []string
		for k := range obj {
			if _, known := n.props[k]; !known {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		if n.noExtra && len(unknown) > 0 {
			c.viols = append(c.viols, Violation{lab: c.lab, path: c.path(), keyword: "additionalProperties", schema: n.s, names: unknown})
		} else if n.extra != nil {
			for _, k := range unknown {
				c.descend(pathSeg{kind: segKey, name: k}, n.extra, obj[k])
			}
		}
	}
	var missing []string
	for _, r := range n.s.Required {
		if _, ok := obj[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		c.viols = append(c.viols, Violation{lab: c.lab, path: c.path(), keyword: "required", schema: n.s, names: missing})
	}
}

// numberRule returns the numeric keyword v breaks, or "". Comparisons are
// exact, as jsonschema-go's are.
func (c *argChecker) numberRule(s *jsonschema.Schema, v any) string {
	if s.MultipleOf != nil {
		f, _ := toFloat(v)
		if _, frac := math.Modf(f / *s.MultipleOf); frac != 0 {
			return "multipleOf"
		}
	}
	switch {
	case s.Minimum != nil && cmpNumber(v, *s.Minimum) < 0:
		return "minimum"
	case s.Maximum != nil && cmpNumber(v, *s.Maximum) > 0:
		return "maximum"
	case s.ExclusiveMinimum != nil && cmpNumber(v, *s.ExclusiveMinimum) <= 0:
		return "exclusiveMinimum"
	case s.ExclusiveMaximum != nil && cmpNumber(v, *s.ExclusiveMaximum) >= 0:
		return "exclusiveMaximum"
	}
	return ""
}

// jsonTypeOf is the JSON Schema type of a decoded JSON value, as
// jsonschema-go names it (an integral float is an "integer"); false for a
// Go type JSON does not decode to.
func jsonTypeOf(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case string:
		return "string", true
	case bool:
		return "boolean", true
	case float64:
		return floatType(x), true
	case float32:
		return floatType(float64(x)), true
	case int, int64, int32, uint, uint64, uint32:
		return "integer", true
	case map[string]any:
		return "object", true
	case []any:
		return "array", true
	}
	return "", false
}

func floatType(f float64) string {
	if _, frac := math.Modf(f); frac == 0 {
		return "integer"
	}
	return "number"
}

func typeAllows(s *jsonschema.Schema, got string) bool {
	ok := func(want string) bool { return want == got || want == "number" && got == "integer" }
	if s.Type != "" {
		return ok(s.Type)
	}
	return slices.ContainsFunc(s.Types, ok)
}

// toFloat is a number's float64 value (the nearest for large integers).
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// exactFloat is a number's float64 value if that is exact.
func exactFloat(v any) (float64, bool) {
	const limit = 1 << 53
	switch x := v.(type) {
	case int:
		return float64(x), x >= -limit && x <= limit
	case int64:
		return float64(x), x >= -limit && x <= limit
	case uint:
		return float64(x), x <= limit
	case uint64:
		return float64(x), x <= limit
	}
	return toFloat(v)
}

// cmpNumber compares the number v with b exactly.
func cmpNumber(v any, b float64) int {
	if f, ok := exactFloat(v); ok {
		switch {
		case f < b:
			return -1
		case f > b:
			return 1
		}
		return 0
	}
	return toRat(v).Cmp(new(big.Rat).SetFloat64(b))
}

func toRat(v any) *big.Rat {
	r := new(big.Rat)
	switch x := v.(type) {
	case int:
		r.SetInt64(int64(x))
	case int64:
		r.SetInt64(x)
	case uint:
		r.SetUint64(uint64(x))
	case uint64:
		r.SetUint64(x)
	default:
		f, _ := toFloat(v)
		r.SetFloat64(f)
	}
	return r
}

// jsonEqual is JSON equality as jsonschema-go's enum and const use it:
// numbers by value whatever their Go type, containers deeply.
func jsonEqual(a, b any) bool {
	if _, ok := toFloat(a); ok {
		if _, ok := toFloat(b); !ok {
			return false
		}
		fa, ea := exactFloat(a)
		fb, eb := exactFloat(b)
		if ea && eb {
			return fa == fb
		}
		return toRat(a).Cmp(toRat(b)) == 0
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsonEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}
