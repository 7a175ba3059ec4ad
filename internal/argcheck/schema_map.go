package argcheck

import "encoding/json"

// SchemaMap turns a tool schema (a map from the client, or anything that
// marshals to a schema) into plain JSON maps, nil when it is not an object.
// Clients hand inputSchema over as decoded JSON, but the SDK's own types
// and test fixtures arrive as structs; both the call command and the flow
// validator read schemas this way.
func SchemaMap(s any) map[string]any {
	if s == nil {
		return nil
	}
	if m, ok := s.(map[string]any); ok {
		return m
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// TypeKeyword returns the JSON types a schema's "type" keyword names (a
// string or an array of strings), and whether the keyword is there in one
// of those forms. Callers decide what an absent keyword means: the flow
// validator looks at const, the call command at anyOf/oneOf.
func TypeKeyword(s map[string]any) ([]string, bool) {
	switch t := s["type"].(type) {
	case string:
		return []string{t}, true
	case []any:
		var out []string
		for _, e := range t {
			if name, ok := e.(string); ok {
				out = append(out, name)
			}
		}
		return out, true
	}
	return nil, false
}
