package argcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// Compiled at first use, not at every mediator start: only failed
// validations read them.
var (
	quotedRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"(?:[^"\\]|\\.)*"`) })
	typeMsgRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^type: .* has type "([a-z]+)", want (.+)$`) })
	prefixWord = "validating "
)

// describeSchemaError reads jsonschema-go's nested message ("validating
// root: validating /properties/a: type: ...") back into a violation: the
// instance path of the failing argument, the keyword and the schema that
// holds it, and the value when the path leads to it. The chain lists the
// schema locations visited; the instance moves only on properties, items
// and prefixItems steps, not on $ref, allOf or anyOf.
func describeSchemaError(root *jsonschema.Schema, msg string, args any, lab Label) Violation {
	var (
		prev, last string
		path       argPath
	)
	for strings.HasPrefix(msg, prefixWord) {
		i := strings.Index(msg, ": ")
		if i < 0 {
			break
		}
		loc := msg[len(prefixWord):i]
		msg = msg[i+2:]
		if loc == "root" {
			loc = ""
		}
		if strings.HasPrefix(loc, prev) {
			path = append(path, instanceSteps(loc[len(prev):])...)
		}
		prev, last = loc, loc
	}
	keyword, detail, _ := strings.Cut(msg, ": ")
	v := Violation{lab: lab, path: path, keyword: keyword, schema: schemaAt(root, last), detail: detail}
	v.value, v.hasVal = lookupArg(args, path)
	switch {
	case keyword == "required" || strings.HasPrefix(keyword, "dependentRequired"):
		if names := unquoteAll(detail); len(names) > 0 {
			v.keyword, v.names = "required", names
		}
	case strings.HasPrefix(msg, "unexpected additional properties"):
		if names := unquoteAll(msg); len(names) > 0 {
			v.keyword, v.names, v.detail = "additionalProperties", names, ""
		}
	case keyword == "anyOf" || keyword == "oneOf":
		// The first line names anonymous schemas; the indented lines after
		// it say why each alternative failed, which is what helps.
		var why []string
		more := 0
		_, alts, _ := strings.Cut(detail, "\n")
		for l := range strings.Lines(alts) {
			if l = strings.TrimSpace(l); l == "" {
				continue
			}
			if len(why) == MaxViolations {
				more++ // a hostile schema may have thousands
				continue
			}
			alt := describeSchemaError(root, l, args, lab)
			why = append(why, strings.TrimPrefix(strings.TrimPrefix(alt.Sentence(), alt.label(alt.path.String())), " "))
		}
		if more > 0 {
			why = append(why, fmt.Sprintf("and %d more", more))
		}
		if len(why) > 0 {
			v.detail = "matches none of the allowed forms: " + strings.Join(why, "; ")
		}
	case keyword == "type":
		if m := typeMsgRE().FindStringSubmatch(msg); m != nil {
			v.gotType = m[1]
		}
	}
	return v
}

// lookupArg follows path into args; false when a step is not in the
// arguments or not a definite one ("some item").
func lookupArg(args any, path argPath) (any, bool) {
	cur := args
	for _, s := range path {
		switch s.kind {
		case segProp, segKey:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[s.name]; !ok {
				return nil, false
			}
		case segIndex:
			a, ok := cur.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			cur = a[s.index]
		default:
			return nil, false
		}
	}
	return cur, true
}

// instanceSteps turns a schema pointer suffix into instance path steps.
func instanceSteps(rel string) argPath {
	segs := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	var out argPath
	for i := 0; i < len(segs); i++ {
		switch segs[i] {
		case "properties":
			if i+1 < len(segs) {
				out = append(out, pathSeg{kind: segProp, name: unescapePointer(segs[i+1])})
				i++
			}
		case "items", "additionalItems":
			out = append(out, pathSeg{kind: segAnyIndex})
		case "prefixItems":
			if i+1 < len(segs) {
				n, _ := strconv.Atoi(segs[i+1])
				out = append(out, pathSeg{kind: segIndex, index: n})
				i++
			}
		case "additionalProperties", "patternProperties":
			if segs[i] == "patternProperties" {
				i++
			}
			out = append(out, pathSeg{kind: segAnyKey})
		}
	}
	return out
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// schemaAt walks a schema pointer as jsonschema-go writes them.
func schemaAt(s *jsonschema.Schema, ptr string) *jsonschema.Schema {
	if ptr == "" {
		return s
	}
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i := 0; s != nil && i < len(segs); i++ {
		next := func() string {
			i++
			if i < len(segs) {
				return unescapePointer(segs[i])
			}
			return ""
		}
		idx := func(list []*jsonschema.Schema) *jsonschema.Schema {
			n, err := strconv.Atoi(next())
			if err != nil || n < 0 || n >= len(list) {
				return nil
			}
			return list[n]
		}
		switch segs[i] {
		case "properties":
			s = s.Properties[next()]
		case "$defs":
			s = s.Defs[next()]
		case "definitions":
			s = s.Definitions[next()]
		case "items":
			s = s.Items
		case "additionalProperties":
			s = s.AdditionalProperties
		case "prefixItems":
			s = idx(s.PrefixItems)
		case "allOf":
			s = idx(s.AllOf)
		case "anyOf":
			s = idx(s.AnyOf)
		case "oneOf":
			s = idx(s.OneOf)
		default:
			return nil
		}
	}
	return s
}

func unquoteAll(s string) []string {
	var out []string
	for _, q := range quotedRE().FindAllString(s, -1) {
		if u, err := strconv.Unquote(q); err == nil {
			out = append(out, u)
		}
	}
	return out
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
