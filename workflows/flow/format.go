package flow

import (
	"fmt"
	"sort"
	"time"

	"github.com/itchyny/gojq"
	"github.com/mediatorhq/mediator/internal/problem"
)

// FormatVersion is the only `version:` this package reads. A new version
// gets a new number rather than a silent change of meaning.
const FormatVersion = 1

// Flow is a parsed *.flow.yaml file. Everything the engine needs to run it is
// here; nothing refers back to the YAML text except positions.
type Flow struct {
	// Source is the name the flow was parsed under (usually its file path);
	// every Pos in the flow carries it too.
	Source string
	// Digest is the hex SHA-256 of the file bytes. The run journal stores it
	// so that `resume` can refuse a flow whose file changed.
	Digest string

	Version     int
	Name        string
	Description string
	// Inputs maps an input name to its JSON Schema, kept as written.
	Inputs map[string]*Input
	// Flows are the cross-server data flows this file declares it may make.
	Flows    []FlowEdge
	Defaults Defaults
	// Steps in file order. Groups nest under Step.Steps and Step.Parallel.
	Steps []*Step
	// Outputs maps an output name to the value computed after all steps.
	Outputs map[string]*Value
	// OutputOrder lists Outputs' names in file order, for stable printing.
	OutputOrder []string
	// Timeout bounds the whole run (top-level `timeout:`); 0 means none.
	// When it passes, in-flight calls are cancelled, the run ends
	// timed_out, and Finally still runs within FinallyTimeout.
	Timeout time.Duration
	// Finally are steps run once after Steps end, whatever the outcome
	// (succeeded, failed, cancelled, timed_out). They read .run.status and
	// .steps.*; their calls follow the same data-flow policy; a failure
	// among them is reported beside the run's own, never instead of it.
	// Their paths start with "finally/".
	Finally []*Step
	Pos     Pos
}

// FinallyTimeout is the budget of a flow's finally steps once the run's
// own Timeout has passed (or the run was cancelled): cleanup gets a short,
// bounded time of its own.
const FinallyTimeout = time.Minute

// Tolerance is a for_each step's `tolerate_failures:`: a count of items
// (`3`) or a share of them (`"10%"`) that may fail while the step still
// succeeds.
type Tolerance struct {
	// Count is the number of failed items tolerated, when Percent is 0.
	Count int
	// Percent, in (0, 100], is the share of items tolerated.
	Percent float64
	Pos     Pos
}

// Allows reports whether failed failures among total items are within t.
// A nil t tolerates none.
func (t *Tolerance) Allows(failed, total int) bool {
	switch {
	case failed == 0:
		return true
	case t == nil:
		return false
	case t.Percent > 0:
		return float64(failed)*100 <= t.Percent*float64(total)
	}
	return failed <= t.Count
}

// Uses is a step's sub-flow: `uses: path/to/other.flow.yaml` with `with:`
// (Step.With) as its inputs and its outputs as the step's result.
type Uses struct {
	// Path is as written, relative to the calling file's directory.
	Path string
	// Flow is the called flow, parsed and validated when its caller is
	// loaded (with its own Flows, which apply inside it).
	Flow *Flow
	Pos  Pos
}

// Poll is a call step's `poll:` for `until:`: the call is repeated every
// Every until the condition holds or Max has passed since the first
// attempt.
type Poll struct {
	Every time.Duration
	Max   time.Duration
	Pos   Pos
}

// Input is one declared input: its JSON Schema as the YAML decoded it
// (JSON types only: map[string]any, []any, string, float64, int, bool, nil).
type Input struct {
	Name   string
	Schema map[string]any
	Pos    Pos
}

// FlowEdge is one declared cross-server data flow, `from -> to`, naming
// server aliases.
type FlowEdge struct {
	From, To string
	Pos      Pos
	// field is the entry's place in the file ("flows[2]"), which entries
	// that did not parse do not shift.
	field string
}

func (e FlowEdge) String() string { return e.From + " -> " + e.To }

