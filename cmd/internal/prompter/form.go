package prompter

import (
	"charm.land/huh/v2"

	"github.com/mediatorhq/mediator/connectors"
)

// Form is an elicitation's requested schema laid out as huh fields, for
// a front end that draws the form inside its own program (the chat TUI)
// rather than on a terminal of its own (Terminal.Elicit). Both map the
// schema the same way: required fields first, each pre-filled with its
// default; strings, numbers, integers, booleans, enums and multi-selects.
type Form struct {
	requested any
	fields    fields
}

// NewForm lays out the requested schema; redact masks known secrets in
// the schema's titles and descriptions (nil shows them as they are,
// made safe for the terminal all the same). It fails when the schema
// cannot be read.
func NewForm(requested any, redact func(string) string) (*Form, error) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	s, err := formSchema(requested)
	if err != nil {
		return nil, err
	}
	return &Form{requested: requested, fields: newFields(s, redact)}, nil
}

// Group is every field as one huh group (a note when the schema asks for
// nothing). The fields hold the answer as the user edits it.
func (f *Form) Group() *huh.Group { return f.fields.group() }

// Answer is the form's answer as it would be sent: fields left empty
// take the schema's defaults, and the whole is checked against the
// schema (connectors.ValidateElicitation). The error may quote values.
func (f *Form) Answer() (map[string]any, error) {
	content, err := f.fields.content()
	if err != nil {
		return nil, err
	}
	return connectors.ValidateElicitation(f.requested, content)
}
