// Package argcheck checks a value against a JSON Schema and says what is
// wrong in words a person can act on: `argument "days" must be at most 7
// (got 99)`, `input "threshold" must be at most 1 (got 2)`. The
// orchestrator checks tool arguments with it and the workflow engine flow
// inputs and step arguments, so both speak alike.
//
// Each problem is a [Violation] with two texts: a sentence for the user,
// which may quote the value, and an audit line naming only the value's
// path and the rule, for logs that must not hold argument values. The
// package does no I/O, so the I/O-free flow format may use it.
package argcheck

import (
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// Label says what the checked value is called in messages.
type Label struct {
	// Noun is what one value is: "argument" (the default) or "input".
	Noun string
	// Root is the checked value's own name, prefixed to every path
	// ("threshold", "threshold.min"). Empty when the value is the
	// unnamed object holding the named values, as tool arguments are.
	Root string
}

// Schema is a resolved JSON Schema ready to check values. Most tool
// schemas use only the keywords the built-in checker implements; it runs
// without allocating when the value is valid and finds every problem at
// once. Other schemas go to jsonschema-go, whose first error is read back
// into a Violation.
type Schema struct {
	resolved *jsonschema.Resolved
	check    *checkNode // nil when the schema needs jsonschema-go
}

// New prepares rs for checking.
func New(rs *jsonschema.Resolved) *Schema {
	s := &Schema{resolved: rs}
	if c, ok := compileCheck(rs.Schema()); ok {
		s.check = c
	}
	return s
}

// Resolve resolves a JSON Schema held as decoded JSON (a map, or anything
// that marshals to a schema) and prepares it for checking.
func Resolve(raw any) (*Schema, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("encoding the schema: %w", err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding the schema: %w", err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("resolving the schema: %w", err)
	}
	return New(rs), nil
}

// Resolved is the schema as jsonschema-go resolved it.
func (s *Schema) Resolved() *jsonschema.Resolved { return s.resolved }

// Check checks v, a value as encoding/json decodes it (Go integers are
// accepted too), and returns its problems, at most [MaxViolations], or
// nil when v is valid.
func (s *Schema) Check(v any, lab Label) []Violation {
	if s.check != nil {
		c := argChecker{lab: lab}
		c.check(s.check, v)
		if !c.unsure {
			return c.viols
		}
	}
	err := s.resolved.Validate(v)
	if err == nil {
		return nil
	}
	return []Violation{describeSchemaError(s.resolved.Schema(), err.Error(), v, lab)}
}
