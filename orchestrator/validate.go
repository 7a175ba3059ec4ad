package orchestrator

import (
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/internal/argcheck"
)

// schemaResult is a tool's inputSchema resolved once per definition hash.
// A schema mediator cannot use (a draft jsonschema-go does not support, a
// remote $ref) leaves resolved nil: the call then goes out unvalidated and
// the server's own validation applies, rather than making the tool
// uncallable through mediator.
type schemaResult struct {
	schema *argcheck.Schema
	err    error
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
	s, err := argcheck.Resolve(raw)
	if err != nil {
		return &schemaResult{err: fmt.Errorf("inputSchema: %w", err)}
	}
	if d := s.Resolved().Schema().Schema; !supportedDrafts[d] {
		return &schemaResult{err: fmt.Errorf("inputSchema uses unsupported draft %q", d)}
	}
	return &schemaResult{schema: s}
}

// validateArgs checks args against the tool's input schema and turns what
// fails into an error naming each argument and what it must be.
func (o *Orchestrator) validateArgs(e *toolEntry, args map[string]any) *Error {
	r := o.inputSchema(e)
	if r.schema == nil {
		return nil
	}
	viols := r.schema.Check(args, argcheck.Label{})
	if len(viols) == 0 {
		return nil
	}
	return o.invalidArguments(e, viols)
}

// invalidArguments is the error for arguments that break the schema. Its
// message may quote the caller's values, which helps the caller; its audit
// text names only arguments and rules.
func (o *Orchestrator) invalidArguments(e *toolEntry, viols []argcheck.Violation) *Error {
	say := make([]string, len(viols))
	rec := make([]string, len(viols))
	for i := range viols {
		say[i] = viols[i].Sentence()
		rec[i] = viols[i].AuditLine()
	}
	if len(viols) >= argcheck.MaxViolations {
		say = append(say, "and maybe more")
	}
	const format = "invalid arguments for %s (nothing was sent): %s"
	return &Error{
		Kind:   KindInvalidArguments,
		Server: e.info.Server,
		Tool:   e.info.Name,
		Field:  o.redact(viols[0].Field()), // a secret pasted as an argument name stays masked too
		Msg:    o.redact(fmt.Sprintf(format, e.info.Qualified, strings.Join(say, "; "))),
		audit:  fmt.Sprintf(format, e.info.Qualified, strings.Join(rec, "; ")),
	}
}