// Redundant returns why e need not be declared, or nil: a server's own
// data may always go back to it (Flow.Allows), so `a -> a` changes nothing.
func (e FlowEdge) Redundant() error {
	if e.From != e.To {
		return nil
	}
	return fmt.Errorf("flow %q is not needed: a server's own data may always go back to it; remove it", e.String())
}

// Defaults apply to every step that does not set its own value.
type Defaults struct {
	// Timeout per attempt; 0 means none declared.
	Timeout time.Duration
	Retry   *RetryPolicy
}

// Step is one entry of a steps list. A step either calls a tool (Call), or
// groups nested steps (Steps, run once per item under ForEach), or runs named
// Parallel branches.
type Step struct {
	ID string
	// Path is the step's unique address in the file: its ID for a top-level
	// step, "group/child" for a nested one, "par.branch/child" inside a
	// parallel branch. Journals key on it (plus "[index]" per item).
	Path string
	Call *Call
	// Read, instead of Call, reads one resource: its view is a call's,
	// with result {contents: [...]} (see ReadResult).
	Read *Read
	// With is the argument object for Call (Kind KindObject), or nil.
	With *Value
	// ForEach yields the array this step runs over; .item and .index are
	// bound per element.
	ForEach *Expr
	// MaxConcurrency bounds how many items of one run of the for_each step
	// are in flight at once; 0 means not written: DefaultMaxConcurrency.
	MaxConcurrency int
	// If must yield a boolean; under ForEach it is evaluated per item.
	If *Expr
	// Parallel holds named branches that run concurrently.
	Parallel map[string][]*Step
	// BranchOrder lists Parallel's names in file order.
	BranchOrder []string
	// Steps is a nested group, allowed with ForEach or on its own.
	Steps   []*Step
	Timeout time.Duration // 0 = inherit Defaults.Timeout
	Retry   *RetryPolicy  // nil = inherit Defaults.Retry
	// OnError is "fail" (the default), "continue", or the ID of a step to
	// run instead.
	OnError        string
	IdempotencyKey *Expr
	// RetryUnsafe allows retries of a tool that is neither read-only nor
	// idempotent and has no IdempotencyKey.
	RetryUnsafe bool
	// TolerateFailures, on a for_each step, is how many items may fail
	// while the step succeeds; nil tolerates none.
	TolerateFailures *Tolerance
	// Uses, instead of Call or Read, runs another flow file; With holds
	// its inputs, and its outputs are the step's result.
	Uses *Uses
	// Until, on a call step of a read-only or idempotent tool, repeats the
	// call per Poll until the expression yields true. It reads the call's
	// own view, the latest attempt's (.result, .text, ...: Step.ViewFields
	// of a call), and .inputs, .item, .index and .run, not .steps.
	Until *Expr
	Poll  *Poll
	// Needs are explicit dependencies by step ID, beyond those inferred from
	// .steps.<id> references.
	Needs []string
	// Parent is the enclosing group step, nil at top level.
	Parent *Step
	Pos    Pos

	// fields records where each key of the step mapping was written, so
	// problems found later can point at the exact field.
	fields map[string]Pos
	// values records where each field's value starts.
	values map[string]Pos
	// field is the step's address in problems, e.g. "steps[1].steps[0]".
	field string
	// branch names the parallel branch holding the step, if any.
	branch string
	// needsNodes are the positions of Needs' entries.
	needsNodes []Pos
	// finally is set on the flow's finally steps, nested ones included.
	finally bool
}

// Fields of .steps.<id> as expressions read them. Which of them a step
// has depends on its kind (Step.ViewFields); the validator accepts exactly
// those and the engine builds exactly those, so a reference that validates
// never reads a field the engine leaves out.
const (
	FieldStatus   = "status"   // succeeded, failed, skipped or cancelled
	FieldResult   = "result"   // structured result; per item or per child for groups
	FieldError    = "error"    // {message, class} or null
	FieldAttempts = "attempts" // call steps: attempts made
	FieldContent  = "content"  // call steps: the raw content blocks
	FieldText     = "text"     // call steps: the text blocks joined
	FieldCounts   = "counts"   // for_each steps: items by status, and total
	FieldItems    = "items"    // for_each steps: one view per item, in input order
	FieldSteps    = "steps"    // groups: each child's view by id
	FieldBranches = "branches" // parallel steps: each branch's group view by name
	// FieldItem and FieldIndex are in each element of .items only.
	FieldItem  = "item"
	FieldIndex = "index"
)

