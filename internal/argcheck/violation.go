package argcheck

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/mediatorhq/mediator/internal/suggest"
)

// Violation is one way a value breaks its JSON Schema,
// kept in parts so that two texts can be made of it: a sentence for the
// user, which may quote the offending value, and a line for the audit log,
// which names only the argument and the rule, since argument values stay
// out of the log unless audit.include_values is on.
type Violation struct {
	lab     Label
	path    argPath
	keyword string             // the schema rule that failed: "maximum", "required", ...
	schema  *jsonschema.Schema // the schema holding keyword; nil if unknown
	value   any                // the offending value, when hasValue
	hasVal  bool
	gotType string   // the value's JSON type, when the value itself is unknown
	names   []string // required: the missing names; additionalProperties: the unknown ones
	detail  string   // the validator's own words, for rules without a sentence here
}

// maxViolations bounds how many problems one error lists.
const MaxViolations = 10

// pathSeg is one step of an argument path.
type pathSeg struct {
	kind  segKind
	name  string
	index int
}

type segKind uint8

const (
	segProp     segKind = iota // a property the schema names
	segKey                     // a key the caller chose (additionalProperties): a value, in the audit's eyes
	segIndex                   // an array index
	segAnyIndex                // some array item (the validator did not say which)
	segAnyKey                  // some additional property (the validator did not say which)
)

type argPath []pathSeg

// String is the path as the user sees it: "where.room", "guests[2].email".
func (p argPath) String() string { return p.render(false) }

// audit is the path with the caller's own keys masked.
func (p argPath) audit() string { return p.render(true) }

