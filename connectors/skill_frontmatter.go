package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFrontmatterNodes bounds the YAML nodes a frontmatter may expand to,
// aliases counted each time they are used: a few lines of aliases can
// otherwise stand for billions of nodes.
const maxFrontmatterNodes = 100000

// parseFrontmatter returns the YAML frontmatter that a SKILL.md begins
// with (between a first line "---" and the next line "---"), as JSON-like
// values: maps with string keys, slices, strings, bools, nil, and numbers
// as their canonical text (see canonNumber). Timestamps stay the strings
// they are written as, which is what the entry's JSON holds.
func parseFrontmatter(content []byte) (map[string]any, error) {
	text := bytes.TrimPrefix(content, []byte("\uFEFF"))
	first, rest, ok := cutLine(text)
	if !ok || string(bytes.TrimRight(first, "\r")) != "---" {
		return nil, errors.New(`it does not begin with YAML frontmatter (a first line "---")`)
	}
	var block []byte
	for {
		var line []byte
		line, rest, ok = cutLine(rest)
		if string(bytes.TrimRight(line, " \t\r")) == "---" {
			break
		}
		if !ok {
			return nil, errors.New(`its YAML frontmatter has no closing line "---"`)
		}
		block = append(append(block, line...), '\n')
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(block, &doc); err != nil {
		return nil, fmt.Errorf("its frontmatter is not valid YAML: %v", err)
	}
	budget := maxFrontmatterNodes
	v, err := yamlValue(&doc, &budget, 0)
	if err != nil {
		return nil, fmt.Errorf("its frontmatter: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("its frontmatter is not a YAML mapping")
	}
	return m, nil
}

// cutLine splits off b's first line (without its "\n"); ok is false when
// b holds no "\n".
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

// number is a canonical number (canonNumber), so that 1, 1.0 and 0x1
// compare equal, as they do once parsed.
type number string

func (n number) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func yamlValue(n *yaml.Node, budget *int, depth int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("it expands to more than %d YAML nodes", maxFrontmatterNodes)
	}
	if depth > 100 {
		return nil, errors.New("it nests more than 100 levels deep")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0], budget, depth+1)
	case yaml.AliasNode:
		return yamlValue(n.Alias, budget, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: only plain keys are supported (no merge keys or complex keys)", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := yamlValue(vn, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func yamlScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return number(strconv.FormatInt(i, 10)), nil
		}
		fallthrough
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
		}
		return number(canonFloat(f)), nil
	}
	// !!str, !!timestamp, !!binary and explicit tags: the text as written.
	return n.Value, nil
}

// canonNumber is a JSON number's canonical text.
func canonNumber(s string) number {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number(strconv.FormatInt(i, 10))
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return number(canonFloat(f))
	}
	return number(s)
}

func canonFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// canonJSON maps an entry's decoded JSON (numbers as json.Number or
// float64) to the values parseFrontmatter returns.
func canonJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		return canonNumber(string(v))
	case float64:
		return number(canonFloat(v))
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = canonJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = canonJSON(e)
		}
		return out
	}
	return v
}

// frontmatterDiff compares SKILL.md's frontmatter with the entry's, field
// by field, and says which fields differ and how ("" when none do).
func frontmatterDiff(file, entry map[string]any) string {
	keys := make([]string, 0, len(file)+len(entry))
	for k := range file {
		keys = append(keys, k)
	}
	for k := range entry {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var diffs []string
	for _, k := range keys {
		fv, inFile := file[k]
		ev, inEntry := entry[k]
		ev = canonJSON(ev)
		switch {
		case fv == nil && ev == nil:
			// An absent field and a null one are the same content.
		case !inFile:
			diffs = append(diffs, fmt.Sprintf("field %q is in the listing (%s) but not in SKILL.md", k, showValue(ev)))
		case !inEntry:
			diffs = append(diffs, fmt.Sprintf("field %q is in SKILL.md (%s) but not in the listing", k, showValue(fv)))
		case !reflect.DeepEqual(fv, ev):
			diffs = append(diffs, fmt.Sprintf("field %q differs: SKILL.md has %s, the listing has %s", k, showValue(fv), showValue(ev)))
		}
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more fields", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// showValue is a value for an error message: JSON, shortened, with
// control characters escaped.
func showValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.QuoteToASCII(clip(s, 80))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "(a value)"
	}
	// JSON escapes control characters already.
	return clip(string(b), 80)
}
