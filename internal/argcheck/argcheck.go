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
	"context"
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
//
// A schema comes from a server or a flow file, so it may be hostile: a
// Schema is made only of a schema that can be checked safely (see
// [ErrUncheckable]), and every check is bounded by [Budget] and ends with
// its context.
type Schema struct {
	resolved *jsonschema.Resolved
	graph    *graph
	check    *checkNode // nil when the schema needs jsonschema-go
}

// newSchema prepares rs for checking.
func newSchema(rs *jsonschema.Resolved) (*Schema, error) {
	g, err := buildGraph(rs)
	if err != nil {
		return nil, uncheckable("%v", err)
	}
	if err := g.vet(); err != nil {
		return nil, err
	}
	s := &Schema{resolved: rs, graph: g}
	if c, ok := compileCheck(rs.Schema()); ok {
		s.check = c
	}
	return s, nil
}

// Resolve resolves a JSON Schema held as decoded JSON (a map, or anything
// that marshals to a schema) and prepares it for checking. A schema that
// jsonschema-go cannot resolve (a remote $ref, a bad pattern) is an error
// as jsonschema-go words it; one that resolves but cannot be checked
// safely is an error wrapping [ErrUncheckable] that says why.
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
	return newSchema(rs)
}

// Resolved is the schema as jsonschema-go resolved it.
func (s *Schema) Resolved() *jsonschema.Resolved { return s.resolved }

// Check checks v, a value as encoding/json decodes it (Go integers are
// accepted too), and returns its problems, at most [MaxViolations], or
// nil when v is valid. The error is not about v's validity: it wraps
// [ErrUncheckable] when checking v would take more work than [Budget]
// allows, or is ctx's error when ctx ended first.
func (s *Schema) Check(ctx context.Context, v any, lab Label) ([]Violation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.check != nil {
		// Linear in the value: no budget needed.
		c := argChecker{lab: lab}
		c.check(s.check, v)
		if !c.unsure {
			return c.viols, nil
		}
	}
	if err := newBounder(ctx, v).check(s.graph.root); err != nil {
		return nil, err
	}
	// Within the budget, jsonschema-go's walk is short enough to run
	// without looking at ctx.
	err := s.resolved.Validate(v)
	if err == nil {
		return nil, nil
	}
	return []Violation{describeSchemaError(s.resolved.Schema(), err.Error(), v, lab)}, nil
}

// CheckDefaults checks the value of every "default" keyword in the schema
// against the subschema holding it, as jsonschema-go's ValidateDefaults
// does, within the same work budget as one check.
func (s *Schema) CheckDefaults() error {
	var total uint64
	for _, n := range s.graph.all {
		if n.s.Default == nil {
			continue
		}
		var d any
		if err := json.Unmarshal(n.s.Default, &d); err != nil {
			return fmt.Errorf("the default at %s: %w", pointerName(n.ptr), err)
		}
		b := newBounder(context.Background(), d)
		if err := b.check(n); err != nil {
			return fmt.Errorf("the default at %s: %w", pointerName(n.ptr), err)
		}
		total += b.memo[memoKey{n, 0}].all
		if total > Budget {
			return uncheckable("checking the defaults would take more work than the budget allows")
		}
	}
	if total == 0 {
		return nil
	}
	_, err := s.resolved.Schema().Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	return err
}
