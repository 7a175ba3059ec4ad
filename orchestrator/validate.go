package orchestrator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// schemaResult is a tool's inputSchema resolved once per definition hash.
// A schema mediator cannot use (a draft jsonschema-go does not support, a
// remote $ref) leaves resolved nil: the call then goes out unvalidated and
// the server's own validation applies, rather than making the tool
// uncallable through mediator.
type schemaResult struct {
	resolved *jsonschema.Resolved
	err      error
}

// supportedDrafts are the "$schema" values jsonschema-go validates.
var supportedDrafts = map[string]bool{
	"": true,
	"http://json-schema.org/draft-07/schema#":      true,
	"https://json-schema.org/draft-07/schema#":     true,
	"https://json-schema.org/draft/2020-12/schema": true,
}

// inputSchema returns the tool's resolved input schema, from the entry, the
// orchestrator-wide cache (same definition in an earlier session) or by
// resolving it now.
func (o *Orchestrator) inputSchema(e *toolEntry) *schemaResult {
	if r := e.schema.Load(); r != nil {
		return r
	}
	if v, ok := o.schemas.Load(e.hash); ok {
		r := v.(*schemaResult)
		e.schema.Store(r)
		return r
	}
	r := resolveSchema(e.info.Tool.InputSchema)
	if r.err != nil {
		o.log.Warn("tool input schema unusable; arguments go unvalidated to the server",
			"tool", e.info.Qualified, "error", r.err)
	}
	v, _ := o.schemas.LoadOrStore(e.hash, r)
	r = v.(*schemaResult)
	e.schema.Store(r)
	return r
}

func resolveSchema(raw any) *schemaResult {
	if raw == nil {
		return &schemaResult{err: fmt.Errorf("the tool has no inputSchema")}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return &schemaResult{err: fmt.Errorf("encoding inputSchema: %w", err)}
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return &schemaResult{err: fmt.Errorf("decoding inputSchema: %w", err)}
	}
	if !supportedDrafts[s.Schema] {
		return &schemaResult{err: fmt.Errorf("inputSchema uses unsupported draft %q", s.Schema)}
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return &schemaResult{err: fmt.Errorf("resolving inputSchema: %w", err)}
	}
	return &schemaResult{resolved: rs}
}

// jsonArgs returns args as plain JSON values (what the validator and the
// wire see) and their canonical JSON encoding. nil args are the empty object.
func jsonArgs(args map[string]any) (map[string]any, []byte, error) {
	if args == nil {
		args = map[string]any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, nil, err
	}
	if isPlainJSON(args) {
		return args, b, nil
	}
	// Structs, typed slices or json.RawMessage: validate what will actually
	// be sent, which is their JSON form.
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, nil, err
	}
	return plain, b, nil
}

