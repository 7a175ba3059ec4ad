package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/internal/problem"
	"go.yaml.in/yaml/v3"
)

// Parse parses a flow from data; name is used in positions. It checks the
// file's shape, compiles every expression and rejects banned builtins; the
// checks that need the whole flow (references, cycles, data-flow policy,
// retry safety) are Validate's. The error, if any, is Problems.
//
// When the error is Problems and the YAML itself could be read, the
// returned *Flow is not nil: it holds whatever parsed, so that a validator
// can report the flow's other problems in the same pass. Never run it.
func Parse(name string, data []byte) (*Flow, error) {
	p := &parser{file: name, budget: maxNodes}
	f := p.parse(data)
	if len(p.probs) > 0 {
		problem.Sort(p.probs)
		return f, p.probs
	}
	return f, nil
}

// maxNodes bounds how many YAML nodes a file may expand to, so that a few
// lines of nested aliases (a "billion laughs") cannot exhaust memory.
const maxNodes = 100_000

// identRE is what step ids, input and branch names must match: jq reads
// .steps.my-step as `.steps.my - step`, so no hyphens.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// nameRE is what a flow's name must match; it ends up in file and run names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var (
	flowFields     = []string{"version", "name", "description", "inputs", "flows", "defaults", "timeout", "steps", "finally", "outputs"}
	stepFieldNames = []string{"id", "description", "call", "read", "uses", "with", "for_each", "max_concurrency", "if", "parallel", "steps", "timeout", "retry", "on_error", "idempotency_key", "retry_unsafe", "needs", "tolerate_failures", "until", "poll"}
	callFields     = []string{"server", "tool"}
	defaultsFields = []string{"timeout", "retry"}
	retryFields    = []string{"max_attempts", "initial_interval", "backoff", "max_interval", "jitter", "on"}
	retryOnValues  = []string{RetryOnTransport, RetryOnTimeout, RetryOnRateLimited, RetryOnToolError, RetryOnInvalidOutput}
)

type parser struct {
	file    string
	probs   Problems
	budget  int
	depth   int
	tooDeep bool
	nsteps  int
	// inFinally is set while the flow's finally: steps are parsed.
	inFinally bool
	// cols maps columns of the text given to the YAML parser back to the
	// file's (see quoteExprs).
	cols *colMap
}

func (p *parser) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: p.file}
	}
	return p.at(n.Line, n.Column)
}

