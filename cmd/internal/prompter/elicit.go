// Package prompter is the command line's side of what servers ask of
// the user: elicitation forms (charm.land/huh), URL requests shown but
// never opened, and a progress line while a call runs. Everything a
// server wrote is shown through internal/termtext, and the user always
// sees which server asks.
package prompter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"charm.land/huh/v2"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/termtext"
)

// Terminal asks the user on a terminal. Its zero value declines every
// request; it is safe for concurrent use, one prompt at a time.
type Terminal struct {
	In  io.Reader
	Out io.Writer // where prompts and the progress line go (stderr)
	// Interactive says In and Out are a terminal: without one, Elicit
	// declines.
	Interactive bool
	// ShowProgress says Out is a terminal, where Progress draws its line
	// even when nobody can be asked (stdin is not a terminal).
	ShowProgress bool
	// Accessible asks line by line instead of with a full-screen form
	// (screen readers, tests).
	Accessible bool
	// Redact masks the secrets mediator knows in what a server wrote
	// before it is shown; nil shows it as it is (made safe for the
	// terminal all the same).
	Redact func(string) string

	mu   sync.Mutex // one prompt or progress write at a time
	line bool       // a progress line is shown
	held int        // Holds not yet released
}

// Hold keeps prompts and the progress line off the terminal while
// another view draws on it and reads its keys (the flow live view):
// meanwhile an elicitation is declined. The returned func releases it.
func (t *Terminal) Hold() (release func()) {
	t.mu.Lock()
	t.clearLocked()
	t.held++
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.held--
			t.mu.Unlock()
		})
	}
}

// Answers of the review step.
const (
	choiceSend    = "send"
	choiceEdit    = "edit"
	choiceDecline = "decline"
	choiceCancel  = "cancel"
)

// maxEdits bounds how often an answer that fails the schema is asked
// again before the request is canceled.
const maxEdits = 3