func (p argPath) render(masked bool) string {
	var b strings.Builder
	for _, s := range p {
		switch s.kind {
		case segIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		case segAnyIndex:
			b.WriteString("[]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		switch {
		case s.kind == segAnyKey, s.kind == segKey && masked:
			b.WriteByte('*')
		default:
			b.WriteString(s.name)
		}
	}
	return b.String()
}

func (p argPath) child(name string) string {
	if parent := p.String(); parent != "" {
		return parent + "." + name
	}
	return name
}

// name is the full name of the value at path p: the label's root, then p.
func (v *Violation) name(p string) string {
	switch {
	case v.lab.Root == "":
		return p
	case p == "":
		return v.lab.Root
	case strings.HasPrefix(p, "["):
		return v.lab.Root + p
	}
	return v.lab.Root + "." + p
}

func (v *Violation) noun() string {
	if v.lab.Noun == "" {
		return "argument"
	}
	return v.lab.Noun
}

// label names the value at path p in a sentence: `argument "days"`, or
// "the arguments" for the unnamed object that holds them.
func (v *Violation) label(p string) string {
	n := v.name(p)
	if n == "" {
		return "the " + v.noun() + "s"
	}
	return fmt.Sprintf("%s %q", v.noun(), n)
}

// child is the full name of p's member name.
func (v *Violation) child(p argPath, name string) string {
	return v.name(p.child(name))
}

// field is the path of the argument the violation is about: for a missing
// or unknown argument, that argument's own.
func (v *Violation) Field() string {
	if (v.keyword == "required" || v.keyword == "additionalProperties") && len(v.names) > 0 {
		return v.child(v.path, v.names[0])
	}
	return v.name(v.path.String())
}

// sentence says what is wrong and what would be valid.
func (v *Violation) Sentence() string {
	at := v.label(v.path.String())
	s := v.schema
	if s == nil {
		s = &jsonschema.Schema{}
	}
	got := v.got()
	switch v.keyword {
	case "false":
		return fmt.Sprintf("%s is not allowed here", at)
	case "type":
		return fmt.Sprintf("%s must be %s%s", at, typeNouns(s), got)
	case "enum":
		vals := make([]string, 0, len(s.Enum))
		var strs []string
		for i, e := range s.Enum {
			if i == 20 {
				vals = append(vals, fmt.Sprintf("… (%d in all)", len(s.Enum)))
				break
			}
			vals = append(vals, showJSON(e))
		}
		for _, e := range s.Enum {
			if str, ok := e.(string); ok {
				strs = append(strs, str)
			}
		}
		hint := ""
		if str, ok := v.value.(string); ok && v.hasVal {
			hint = suggest.DidYouMean(suggest.Ranked(str, strs))
		}
		if len(s.Enum) == 1 {
			return fmt.Sprintf("%s must be %s%s%s", at, vals[0], got, hint)
		}
		return fmt.Sprintf("%s must be one of %s%s%s", at, strings.Join(vals, ", "), got, hint)
	case "const":
		if s.Const != nil {
			return fmt.Sprintf("%s must be %s%s", at, showJSON(*s.Const), got)
		}
	case "minimum":
		return numSentence(at, "at least", s.Minimum, got)
	case "maximum":
		return numSentence(at, "at most", s.Maximum, got)
	case "exclusiveMinimum":
		return numSentence(at, "greater than", s.ExclusiveMinimum, got)
	case "exclusiveMaximum":
		return numSentence(at, "less than", s.ExclusiveMaximum, got)
	case "multipleOf":
		return numSentence(at, "a multiple of", s.MultipleOf, got)
	case "minLength", "maxLength":
		bound, how := s.MinLength, "at least"
		if v.keyword == "maxLength" {
			bound, how = s.MaxLength, "at most"
		}
		if bound == nil {
			break
		}
		str, _ := v.value.(string)
		n := utf8.RuneCountInString(str)
		if !v.hasVal {
			return fmt.Sprintf("%s must be %s %s long", at, how, plural(*bound, "character"))
		}
		if v.keyword == "minLength" {
			return fmt.Sprintf("%s must be %s %s long (got %s: %s)", at, how, plural(*bound, "character"), plural(n, "character"), showJSON(str))
		}
		return fmt.Sprintf("%s must be %s %s long (got %s)", at, how, plural(*bound, "character"), plural(n, "character"))
	case "pattern":
		return fmt.Sprintf("%s must match the regular expression `%s`%s", at, s.Pattern, got)
	case "minItems", "maxItems":
		bound, how := s.MinItems, "at least"
		if v.keyword == "maxItems" {
			bound, how = s.MaxItems, "at most"
		}
		if bound == nil {
			break
		}
		if arr, ok := v.value.([]any); ok && v.hasVal {
			return fmt.Sprintf("%s must have %s %s (got %d)", at, how, plural(*bound, "item"), len(arr))
		}
		return fmt.Sprintf("%s must have %s %s", at, how, plural(*bound, "item"))
	case "required":
		full := make([]string, len(v.names))
		for i, m := range v.names {
			full[i] = fmt.Sprintf("%q", v.child(v.path, m))
			if p := s.Properties[m]; p != nil {
				if t := typeList(p); t != "" {
					full[i] += " (" + t + ")"
				}
			}
		}
		noun := v.noun()
		if len(full) > 1 {
			noun += "s"
		}
		return fmt.Sprintf("missing required %s %s", noun, strings.Join(full, ", "))
	case "additionalProperties":
		valid := sortedKeys(s.Properties)
		var b strings.Builder
		if len(v.names) == 1 {
			fmt.Fprintf(&b, "unknown %s %q", v.noun(), v.child(v.path, v.names[0]))
			if sug := suggest.Ranked(v.names[0], valid); len(sug) > 0 {
				b.WriteString(" (" + strings.TrimPrefix(suggest.DidYouMean(sug), "; ") + ")")
			}
		} else {
			q := make([]string, len(v.names))
			for i, n := range v.names {
				q[i] = fmt.Sprintf("%q", v.child(v.path, n))
			}
			b.WriteString("unknown " + v.noun() + "s " + strings.Join(q, ", "))
		}
		if len(valid) > 0 {
			b.WriteString("; valid: " + strings.Join(valid, ", "))
		} else {
			b.WriteString("; this object takes no other fields")
		}
		return b.String()
	}
	if strings.HasPrefix(v.detail, "matches none") {
		return at + " " + v.detail
	}
	if v.detail != "" {
		return fmt.Sprintf("%s: %s", at, v.detail)
	}
	return fmt.Sprintf("%s does not satisfy %s", at, v.keyword)
}

// auditLine names the argument and the rule it broke, never a value: an
// argument name the caller made up counts as a value too.
func (v *Violation) AuditLine() string {
	if v.keyword == "additionalProperties" {
		return fmt.Sprintf("%s: additionalProperties (%s)", v.label(v.path.audit()), plural(len(v.names), "unknown "+v.noun()))
	}
	if v.keyword == "required" {
		full := make([]string, len(v.names))
		for i, m := range v.names {
			full[i] = fmt.Sprintf("%q", v.name(joinField(v.path.audit(), m)))
		}
		if len(full) == 1 {
			return v.noun() + " " + full[0] + ": required"
		}
		return v.noun() + "s " + strings.Join(full, ", ") + ": required"
	}
	return fmt.Sprintf("%s: %s", v.label(v.path.audit()), v.keyword)
}

// got is " (got VALUE)", or "" when the value is unknown.
func (v *Violation) got() string {
	if !v.hasVal {
		if v.gotType != "" {
			return " (got " + typeNoun(v.gotType) + ")"
		}
		return ""
	}
	return " (got " + showValue(v.value) + ")"
}

func numSentence(at, how string, bound *float64, got string) string {
	if bound == nil {
		return at + " is out of range" + got
	}
	return fmt.Sprintf("%s must be %s %s%s", at, how, showNumber(*bound), got)
}

// showValue renders a value for a sentence: short values in JSON, long
// strings cut, containers by their size.
func showValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array of " + plural(len(x), "item")
	case string:
		return "string " + showJSON(x)
	case nil:
		return "null"
	}
	if f, ok := toFloat(v); ok {
		return showNumber(f)
	}
	return showJSON(v)
}

// showJSON is v as JSON, cut to a readable length.
func showJSON(v any) string {
	if s, ok := v.(string); ok && utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return strconv.Quote(string(r[:37])+"…") + fmt.Sprintf(" (%d characters)", len(r))
	}
	if f, ok := toFloat(v); ok {
		return showNumber(f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "…"
	}
	return string(b)
}

func showNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// typeNouns is what the schema's type keyword asks for: "a string", "an
// integer or null".
func typeNouns(s *jsonschema.Schema) string {
	types := s.Types
	if s.Type != "" {
		types = []string{s.Type}
	}
	nouns := make([]string, len(types))
	for i, t := range types {
		nouns[i] = typeNoun(t)
	}
	return strings.Join(nouns, " or ")
}

// typeList is the schema's type for a parenthesis: "string", "string or null".
func typeList(s *jsonschema.Schema) string {
	if s.Type != "" {
		return s.Type
	}
	return strings.Join(s.Types, " or ")
}

func typeNoun(t string) string {
	switch t {
	case "null":
		return "null"
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}