// at is the file position of a line and column of the parsed text.
func (p *parser) at(line, col int) Pos {
	return Pos{File: p.file, Line: line, Column: p.cols.orig(line, col)}
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) {
	p.probs = append(p.probs, Problem{Pos: p.pos(n), Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *Flow {
	sum := sha256.Sum256(data)
	f := &Flow{Source: p.file, Digest: hex.EncodeToString(sum[:]), Pos: Pos{File: p.file, Line: 1, Column: 1}}
	text, cols := quoteExprs(string(data))
	p.cols = cols
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.probs = append(p.probs, Problem{Pos: f.Pos, Message: "the file is empty; a flow starts with `version: 1`"})
			return nil
		}
		p.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errf(&extra, "", "a flow file holds one YAML document; remove the `---` and what follows")
	} else if !errors.Is(err, io.EOF) {
		p.syntaxError(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			p.probs = append(p.probs, Problem{Pos: f.Pos, Message: "the file is empty; a flow starts with `version: 1`"})
			return nil
		}
		root = root.Content[0]
	}
	root = p.deref(root)
	if root.Kind != yaml.MappingNode {
		p.errf(root, "", "a flow is a YAML mapping with version, name and steps; found %s", kindName(root))
		return nil
	}
	f.Pos = p.pos(root)
	fields := p.mapping(root, "", flowFields)
	if v, ok := fields["version"]; ok {
		if n, ok := p.intValue(v, "version"); ok && n != FormatVersion {
			p.errf(v, "version", "unsupported version %d; this mediator reads version: %d", n, FormatVersion)
		} else if ok {
			f.Version = n
		}
	} else {
		p.errf(root, "", "missing version; add `version: %d` at the top", FormatVersion)
	}
	if v, ok := fields["name"]; ok {
		if s, ok := p.stringValue(v, "name"); ok {
			if !nameRE.MatchString(s) {
				p.errf(v, "name", "invalid name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", s)
			}
			f.Name = s
		}
	} else {
		p.errf(root, "", "missing name; add e.g. `name: rain-reminders`")
	}
	if v, ok := fields["description"]; ok {
		f.Description, _ = p.stringValue(v, "description")
	}
	if v, ok := fields["inputs"]; ok {
		f.Inputs = p.inputs(v)
	}
	if v, ok := fields["flows"]; ok {
		f.Flows = p.flows(v)
	}
	if v, ok := fields["defaults"]; ok {
		p.defaults(v, &f.Defaults)
	}
	if v, ok := fields["steps"]; ok {
		f.Steps = p.steps(v, "steps", nil, "")
		if vv := p.deref(v); vv.Kind == yaml.SequenceNode && len(vv.Content) == 0 {
			p.errf(v, "steps", "a flow needs at least one step")
		}
	} else {
		p.errf(root, "", "missing steps; a flow needs at least one step")
	}
	if v, ok := fields["timeout"]; ok {
		f.Timeout, _ = p.durationValue(v, "timeout")
	}
	if v, ok := fields["finally"]; ok {
		f.Finally = p.finally(v)
	}
	if v, ok := fields["outputs"]; ok {
		f.Outputs, f.OutputOrder = p.outputs(v)
	}
	return f
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into a Problem, adding the fix for
// the most common mistake in flow files.
func (p *parser) syntaxError(data []byte, err error) {
	msg := err.Error()
	pos := Pos{File: p.file}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 reports parser (not scanner) errors with a 0-based line:
		// the start of the construct being parsed.
		if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found ") {
			pos.Line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if pos.Line > 0 {
		lines := strings.Split(string(data), "\n")
		if pos.Line <= len(lines) && strings.Contains(lines[pos.Line-1], "${") {
			msg += `; if this is about the ${ ... } here: an expression must be the whole value (no text around it; build strings with jq, e.g. '${ "Hello \(.inputs.name)" }'), and single quotes around it always work`
		}
	}
	p.probs = append(p.probs, Problem{Pos: pos, Message: "YAML syntax error: " + msg})
}

// deref follows aliases and charges the expansion budget, so that
// recursive aliases (`&s [*s]`) and alias bombs end. Past the budget every
// alias reads as null.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if !p.charge(n) {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		n = n.Alias
	}
	return n
}

// maxSteps bounds the steps of one flow; aliases could otherwise make
// millions out of a few lines.
const maxSteps = 5_000

// maxDepth bounds nesting (of values and of step groups), which only
// recursive aliases can make deep.
const maxDepth = 64

// enter tracks nesting depth; the caller must call the returned function
// when leaving. ok is false past maxDepth.
func (p *parser) enter(n *yaml.Node, field string) (leave func(), ok bool) {
	p.depth++
	leave = func() { p.depth-- }
	if p.depth > maxDepth {
		if !p.tooDeep {
			p.tooDeep = true
			p.errf(n, field, "nested more than %d levels deep (a recursive alias?)", maxDepth)
		}
		return leave, false
	}
	return leave, true
}

// charge spends one unit of the expansion budget, reporting once when it
// runs out.
func (p *parser) charge(n *yaml.Node) bool {
	p.budget--
	if p.budget == -1 {
		p.errf(n, "", "the file expands to more than %d YAML nodes (recursive or nested aliases?)", maxNodes)
	}
	return p.budget >= 0
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping returns a mapping's values by key, reporting unknown and
// duplicate keys. known == nil accepts any key.
func (p *parser) mapping(n *yaml.Node, field string, known []string) map[string]*yaml.Node {
	return p.mappingKeys(n, field, known, nil)
}

func (p *parser) mappingKeys(n *yaml.Node, field string, known []string, keyPos map[string]Pos) map[string]*yaml.Node {
	n = p.deref(n)
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		return out
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			p.errf(k, field, "keys must be plain names")
			continue
		}
		if k.Tag == "!!merge" {
			p.errf(k, join(field, key), "YAML merge keys (<<) are not supported; write the fields out")
			continue
		}
		if prev, dup := seen[key]; dup {
			p.errf(k, join(field, key), "duplicate key %q (first at line %d)", key, prev.Line)
			continue
		}
		seen[key] = k
		if known != nil && !contains(known, key) {
			p.errf(k, join(field, key), "unknown field %q%s; valid fields: %s", key, didYouMean(key, known), strings.Join(known, ", "))
			continue
		}
		out[key] = v
		if keyPos != nil {
			keyPos[key] = p.pos(k)
		}
	}
	return out
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) stringValue(n *yaml.Node, field string) (string, bool) {
	n = p.deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, field, "must be a string, found %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) intValue(n *yaml.Node, field string) (int, bool) {
	n = p.deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int64
		if err := n.Decode(&i); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
			return int(i), true
		}
	}
	p.errf(n, field, "must be an integer, found %s", kindName(n))
	return 0, false
}