// isPlainJSON reports whether v holds only the types encoding/json decodes
// into (plus Go integers), which the validator handles directly.
func isPlainJSON(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32:
		return true
	case map[string]any:
		for _, e := range x {
			if !isPlainJSON(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isPlainJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// validateArgs checks args against the resolved schema and turns
// jsonschema-go's error into one naming the argument path and what the
// schema expects.
func (o *Orchestrator) validateArgs(e *toolEntry, args map[string]any) *Error {
	r := o.inputSchema(e)
	if r.resolved == nil {
		return nil
	}
	err := r.resolved.Validate(args)
	if err == nil {
		return nil
	}
	field, msg := describeSchemaError(r.resolved.Schema(), err.Error())
	return &Error{
		Kind:   KindInvalidArguments,
		Server: e.info.Server,
		Tool:   e.info.Name,
		Field:  o.redact(field), // a secret pasted as an argument name stays masked too
		Msg:    o.redact(fmt.Sprintf("invalid arguments for %s: %s (nothing was sent)", e.info.Qualified, msg)),
	}
}

var (
	quotedRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	typeMsgRE  = regexp.MustCompile(`^type: .* has type "([a-z]+)", want (.+)$`)
	prefixWord = "validating "
)

// describeSchemaError reads jsonschema-go's nested message ("validating
// root: validating /properties/a: type: ...") back into the instance path
// of the failing argument and a sentence about it. The chain lists the
// schema locations visited; the instance moves only on properties, items
// and prefixItems steps, not on $ref, allOf or anyOf.
func describeSchemaError(root *jsonschema.Schema, msg string) (field, sentence string) {
	var (
		prev, last string
		path       []string
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
			for _, step := range instanceSteps(loc[len(prev):]) {
				if strings.HasPrefix(step, "[") && len(path) > 0 {
					path[len(path)-1] += step // "stops[]", not "stops.[]"
				} else {
					path = append(path, step)
				}
			}
		}
		prev, last = loc, loc
	}
	keyword, detail, _ := strings.Cut(msg, ": ")
	at := func(p []string) string { return strings.Join(p, ".") }
	switch {
	case keyword == "required" || strings.HasPrefix(keyword, "dependentRequired"):
		missing := unquoteAll(detail)
		if len(missing) == 0 {
			break
		}
		full := make([]string, len(missing))
		for i, m := range missing {
			full[i] = fmt.Sprintf("%q", joinField(at(path), m))
			if s := schemaAt(root, last+"/properties/"+escapePointer(m)); s != nil && s.Type != "" {
				full[i] += " (" + s.Type + ")"
			}
		}
		return joinField(at(path), missing[0]), "missing required argument " + strings.Join(full, ", ")
	case strings.HasPrefix(msg, "unexpected additional properties"):
		extra := unquoteAll(msg)
		if len(extra) == 0 {
			break
		}
		s := fmt.Sprintf("unknown argument %q", joinField(at(path), extra[0]))
		if len(extra) > 1 {
			s = fmt.Sprintf("unknown arguments %q", extra)
		}
		if sch := schemaAt(root, last); sch != nil && len(sch.Properties) > 0 {
			s += "; valid: " + strings.Join(sortedKeys(sch.Properties), ", ")
		}
		return joinField(at(path), extra[0]), s
	case keyword == "anyOf" || keyword == "oneOf":
		// The first line names anonymous schemas; the indented lines after
		// it say why each alternative failed, which is what helps.
		var why []string
		for _, l := range strings.Split(detail, "\n")[1:] {
			l = strings.TrimSpace(l)
			for strings.HasPrefix(l, prefixWord) {
				i := strings.Index(l, ": ")
				if i < 0 {
					break
				}
				l = l[i+2:]
			}
			if l != "" {
				why = append(why, l)
			}
		}
		if len(why) > 0 {
			return at(path), fmt.Sprintf("argument %q matches none of the allowed forms: %s", at(path), strings.Join(why, "; "))
		}
	case keyword == "type":
		if m := typeMsgRE.FindStringSubmatch(msg); m != nil {
			return at(path), fmt.Sprintf("argument %q has type %s, want %s", at(path), m[1], strings.Trim(m[2], `"`))
		}
	}
	if len(path) == 0 {
		return "", msg
	}
	return at(path), fmt.Sprintf("argument %q: %s", at(path), msg)
}

// instanceSteps turns a schema pointer suffix into instance path steps;
// array steps start with '['.
func instanceSteps(rel string) []string {
	segs := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	var out []string
	for i := 0; i < len(segs); i++ {
		switch segs[i] {
		case "properties":
			if i+1 < len(segs) {
				out = append(out, unescapePointer(segs[i+1]))
				i++
			}
		case "items", "additionalItems":
			out = append(out, "[]")
		case "prefixItems":
			if i+1 < len(segs) {
				out = append(out, "["+segs[i+1]+"]")
				i++
			}
		case "additionalProperties", "patternProperties":
			if segs[i] == "patternProperties" {
				i++
			}
			out = append(out, "*")
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
	for _, q := range quotedRE.FindAllString(s, -1) {
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
