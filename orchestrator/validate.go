package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/internal/argcheck"
)

// schemaResult is a tool's inputSchema resolved once per definition hash.
// A schema mediator cannot read (a draft jsonschema-go does not support, a
// remote $ref) leaves schema nil and the call goes out unvalidated: the
// server's own validation applies, rather than making the tool uncallable
// through mediator. A schema that reads but cannot be checked safely (a
// $ref cycle, alternatives nested into exponential work) is another
// matter: it is the server's attack or its bug, the tool is refused, and
// unusable says why.
type schemaResult struct {
	schema   *argcheck.Schema
	err      error
	unusable error // wraps argcheck.ErrUncheckable
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
	switch {
	case r.unusable != nil:
		o.log.Warn("tool input schema cannot be checked safely; the tool is refused",
			"tool", e.info.Qualified, "error", r.unusable)
	case r.err != nil:
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
	if d, _ := argcheck.SchemaMap(raw)["$schema"].(string); !supportedDrafts[d] {
		return &schemaResult{err: fmt.Errorf("inputSchema uses unsupported draft %q", d)}
	}
	s, err := argcheck.Resolve(raw)
	switch {
	case errors.Is(err, argcheck.ErrUncheckable):
		return &schemaResult{unusable: err}
	case err != nil:
		return &schemaResult{err: fmt.Errorf("inputSchema: %w", err)}
	}
	return &schemaResult{schema: s}
}

// validateArgs checks args against the tool's input schema and turns what
// fails into an error naming each argument and what it must be. The check
// is bounded and ends with ctx.
func (o *Orchestrator) validateArgs(ctx context.Context, e *toolEntry, args map[string]any) error {
	r := o.inputSchema(e)
	if r.unusable != nil {
		return o.badSchema(e, "the tool cannot be used through mediator: its inputSchema cannot be checked safely", r.unusable)
	}
	if r.schema == nil {
		return nil
	}
	viols, err := r.schema.Check(ctx, args, argcheck.Label{})
	switch {
	case errors.Is(err, argcheck.ErrUncheckable):
		return o.badSchema(e, "its inputSchema cannot check these arguments safely", err)
	case err != nil: // ctx ended
		return fmt.Errorf("checking the arguments for %s (nothing was sent): %w", e.info.Qualified, err)
	case len(viols) == 0:
		return nil
	}
	return o.invalidArguments(e, viols)
}

// badSchema refuses a call because the tool's own schema is at fault. Its
// message names the server and tool and what is wrong with the schema; it
// quotes no argument value.
func (o *Orchestrator) badSchema(e *toolEntry, what string, err error) *Error {
	msg := fmt.Sprintf("%s: %s: %v (nothing was sent; server %q must fix the schema)", e.info.Qualified, what, err, e.info.Server)
	return &Error{Kind: KindBadSchema, Server: e.info.Server, Tool: e.info.Name, Msg: msg}
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