func (p *parser) boolValue(n *yaml.Node, field string) (bool, bool) {
	n = p.deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.errf(n, field, "must be true or false, found %s", kindName(n))
	return false, false
}

func (p *parser) durationValue(n *yaml.Node, field string) (time.Duration, bool) {
	n = p.deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errf(n, field, "must be a duration such as 500ms, 20s or 5m, found %s", kindName(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		p.errf(n, field, "invalid duration %q: write a positive duration such as 500ms, 20s or 5m", n.Value)
		return 0, false
	}
	return d, true
}

// stringList accepts a string or a list of strings.
func (p *parser) stringList(n *yaml.Node, field string) []string {
	n = p.deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, field, "must be a list of strings, found %s", kindName(n))
		return nil
	}
	var out []string
	for i, e := range n.Content {
		if s, ok := p.stringValue(e, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) inputs(n *yaml.Node) map[string]*Input {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "inputs", "must map input names to JSON Schemas, found %s", kindName(n))
		return nil
	}
	keyPos := map[string]Pos{}
	out := map[string]*Input{}
	for name, v := range p.mappingKeys(n, "inputs", nil, keyPos) {
		field := "inputs." + name
		pos := keyPos[name]
		if !identRE.MatchString(name) {
			p.probs = append(p.probs, Problem{Pos: pos, Field: field, Message: fmt.Sprintf("invalid input name %q: use letters, digits and '_' (jq reads .inputs.a-b as a subtraction)", name)})
		}
		v = p.deref(v)
		if v.Kind != yaml.MappingNode {
			p.errf(v, field, "must be a JSON Schema mapping such as {type: string}, found %s", kindName(v))
			continue
		}
		schema, _ := p.plain(v, field).(map[string]any)
		out[name] = &Input{Name: name, Schema: schema, Pos: pos}
	}
	return out
}

// plain converts a YAML subtree to plain JSON values, without expression
// detection.
func (p *parser) plain(n *yaml.Node, field string) any {
	leave, ok := p.enter(n, field)
	defer leave()
	if !ok || !p.charge(n) {
		return nil
	}
	n = p.deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for k, v := range p.mapping(n, field, nil) {
			m[k] = p.plain(v, join(field, k))
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			s[i] = p.plain(e, fmt.Sprintf("%s[%d]", field, i))
		}
		return s
	case yaml.ScalarNode:
		v, _ := p.scalar(n, field)
		return v
	}
	return nil
}

// scalar converts a YAML scalar to its JSON value.
func (p *parser) scalar(n *yaml.Node, field string) (any, bool) {
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil && i >= math.MinInt && i <= math.MaxInt {
			return int(i), true
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return f, true
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				p.errf(n, field, "%s is not a JSON number", n.Value)
				return nil, false
			}
			return f, true
		}
	case "!!str", "!!timestamp":
		// Dates stay strings: JSON has no date type.
		return n.Value, true
	}
	p.errf(n, field, "unsupported YAML value %q (tag %s); write a string, number, boolean or null", n.Value, n.Tag)
	return nil, false
}

func (p *parser) flows(n *yaml.Node) []FlowEdge {
	n = p.deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "flows", `must be a list of "from -> to" server pairs, found %s`, kindName(n))
		return nil
	}
	var out []FlowEdge
	for i, e := range n.Content {
		field := fmt.Sprintf("flows[%d]", i)
		s, ok := p.stringValue(e, field)
		if !ok {
			continue
		}
		edge, err := ParseFlowEdge(s)
		if err != nil {
			p.errf(e, field, "%v", err)
			continue
		}
		edge.Pos, edge.field = p.pos(e), field
		out = append(out, edge)
	}
	return out
}