var (
	callViewFields     = []string{FieldStatus, FieldResult, FieldError, FieldAttempts, FieldContent, FieldText}
	groupViewFields    = []string{FieldStatus, FieldResult, FieldError, FieldSteps}
	usesViewFields     = []string{FieldStatus, FieldResult, FieldError}
	parallelViewFields = []string{FieldStatus, FieldResult, FieldError, FieldBranches}
	forEachViewFields  = []string{FieldStatus, FieldResult, FieldError, FieldCounts, FieldItems}
)

// ViewFields lists the fields of .steps.<id> for s: a call step has
// status, result, error, attempts, content and text; a uses step status,
// result (the sub-flow's outputs by name) and error; a group has status,
// result, error and steps; a parallel step status, result, error and
// branches; a for_each step status, result, error, counts and items. The
// slice is shared: do not modify it.
func (s *Step) ViewFields() []string {
	if s.ForEach != nil {
		return forEachViewFields
	}
	return s.InstanceViewFields()
}

// ItemFields lists the fields of each element of .steps.<id>.items of a
// for_each step: those one run of the step has, plus item and index. It
// is nil for a step without for_each.
func (s *Step) ItemFields() []string {
	if s.ForEach == nil {
		return nil
	}
	return append(append([]string(nil), s.InstanceViewFields()...), FieldItem, FieldIndex)
}

// InstanceViewFields are the fields of one run of s, for_each aside.
func (s *Step) InstanceViewFields() []string {
	switch {
	case s.Call != nil, s.Read != nil:
		return callViewFields
	case s.Uses != nil:
		return usesViewFields
	case len(s.Parallel) > 0:
		return parallelViewFields
	}
	return groupViewFields
}

// StepKind names the kind of s as problems mention it: "call", "read",
// "uses", "for_each", "parallel" or "group".
func (s *Step) StepKind() string {
	switch {
	case s.ForEach != nil:
		return "for_each"
	case s.Call != nil:
		return "call"
	case s.Read != nil:
		return "read"
	case s.Uses != nil:
		return "uses"
	case len(s.Parallel) > 0:
		return "parallel"
	}
	return "group"
}

// Field returns the step's address in problem messages, such as
// "steps[1]" or "steps[0].parallel.a[2]".
func (s *Step) Field() string { return s.field }

// Branch returns the name of the parallel branch the step is in, or "".
func (s *Step) Branch() string { return s.branch }

// FieldPos returns where field (a key of the step's YAML mapping such as
// "needs" or "retry") was written, or the step's own position.
func (s *Step) FieldPos(field string) Pos {
	if p, ok := s.fields[field]; ok {
		return p
	}
	return s.Pos
}

// ValuePos returns where field's value was written, or the step's own
// position.
func (s *Step) ValuePos(field string) Pos {
	if p, ok := s.values[field]; ok {
		return p
	}
	return s.Pos
}

// Call names the tool a step calls: a server alias and a tool name, kept
// apart because MCP tool names may contain "." and "-".
type Call struct {
	Server, Tool string
	Pos          Pos
}

func (c Call) String() string { return c.Server + "." + c.Tool }

// Read names the resource a step reads: a server alias and the URI, a
// string or an expression (Kind KindLiteral or KindExpr).
type Read struct {
	Server string
	URI    *Value
	Pos    Pos
}

func (r Read) String() string {
	return "the read of a resource of server " + fmt.Sprintf("%q", r.Server)
}

// ReadResult is the result of a read step (.steps.<id>.result): the
// resource's contents, each {uri, mimeType, text} or {uri, mimeType,
// blob} with the blob in base64, as MCP's resources/read answers them.
const ReadResult = "contents"