// Elicit asks the user for what the server requests and returns their
// answer: a form for form mode (the schema's defaults pre-filled, the
// answer checked against the schema before it can be sent), the URL
// shown in full for URL mode (never opened). Without a terminal it
// declines.
func (t *Terminal) Elicit(ctx context.Context, req *connectors.ElicitationRequest) (*mcp.ElicitResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
	if t.held > 0 {
		// Writing now would tear the other view; the audit log
		// records the decline.
		return &mcp.ElicitResult{Action: choiceDecline}, nil
	}
	server := termtext.Sanitize(req.Server)
	msg := oneLine(t.redact(req.Params.Message), 2000)
	if !t.Interactive || t.In == nil || t.Out == nil {
		if t.Out != nil {
			fmt.Fprintf(t.Out, "server %s asked for input (%s); declined: mediator asks only on a terminal\n", server, msg)
		}
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	if req.Params.Mode == "url" {
		return t.elicitURL(ctx, server, msg, req.Params.URL)
	}
	return t.elicitForm(ctx, server, msg, req.Params.RequestedSchema)
}

// elicitURL shows the URL, its domain set apart and warned about when
// it is punycode, and asks for consent. mediator never opens it.
func (t *Terminal) elicitURL(ctx context.Context, server, msg, raw string) (*mcp.ElicitResult, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fmt.Fprintf(t.Out, "server %s asked you to open a URL that is not a web address; declined\n", server)
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	host := u.Hostname()
	fmt.Fprintf(t.Out, "\nserver %s asks you to open a web page: %s\n  %s\n  domain: %s\n", server, msg, termtext.Sanitize(t.redact(u.String())), bold(host))
	if w := punycodeWarning(host); w != "" {
		fmt.Fprintf(t.Out, "  warning: %s\n", w)
	}
	fmt.Fprintln(t.Out, "  mediator does not open it; copy it into your browser yourself if you trust it.")
	choice := choiceDecline
	err = t.run(ctx, huh.NewGroup(huh.NewSelect[string]().Title("Go ahead with "+host+"?").
		Options(huh.NewOption("I will open it", "accept"), huh.NewOption("Decline", choiceDecline), huh.NewOption("Cancel", choiceCancel)).
		Value(&choice)))
	if err != nil {
		return &mcp.ElicitResult{Action: choiceCancel}, nil
	}
	return &mcp.ElicitResult{Action: choice}, nil
}

// punycodeWarning warns of an internationalized domain, whose letters
// may imitate another site's, or is "" for a plain ASCII one.
func punycodeWarning(host string) string {
	switch {
	case !isASCII(host):
		return "the domain has non-ASCII letters, which may imitate another site's name"
	case strings.HasPrefix(strings.ToLower(host), "xn--") || strings.Contains(strings.ToLower(host), ".xn--"):
		return "the domain is internationalized (punycode, xn--): in a browser it shows other letters, which may imitate another site's name"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func bold(s string) string { return "\x1b[1m" + termtext.Sanitize(s) + "\x1b[0m" }

// elicitForm asks with a form built from the requested schema, lets the
// user review the answer, and returns it only once it matches the
// schema (connectors.ValidateElicitation, as the connector checks it).
func (t *Terminal) elicitForm(ctx context.Context, server, msg string, requested any) (*mcp.ElicitResult, error) {
	fmt.Fprintf(t.Out, "\nserver %s asks: %s\n", server, msg)
	choice := "answer"
	if err := t.run(ctx, huh.NewGroup(huh.NewSelect[string]().Title("Answer server "+server+"?").
		Options(huh.NewOption("Answer", "answer"), huh.NewOption("Decline", choiceDecline), huh.NewOption("Cancel", choiceCancel)).
		Value(&choice))); err != nil {
		return &mcp.ElicitResult{Action: choiceCancel}, nil
	}
	if choice != "answer" {
		return &mcp.ElicitResult{Action: choice}, nil
	}
	form, err := NewForm(requested, t.redact)
	if err != nil {
		fmt.Fprintf(t.Out, "the server's form cannot be shown (%v); declined\n", err)
		return &mcp.ElicitResult{Action: choiceDecline}, nil
	}
	for range maxEdits {
		if err := t.run(ctx, form.Group()); err != nil {
			return &mcp.ElicitResult{Action: choiceCancel}, nil
		}
		content, err := form.Answer()
		if err != nil {
			fmt.Fprintf(t.Out, "the answer does not fit the form: %s\n", oneLine(err.Error(), 500))
			continue
		}
		b, _ := json.MarshalIndent(content, "  ", "  ")
		fmt.Fprintf(t.Out, "answer for server %s:\n  %s\n", server, termtext.Sanitize(t.redact(string(b))))
		choice := choiceSend
		if err := t.run(ctx, huh.NewGroup(huh.NewSelect[string]().Title("Send it?").
			Options(huh.NewOption("Send", choiceSend), huh.NewOption("Edit", choiceEdit), huh.NewOption("Decline", choiceDecline), huh.NewOption("Cancel", choiceCancel)).
			Value(&choice))); err != nil {
			return &mcp.ElicitResult{Action: choiceCancel}, nil
		}
		switch choice {
		case choiceSend:
			return &mcp.ElicitResult{Action: "accept", Content: content}, nil
		case choiceEdit:
			continue
		default:
			return &mcp.ElicitResult{Action: choice}, nil
		}
	}
	fmt.Fprintln(t.Out, "no answer that fits the form; canceled")
	return &mcp.ElicitResult{Action: choiceCancel}, nil
}

// run runs one group as a form on the terminal.
func (t *Terminal) run(ctx context.Context, g *huh.Group) error {
	f := huh.NewForm(g).WithInput(t.In).WithOutput(t.Out).WithAccessible(t.Accessible).WithShowHelp(!t.Accessible)
	return f.RunWithContext(ctx)
}

// formSchema decodes the requested schema; nil asks for nothing.
func formSchema(requested any) (*jsonschema.Schema, error) {
	if requested == nil {
		return &jsonschema.Schema{Type: "object"}, nil
	}
	return connectors.ElicitationSchema(requested)
}

// field is one property of the form and the variable huh fills.
type field struct {
	name     string
	prop     *jsonschema.Schema
	required bool
	redact   func(string) string // of the schema's texts
	text     string              // string, number, integer
	def      string              // text's default: what an empty answer means
	flag     bool                // boolean
	picks    []string            // multi-select
}

type fields []*field

// newFields lays out the schema's properties, required ones first, each
// pre-filled with its default.
func newFields(s *jsonschema.Schema, redact func(string) string) fields {
	names := slices.Sorted(maps.Keys(s.Properties))
	slices.SortStableFunc(names, func(a, b string) int {
		ra, rb := slices.Contains(s.Required, a), slices.Contains(s.Required, b)
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	var fs fields
	for _, n := range names {
		p := s.Properties[n]
		if p == nil {
			continue
		}
		f := &field{name: n, prop: p, required: slices.Contains(s.Required, n), redact: redact}
		if len(p.Default) > 0 {
			var d any
			if json.Unmarshal(p.Default, &d) == nil {
				switch d := d.(type) {
				case bool:
					f.flag = d
				case []any:
					for _, v := range d {
						f.picks = append(f.picks, fmt.Sprint(v))
					}
				case string:
					f.text = d
				default:
					f.text = fmt.Sprint(d)
				}
				f.def = f.text
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// group is the form of every field.
func (fs fields) group() *huh.Group {
	var hf []huh.Field
	for _, f := range fs {
		hf = append(hf, f.huhField())
	}
	if len(hf) == 0 {
		hf = append(hf, huh.NewNote().Title("The server asks for no values."))
	}
	return huh.NewGroup(hf...)
}

func (f *field) title() string {
	t := f.prop.Title
	if t == "" {
		t = f.name
	}
	t = oneLine(f.redact(t), 200)
	if f.required {
		t += " (required)"
	}
	return t
}

func (f *field) huhField() huh.Field {
	p := f.prop
	desc := oneLine(f.redact(p.Description), 500)
	switch {
	case p.Type == "boolean":
		return huh.NewConfirm().Title(f.title()).Description(desc).Value(&f.flag)
	case p.Type == "array" && p.Items != nil:
		return huh.NewMultiSelect[string]().Title(f.title()).Description(desc).Options(choices(p.Items)...).Value(&f.picks)
	case len(p.Enum) > 0 || len(p.OneOf) > 0:
		opts := choices(p)
		if f.text == "" && len(opts) > 0 {
			f.text = opts[0].Value
		}
		return huh.NewSelect[string]().Title(f.title()).Description(desc).Options(opts...).Value(&f.text)
	}
	return huh.NewInput().Title(f.title()).Description(desc).Value(&f.text).Validate(f.check)
}

// choices are an enum's options: enum values, or oneOf/anyOf consts with
// their titles.
func choices(s *jsonschema.Schema) []huh.Option[string] {
	var out []huh.Option[string]
	for _, v := range s.Enum {
		out = append(out, huh.NewOption(oneLine(fmt.Sprint(v), 200), fmt.Sprint(v)))
	}
	for _, alt := range append(slices.Clone(s.OneOf), s.AnyOf...) {
		if alt == nil || alt.Const == nil {
			continue
		}
		v := fmt.Sprint(*alt.Const)
		key := alt.Title
		if key == "" {
			key = v
		}
		out = append(out, huh.NewOption(oneLine(key, 200), v))
	}
	return out
}

// check is an input field's own check, as the user types: a number
// where one is wanted, nothing missing that is required. The whole
// answer is checked against the schema after.
func (f *field) check(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		if f.required && f.def == "" {
			return errors.New("required")
		}
		return nil // the default, if any, applies
	}
	switch f.prop.Type {
	case "integer":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return errors.New("enter a whole number")
		}
	case "number":
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return errors.New("enter a number")
		}
	}
	return nil
}

// content is the answer as the form holds it; fields left empty are
// left out (the schema's defaults then apply).
func (fs fields) content() (map[string]any, error) {
	out := map[string]any{}
	for _, f := range fs {
		switch p := f.prop; {
		case p.Type == "boolean":
			out[f.name] = f.flag
		case p.Type == "array":
			if len(f.picks) > 0 || f.required {
				out[f.name] = slices.Clone(f.picks)
			}
		default:
			s := strings.TrimSpace(f.text)
			if s == "" {
				s = f.def
			}
			if s == "" {
				continue
			}
			switch p.Type {
			case "integer":
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: enter a whole number", f.name)
				}
				out[f.name] = n
			case "number":
				n, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: enter a number", f.name)
				}
				out[f.name] = n
			default:
				if strings.TrimSpace(f.text) == "" {
					out[f.name] = s
				} else {
					out[f.name] = f.text
				}
			}
		}
	}
	return out, nil
}

// redact masks known secrets in s.
func (t *Terminal) redact(s string) string {
	if t.Redact == nil {
		return s
	}
	return t.Redact(s)
}

// oneLine is server text made safe for one line of the terminal and cut
// to max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(termtext.Sanitize(s)), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// AcceptDefaults answers a form as a user who confirms every pre-filled
// field would: accept, with the requested schema's defaults. A URL
// request, or a form whose defaults do not make a valid answer, is
// declined. It is the front end of headless harnesses (the conformance
// client), never of a user's command.
func AcceptDefaults(_ context.Context, req *connectors.ElicitationRequest) (*mcp.ElicitResult, error) {
	if req.Params.Mode == "url" {
		return &mcp.ElicitResult{Action: choiceDecline}, nil
	}
	content, err := connectors.ValidateElicitation(req.Params.RequestedSchema, nil)
	if err != nil {
		return &mcp.ElicitResult{Action: choiceDecline}, nil
	}
	return &mcp.ElicitResult{Action: "accept", Content: content}, nil
}