// ParseFlowEdge parses "from -> to", the syntax of `flows:` entries and of
// the global config's policy.flows. An edge from a server to itself
// parses; each caller reports FlowEdge.Redundant as it sees fit.
func ParseFlowEdge(s string) (FlowEdge, error) {
	from, to, ok := strings.Cut(s, "->")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !ok || from == "" || to == "" || strings.Contains(to, "->") {
		return FlowEdge{}, fmt.Errorf(`invalid flow %q: write "from -> to" with two server names, e.g. "weather -> calendar"`, s)
	}
	if strings.ContainsAny(from+to, " \t,") {
		return FlowEdge{}, fmt.Errorf(`invalid flow %q: one "from -> to" pair per entry, each a single server name`, s)
	}
	return FlowEdge{From: from, To: to}, nil
}

func (p *parser) defaults(n *yaml.Node, d *Defaults) {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "defaults", "must be a mapping with timeout and retry, found %s", kindName(n))
		return
	}
	fields := p.mapping(n, "defaults", defaultsFields)
	if v, ok := fields["timeout"]; ok {
		d.Timeout, _ = p.durationValue(v, "defaults.timeout")
	}
	if v, ok := fields["retry"]; ok {
		d.Retry = p.retry(v, "defaults.retry")
	}
}

func (p *parser) retry(n *yaml.Node, field string) *RetryPolicy {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "must be a mapping such as {max_attempts: 3, initial_interval: 1s}, found %s", kindName(n))
		return nil
	}
	r := &RetryPolicy{Pos: p.pos(n)}
	fields := p.mapping(n, field, retryFields)
	if v, ok := fields["max_attempts"]; ok {
		if i, ok := p.intValue(v, field+".max_attempts"); ok {
			if i < 1 {
				p.errf(v, field+".max_attempts", "must be at least 1 (the first attempt counts), found %d", i)
			} else {
				r.MaxAttempts = i
			}
		}
	}
	if v, ok := fields["initial_interval"]; ok {
		r.InitialInterval, _ = p.durationValue(v, field+".initial_interval")
	}
	if v, ok := fields["max_interval"]; ok {
		r.MaxInterval, _ = p.durationValue(v, field+".max_interval")
	}
	if r.MaxInterval > 0 && r.InitialInterval > r.MaxInterval {
		p.errf(fields["max_interval"], field+".max_interval", "max_interval %v is shorter than initial_interval %v", r.MaxInterval, r.InitialInterval)
	}
	if v, ok := fields["backoff"]; ok {
		vv := p.deref(v)
		var b float64
		if vv.Kind != yaml.ScalarNode || (vv.Tag != "!!float" && vv.Tag != "!!int") || vv.Decode(&b) != nil || b < 1 || math.IsInf(b, 0) || math.IsNaN(b) {
			p.errf(v, field+".backoff", "must be a number >= 1 (the interval's growth per attempt), found %s", kindName(vv))
		} else {
			r.Backoff = b
		}
	}
	if v, ok := fields["jitter"]; ok {
		if s, ok := p.stringValue(v, field+".jitter"); ok {
			if s != "none" && s != "full" {
				p.errf(v, field+".jitter", "must be none or full, found %q", s)
			} else {
				r.Jitter = s
			}
		}
	}
	if v, ok := fields["on"]; ok {
		vv := p.deref(v)
		list := p.stringList(v, field+".on")
		r.On = []string{}
		for i, s := range list {
			if !contains(retryOnValues, s) {
				at := vv
				if vv.Kind == yaml.SequenceNode && i < len(vv.Content) {
					at = vv.Content[i]
				}
				p.errf(at, fmt.Sprintf("%s.on[%d]", field, i), "unknown error class %q%s; valid: %s", s, didYouMean(s, retryOnValues), strings.Join(retryOnValues, ", "))
				continue
			}
			r.On = append(r.On, s)
		}
	}
	return r
}