// Servers lists the servers the flow's steps call or read from, its
// sub-flows' (Uses) included, sorted.
func (f *Flow) Servers() []string {
	set := map[string]bool{}
	for _, s := range f.AllSteps() {
		if srv := s.Server(); srv != "" {
			set[srv] = true
		}
		if s.Uses != nil && s.Uses.Flow != nil {
			for _, srv := range s.Uses.Flow.Servers() {
				set[srv] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Server is the server step s sends its request to (a call's or a read's),
// or "" for a group or parallel step.
func (s *Step) Server() string {
	switch {
	case s.Call != nil:
		return s.Call.Server
	case s.Read != nil:
		return s.Read.Server
	}
	return ""
}

// Request names what step s sends, for messages: "server.tool" for a call,
// "the read of a resource of server \"docs\"" for a read, "the sub-flow
// \"x.flow.yaml\"" for a uses step.
func (s *Step) Request() string {
	switch {
	case s.Call != nil:
		return s.Call.String()
	case s.Read != nil:
		return s.Read.String()
	case s.Uses != nil:
		return fmt.Sprintf("the sub-flow %q", s.Uses.Path)
	}
	return ""
}

// requestPos is where the step's call: or read: is written.
func (s *Step) requestPos() (Pos, string) {
	if s.Read != nil {
		return s.Read.Pos, s.field + ".read"
	}
	if s.Call != nil {
		return s.Call.Pos, s.field + ".call"
	}
	if s.Uses != nil {
		return s.Uses.Pos, s.field + ".uses"
	}
	return s.Pos, s.field
}

// Retry error classes a policy may list in On.
const (
	RetryOnTransport     = "transport"
	RetryOnTimeout       = "timeout"
	RetryOnRateLimited   = "rate_limited"
	RetryOnToolError     = "tool_error"
	RetryOnInvalidOutput = "invalid_output"
)

// RetryPolicy says how a failed attempt is retried. A zero field means
// "not written here": EffectiveRetry fills it from the defaults.
type RetryPolicy struct {
	MaxAttempts     int // total attempts, including the first
	InitialInterval time.Duration
	Backoff         float64 // multiplier per attempt
	MaxInterval     time.Duration
	// Jitter is "none" or "full"; empty means "full".
	Jitter string
	// On lists the error classes retried (Retry* constants). Nil means
	// transport, timeout and rate_limited.
	On  []string
	Pos Pos
}

// Expr is one compiled jq expression, written `${ ... }` in the file.
type Expr struct {
	// Source is the jq text between ${ and }.
	Source string
	Pos    Pos
	// References are the step IDs read as .steps.<id>, sorted, unique.
	References []string
	// Paths are the static paths the expression reads, for data-flow labels
	// and outputSchema checks: each is like ["steps","forecast","result",
	// "location"] or ["item","date"]. Dynamic parts end a path.
	Paths [][]string

	code  *gojq.Code
	query *gojq.Query
}

func (e *Expr) String() string { return "${ " + e.Source + " }" }

// ValueKind tells which field of a Value is set.
type ValueKind int

const (
	KindLiteral ValueKind = iota // Literal holds a JSON scalar
	KindExpr                     // Expr is set
	KindObject                   // Object and Keys are set
	KindArray                    // Array is set
)

// Value is an argument tree: literals, expressions, and objects and arrays
// of them. Only whole-value `${ ... }` strings are expressions, so a value
// keeps its JSON type and no text is spliced.
type Value struct {
	Kind    ValueKind
	Literal any // string, float64, int, bool or nil
	Expr    *Expr
	Object  map[string]*Value
	Keys    []string // Object's keys in file order
	Array   []*Value
	Pos     Pos
}

// Pos is a place in a flow file. Line and Column are 1-based; 0 means
// unknown.
type Pos = problem.Pos

// Problem is one thing wrong with a flow file, or with Warning one worth
// knowing that does not stop the flow from running. Its Field is the dotted
// path of the offending field, e.g. "steps[1].with.title" or "flows[0]".
type Problem = problem.Problem

// Problems is every problem found in one pass, ordered by position. As an
// error it prints one problem per line; Errors are what make a flow
// invalid.
type Problems = problem.Problems