func (p *parser) steps(n *yaml.Node, field string, parent *Step, branch string) []*Step {
	n = p.deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errf(n, field, "must be a list of steps (each starting with `- id: ...`), found %s", kindName(n))
		return nil
	}
	var out []*Step
	for i, e := range n.Content {
		if s := p.step(e, fmt.Sprintf("%s[%d]", field, i), parent, branch); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) step(n *yaml.Node, field string, parent *Step, branch string) *Step {
	leave, ok := p.enter(n, field)
	defer leave()
	if !ok || !p.charge(n) {
		return nil
	}
	p.nsteps++
	if p.nsteps > maxSteps {
		if p.nsteps == maxSteps+1 {
			p.errf(n, field, "more than %d steps; split the flow", maxSteps)
		}
		return nil
	}
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "a step is a mapping with id and call (or steps, or parallel), found %s", kindName(n))
		return nil
	}
	s := &Step{Parent: parent, Pos: p.pos(n), fields: map[string]Pos{}, values: map[string]Pos{}, field: field, branch: branch, finally: p.inFinally}
	fields := p.mappingKeys(n, field, stepFieldNames, s.fields)
	for k, v := range fields {
		s.values[k] = p.pos(v)
	}
	if v, ok := fields["id"]; ok {
		if id, ok := p.stringValue(v, field+".id"); ok {
			if !identRE.MatchString(id) {
				p.errf(v, field+".id", "invalid step id %q: use letters, digits and '_', starting with a letter (jq reads .steps.a-b as a subtraction)", id)
			}
			s.ID = id
		}
	} else {
		p.errf(n, field, "missing id; every step needs one, e.g. `id: fetch`")
	}
	s.Path = s.ID
	if parent == nil && s.finally {
		s.Path = FinallyPath + s.ID
	}
	if parent != nil {
		s.Path = parent.Path + "/"
		if branch != "" {
			s.Path += branch + "/"
		}
		s.Path += s.ID
	}

	_, hasCall := fields["call"]
	_, hasRead := fields["read"]
	_, hasSteps := fields["steps"]
	_, hasParallel := fields["parallel"]
	_, hasUses := fields["uses"]
	kinds := 0
	for _, b := range []bool{hasCall, hasRead, hasSteps, hasParallel, hasUses} {
		if b {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		p.errf(n, field, "step %q does nothing: give it call: {server, tool}, read: {server, uri}, uses: other.flow.yaml, a steps: group or parallel: branches", s.ID)
	case kinds > 1:
		p.errf(n, field, "step %q has more than one of call, read, steps and parallel (or uses); split it into separate steps", s.ID)
	}
	onlyWithCall := func(key string) bool {
		if !hasCall {
			p.errf(p.keyNode(n, key), field+"."+key, "%s applies only to a step with call:", key)
			return false
		}
		return true
	}

	if v, ok := fields["description"]; ok {
		p.stringValue(v, field+".description")
	}
	if v, ok := fields["call"]; ok {
		s.Call = p.call(v, field+".call")
	}
	if v, ok := fields["read"]; ok {
		s.Read = p.read(v, field+".read")
	}
	if v, ok := fields["uses"]; ok {
		s.Uses = p.uses(v, field+".uses")
	}
	if v, ok := fields["with"]; ok && (hasUses || onlyWithCall("with")) {
		vv := p.deref(v)
		if vv.Kind != yaml.MappingNode {
			p.errf(v, field+".with", "must map argument names to values, found %s", kindName(vv))
		} else if w := p.value(v, field+".with"); w != nil && w.Kind == KindObject {
			s.With = w
		} else if w != nil {
			p.errf(v, field+".with", "must map argument names to values")
		}
	}
	if v, ok := fields["for_each"]; ok {
		if hasParallel {
			p.errf(p.keyNode(n, "for_each"), field+".for_each", "for_each cannot drive parallel branches; put the parallel step inside a steps: group under for_each")
		}
		s.ForEach = p.exprField(v, field+".for_each", "a list")
	}
	if v, ok := fields["max_concurrency"]; ok {
		if i, ok := p.intValue(v, field+".max_concurrency"); ok {
			switch {
			case i < 1:
				p.errf(v, field+".max_concurrency", "must be at least 1, found %d", i)
			case !contains(keys(fields), "for_each"):
				p.errf(p.keyNode(n, "max_concurrency"), field+".max_concurrency", "max_concurrency applies only with for_each")
			default:
				s.MaxConcurrency = i
			}
		}
	}
	if v, ok := fields["if"]; ok {
		s.If = p.exprField(v, field+".if", "a boolean")
	}
	if v, ok := fields["parallel"]; ok {
		p.parallel(v, field+".parallel", s)
	}
	if v, ok := fields["steps"]; ok {
		s.Steps = p.steps(v, field+".steps", s, "")
		if vv := p.deref(v); vv.Kind == yaml.SequenceNode && len(vv.Content) == 0 {
			p.errf(v, field+".steps", "a group needs at least one step")
		}
	}
	if v, ok := fields["timeout"]; ok && hasUses {
		p.errf(p.keyNode(n, "timeout"), field+".timeout", "timeout applies only to a step with call: or read:; a sub-flow's time is the top-level timeout: in its own file, which bounds each run of it")
	} else if ok && (hasRead || onlyWithCall("timeout")) {
		s.Timeout, _ = p.durationValue(v, field+".timeout")
	}
	if v, ok := fields["retry"]; ok && onlyWithCall("retry") {
		s.Retry = p.retry(v, field+".retry")
	}
	if v, ok := fields["on_error"]; ok {
		if str, ok := p.stringValue(v, field+".on_error"); ok {
			if str != "fail" && str != "continue" && !identRE.MatchString(str) {
				p.errf(v, field+".on_error", "must be fail, continue or the id of a step to run instead, found %q", str)
			}
			s.OnError = str
		}
	}
	if v, ok := fields["idempotency_key"]; ok && onlyWithCall("idempotency_key") {
		s.IdempotencyKey = p.exprField(v, field+".idempotency_key", "a string")
	}
	if v, ok := fields["retry_unsafe"]; ok && onlyWithCall("retry_unsafe") {
		s.RetryUnsafe, _ = p.boolValue(v, field+".retry_unsafe")
	}
	if v, ok := fields["needs"]; ok {
		s.Needs = p.stringList(v, field+".needs")
		s.needsNodes = p.listNodes(v)
	}
	p.stepTolerance(n, field, s, fields)
	p.stepPoll(n, field, s, fields)
	return s
}

// listNodes returns the positions of a string-or-list field's entries.
func (p *parser) listNodes(n *yaml.Node) []Pos {
	n = p.deref(n)
	if n.Kind == yaml.SequenceNode {
		out := make([]Pos, len(n.Content))
		for i, e := range n.Content {
			out[i] = p.pos(e)
		}
		return out
	}
	return []Pos{p.pos(n)}
}

func keys(m map[string]*yaml.Node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// keyNode returns the key node of field in mapping n, for problems about
// the field's presence rather than its value.
func (p *parser) keyNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return n
}

func (p *parser) call(n *yaml.Node, field string) *Call {
	n = p.deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		hint := "call: {server: weather, tool: get_forecast}"
		if srv, tool, ok := strings.Cut(n.Value, "."); ok {
			hint = fmt.Sprintf("call: {server: %s, tool: %s}", srv, tool)
		}
		p.errf(n, field, "must be a mapping (tool names may contain dots); write %s", hint)
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "must be {server: <alias>, tool: <name>}, found %s", kindName(n))
		return nil
	}
	c := &Call{Pos: p.pos(n)}
	fields := p.mapping(n, field, callFields)
	for _, k := range callFields {
		v, ok := fields[k]
		if !ok {
			p.errf(n, field, "missing %s", k)
			continue
		}
		s, ok := p.stringValue(v, field+"."+k)
		if ok && s == "" {
			p.errf(v, field+"."+k, "must not be empty")
		}
		if k == "server" {
			c.Server = s
		} else {
			c.Tool = s
		}
	}
	return c
}

// readFields are the keys of a read: mapping.
var readFields = []string{"server", "uri"}

// read parses read: {server, uri}, the uri a string or ${ ... }.
func (p *parser) read(n *yaml.Node, field string) *Read {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "must be {server: <alias>, uri: <URI or ${ ... }>}, found %s", kindName(n))
		return nil
	}
	r := &Read{Pos: p.pos(n)}
	fields := p.mapping(n, field, readFields)
	if v, ok := fields["server"]; !ok {
		p.errf(n, field, "missing server")
	} else if s, ok := p.stringValue(v, field+".server"); ok {
		if s == "" {
			p.errf(v, field+".server", "must not be empty")
		}
		r.Server = s
	}
	v, ok := fields["uri"]
	if !ok {
		p.errf(n, field, "missing uri")
		return r
	}
	u := p.value(v, field+".uri")
	switch {
	case u == nil:
	case u.Kind == KindExpr:
		r.URI = u
	case u.Kind == KindLiteral:
		if s, isStr := u.Literal.(string); isStr && s != "" {
			r.URI = u
			break
		}
		p.errf(v, field+".uri", "must be a non-empty URI string or ${ ... } yielding one")
	default:
		p.errf(v, field+".uri", "must be a URI string or ${ ... } yielding one, found an object or list")
	}
	return r
}

func (p *parser) parallel(n *yaml.Node, field string, s *Step) {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "must map branch names to lists of steps, found %s", kindName(n))
		return
	}
	s.Parallel = map[string][]*Step{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		bf := field + "." + name
		if seen[name] {
			p.errf(k, bf, "duplicate branch %q", name)
			continue
		}
		seen[name] = true
		if !identRE.MatchString(name) {
			p.errf(k, bf, "invalid branch name %q: use letters, digits and '_'", name)
		}
		branch := p.steps(v, bf, s, name)
		if vv := p.deref(v); vv.Kind == yaml.SequenceNode && len(vv.Content) == 0 {
			p.errf(v, bf, "a branch needs at least one step")
		}
		s.Parallel[name] = branch
		s.BranchOrder = append(s.BranchOrder, name)
	}
	if len(s.BranchOrder) == 0 {
		p.errf(n, field, "parallel needs at least one branch")
	}
}

// exprField reads a field that is evaluated: a whole ${ ... } expression,
// or a literal that is turned into the equivalent constant expression so
// that the engine sees only expressions. want names the expected type.
func (p *parser) exprField(n *yaml.Node, field, want string) *Expr {
	v := p.value(n, field)
	if v == nil {
		return nil
	}
	if v.Kind == KindExpr {
		return v.Expr
	}
	if hasExpr(v) {
		p.errf(n, field, "write the whole value as one expression, e.g. ${ [.inputs.a, .inputs.b] } rather than a list of expressions")
		return nil
	}
	lit := literalOf(v)
	okType := false
	switch lit.(type) {
	case []any:
		okType = want == "a list"
	case bool:
		okType = want == "a boolean"
	case string:
		okType = want == "a string"
	}
	if !okType {
		p.errf(n, field, "must be %s or a ${ ... } expression, found %s", want, kindName(p.deref(n)))
		return nil
	}
	b, err := json.Marshal(lit)
	src := string(b)
	if err != nil {
		p.errf(n, field, "must be %s or a ${ ... } expression", want)
		return nil
	}
	e, probs := compileExpr(src, p.pos(n), p.pos(n), field)
	p.probs = append(p.probs, probs...)
	return e
}

func (p *parser) outputs(n *yaml.Node) (map[string]*Value, []string) {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "outputs", "must map output names to values, found %s", kindName(n))
		return nil, nil
	}
	out := map[string]*Value{}
	var order []string
	fields := p.mapping(n, "outputs", nil)
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		v, ok := fields[name]
		if !ok {
			continue
		}
		if _, dup := out[name]; dup {
			continue
		}
		if val := p.value(v, "outputs."+name); val != nil {
			out[name] = val
			order = append(order, name)
		}
	}
	return out, order
}

// value converts an argument tree: whole `${ ... }` strings become
// expressions, {literal: x} yields x verbatim, anything else is literal.
func (p *parser) value(n *yaml.Node, field string) *Value {
	leave, ok := p.enter(n, field)
	defer leave()
	if !ok || !p.charge(n) {
		return nil
	}
	pos := p.pos(n)
	n = p.deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Value == "literal" && n.Content[0].Kind == yaml.ScalarNode {
			return p.literal(n.Content[1], field)
		}
		v := &Value{Kind: KindObject, Object: map[string]*Value{}, Pos: pos}
		fields := p.mapping(n, field, nil)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			e, ok := fields[k]
			if !ok {
				continue
			}
			if _, dup := v.Object[k]; dup {
				continue
			}
			if x := p.value(e, join(field, k)); x != nil {
				v.Object[k] = x
				v.Keys = append(v.Keys, k)
			}
		}
		return v
	case yaml.SequenceNode:
		v := &Value{Kind: KindArray, Pos: pos}
		for i, e := range n.Content {
			if x := p.value(e, fmt.Sprintf("%s[%d]", field, i)); x != nil {
				v.Array = append(v.Array, x)
			}
		}
		return v
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			if src, srcPos, ok := p.exprSource(n); ok {
				e, probs := compileExpr(src, pos, srcPos, field)
				if len(probs) > 0 && strings.Count(n.Value, "${") > 1 {
					probs[0].Message += `; a value is one whole ${ ... } expression or a literal: build strings inside one expression with jq interpolation, e.g. '${ "\(.a) and \(.b)" }'`
				}
				p.probs = append(p.probs, probs...)
				if e == nil {
					return nil
				}
				return &Value{Kind: KindExpr, Expr: e, Pos: pos}
			}
			if strings.Contains(n.Value, "${") {
				p.errf(n, field, `a string may not contain ${ ... } inside other text (no templating, so tool results can never inject code); build the string in one expression with jq interpolation, e.g. '${ "Hello \(.inputs.name)" }', or write {literal: "..."} for a literal "${"`)
				return nil
			}
		}
		lit, ok := p.scalar(n, field)
		if !ok {
			return nil
		}
		return &Value{Kind: KindLiteral, Literal: lit, Pos: pos}
	}
	return nil
}

// literal converts {literal: x}'s x without expression detection.
func (p *parser) literal(n *yaml.Node, field string) *Value {
	pos := p.pos(n)
	x := p.plain(n, field)
	return literalValue(x, pos)
}

func literalValue(x any, pos Pos) *Value {
	switch x := x.(type) {
	case map[string]any:
		v := &Value{Kind: KindObject, Object: map[string]*Value{}, Pos: pos}
		for _, k := range sortedKeys(x) {
			v.Object[k] = literalValue(x[k], pos)
			v.Keys = append(v.Keys, k)
		}
		return v
	case []any:
		v := &Value{Kind: KindArray, Pos: pos}
		for _, e := range x {
			v.Array = append(v.Array, literalValue(e, pos))
		}
		return v
	}
	return &Value{Kind: KindLiteral, Literal: x, Pos: pos}
}

// exprSource recognises a whole `${ ... }` value and returns the jq source
// and where it starts in the file.
func (p *parser) exprSource(n *yaml.Node) (string, Pos, bool) {
	s := strings.TrimSpace(n.Value)
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		return "", Pos{}, false
	}
	src := s[2 : len(s)-1]
	trimmed := strings.TrimLeft(src, " \t\n")
	if strings.Contains(n.Value, "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return trimmed, p.pos(n), true
	}
	// Point at the first non-blank character of the jq source, counting in
	// the parsed text and mapping back at the end.
	col := n.Column
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		col++
	}
	lead := len(n.Value) - len(strings.TrimLeft(n.Value, " \t"))
	col += lead + 2 + len([]rune(src[:len(src)-len(trimmed)]))
	return trimmed, p.at(n.Line, col), true
}

// literalOf is the plain JSON value of a tree without expressions.
func literalOf(v *Value) any {
	switch v.Kind {
	case KindObject:
		m := make(map[string]any, len(v.Object))
		for k, e := range v.Object {
			m[k] = literalOf(e)
		}
		return m
	case KindArray:
		s := make([]any, len(v.Array))
		for i, e := range v.Array {
			s[i] = literalOf(e)
		}
		return s
	}
	return v.Literal
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasExpr(v *Value) bool {
	switch v.Kind {
	case KindExpr:
		return true
	case KindObject:
		for _, e := range v.Object {
			if hasExpr(e) {
				return true
			}
		}
	case KindArray:
		for _, e := range v.Array {
			if hasExpr(e) {
				return true
			}
		}
	}
	return false
}
