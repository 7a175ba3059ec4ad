package workflows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/argcheck"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// DryRun is a Runtime that runs the interpreter without effects: every
// call is composed as in a real run, its arguments are validated against
// the tool's inputSchema and recorded in the plan, and a sample result made
// from the tool's outputSchema stands in for the answer, so later steps
// compose their arguments too. With CallReadOnly, tools annotated
// readOnlyHint on servers whose annotations are trusted are really called.
type DryRun struct {
	// Inner answers Tool lookups and, with CallReadOnly, read-only calls.
	Inner            Runtime
	CallReadOnly     bool
	TrustAnnotations func(server string) bool
	// Flow, when set, is the flow being run: Plan lists its calls in the
	// order a run makes them. Without it Plan orders them by call path.
	Flow *flow.Flow

	mu      sync.Mutex
	plan    []PlannedCall
	schemas map[*mcp.Tool]dryRunSchema
}

// dryRunSchema is a tool's resolved inputSchema, or why mediator refuses
// the tool (see argcheck.ErrUncheckable); neither when mediator cannot
// read the schema and lets the server validate.
type dryRunSchema struct {
	rs  *argcheck.Schema
	err error
}

// PlannedCall is one call of a dry run.
type PlannedCall struct {
	Path   string         `json:"path"`
	Server string         `json:"server"`
	Tool   string         `json:"tool"`
	Args   map[string]any `json:"arguments"`
	// IdempotencyKey is the key the call would carry in _meta.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Problem says why the arguments do not match the tool's inputSchema.
	Problem string `json:"problem,omitempty"`
	// Called is set when the tool was really called (read-only).
	Called bool `json:"called"`
	// Conditional is set for a call the run did not make because its if
	// was false on simulated (sample) results: a real run may well make
	// it, so the plan shows it with the arguments it would have had.
	Conditional bool `json:"conditional,omitempty"`
	// Uncallable is set for a call that cannot be made as written: its
	// tool is missing, not allowed or unreachable (Problem says which).
	Uncallable bool `json:"uncallable,omitempty"`
	// Result is the sample (or, when called, the real) result.
	Result any `json:"result"`
	// Until, set for a call a run repeats until a condition holds, says
	// which and how often; the plan shows the first call only.
	Until string `json:"until,omitempty"`
}

// Plan returns the calls made so far in the order a run makes them (see
// Flow): a step after the steps it waits for, steps that start together
// in file order, a step's items by index, each item's nested calls
// together.
func (d *DryRun) Plan() []PlannedCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]PlannedCall(nil), d.plan...)
	less := pathLess
	if d.Flow != nil {
		less = executionOrder(d.Flow)
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i].Path, out[j].Path) })
	return out
}

// Problems counts planned calls that cannot be made as written: invalid
// arguments, or a tool that cannot be had. Conditional calls do not count:
// their arguments were composed from sample data that already failed their
// condition, so a problem there may be the sample's.
func (d *DryRun) Problems() int {
	n := 0
	for _, c := range d.Plan() {
		if c.Problem != "" && !c.Conditional {
			n++
		}
	}
	return n
}

func (d *DryRun) CallTool(ctx context.Context, req CallRequest) (*mcp.CallToolResult, error) {
	pc := PlannedCall{Path: req.Step, Server: req.Server, Tool: req.Tool, Args: req.Args}
	if k, ok := req.Meta[MetaIdempotencyKey].(string); ok {
		pc.IdempotencyKey = k
	}
	tool, err := d.Inner.Tool(ctx, req.Server, req.Tool)
	if err != nil {
		pc.Problem = err.Error()
		d.record(pc)
		return nil, err
	}
	pc.Problem = d.argumentProblem(ctx, tool, req)
	trusted := d.TrustAnnotations != nil && d.TrustAnnotations(req.Server)
	if d.CallReadOnly && trusted && readOnly(tool) && pc.Problem == "" {
		res, err := d.Inner.CallTool(ctx, req)
		pc.Called = true
		if res != nil {
			pc.Result = resultValue(res)
		}
		d.record(pc)
		return res, err
	}
	sample := SampleFromSchema(tool.OutputSchema)
	pc.Result = sample
	d.record(pc)
	res := &mcp.CallToolResult{StructuredContent: sample, Content: []mcp.Content{&mcp.TextContent{Text: "(dry run: sample result)"}}}
	if sample == nil {
		res.StructuredContent = nil
	}
	return res, nil
}

// planConditional records a call whose if was false, when the condition
// read data from servers (sources) whose results may be samples: always in
// a simulated dry run; with CallReadOnly only when one of them is not
// trusted (a trusted server's read-only results are real, though its other
// tools' are still samples, so this may miss a few). composeErr is why the
// arguments could not be composed, if they could not.
func (d *DryRun) planConditional(ctx context.Context, req CallRequest, sources []string, composeErr error) {
	simulated := !d.CallReadOnly
	for _, srv := range sources {
		if d.TrustAnnotations == nil || !d.TrustAnnotations(srv) {
			simulated = true
		}
	}
	if !simulated {
		return
	}
	pc := PlannedCall{Path: req.Step, Server: req.Server, Tool: req.Tool, Args: req.Args, Conditional: true}
	if k, ok := req.Meta[MetaIdempotencyKey].(string); ok {
		pc.IdempotencyKey = k
	}
	switch tool, err := d.Inner.Tool(ctx, req.Server, req.Tool); {
	case composeErr != nil:
		pc.Problem = composeErr.Error()
	case err != nil:
		pc.Problem = err.Error()
	default:
		pc.Problem = d.argumentProblem(ctx, tool, req)
	}
	d.record(pc)
}

// planUncallable records a call the run could not make because its tool
// could not be had.
func (d *DryRun) planUncallable(req CallRequest, err error) {
	pc := PlannedCall{Path: req.Step, Server: req.Server, Tool: req.Tool, Args: req.Args, Uncallable: true, Problem: err.Error()}
	if k, ok := req.Meta[MetaIdempotencyKey].(string); ok {
		pc.IdempotencyKey = k
	}
	d.record(pc)
}

// argumentProblem says how req's arguments break the tool's input schema,
// in the orchestrator's words, or "" when they do not.
func (d *DryRun) argumentProblem(ctx context.Context, tool *mcp.Tool, req CallRequest) string {
	sch := d.inputSchema(tool)
	if sch.err != nil {
		return fmt.Sprintf("%s.%s cannot be called: its inputSchema cannot be checked safely: %v", req.Server, req.Tool, sch.err)
	}
	if sch.rs == nil {
		return ""
	}
	viols, err := sch.rs.Check(ctx, asDecodedJSON(req.Args), argcheck.Label{})
	if err != nil {
		return fmt.Sprintf("cannot check the arguments for %s.%s: %v", req.Server, req.Tool, err)
	}
	if len(viols) == 0 {
		return ""
	}
	say := make([]string, len(viols))
	for i := range viols {
		say[i] = viols[i].Sentence()
	}
	return fmt.Sprintf("invalid arguments for %s.%s: %s", req.Server, req.Tool, strings.Join(say, "; "))
}

func (d *DryRun) record(pc PlannedCall) {
	d.mu.Lock()
	d.plan = append(d.plan, pc)
	d.mu.Unlock()
}

func (d *DryRun) inputSchema(tool *mcp.Tool) dryRunSchema {
	if tool.InputSchema == nil {
		return dryRunSchema{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.schemas == nil {
		d.schemas = map[*mcp.Tool]dryRunSchema{}
	}
	sch, ok := d.schemas[tool]
	if !ok {
		rs, err := argcheck.Resolve(tool.InputSchema)
		switch {
		case errors.Is(err, argcheck.ErrUncheckable):
			sch.err = err
		case err == nil:
			sch.rs = rs
		}
		d.schemas[tool] = sch
	}
	return sch
}

func (d *DryRun) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	return d.Inner.Tool(ctx, server, tool)
}

func (d *DryRun) Go(ctx context.Context, fn func(ctx context.Context)) Task {
	return d.Inner.Go(ctx, fn)
}

// Sleep does not wait: a dry run retries nothing for real.
func (d *DryRun) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func (d *DryRun) Now(ctx context.Context) time.Time { return d.Inner.Now(ctx) }

func (d *DryRun) AfterFunc(ctx context.Context, start <-chan struct{}, after time.Duration, f func()) func() {
	return d.Inner.AfterFunc(ctx, start, after, f)
}

// SampleFromSchema builds a plausible value for a JSON Schema: its const,
// first example, default or enum value when it has one, else a
// placeholder of its type (objects with every property, arrays with one
// element). A nil schema gives nil. The schema is a server's, so the
// sample is bounded: it holds sampleBudget values at most, and is as deep
// as that allows (8 levels at most), however the schema's $refs fan out.
func SampleFromSchema(schema any) any {
	m := argcheck.SchemaMap(schema)
	if m == nil {
		return nil
	}
	for depth := 8; ; depth-- {
		sm := &sampler{root: m, left: sampleBudget, depth: depth}
		v := sm.sample(m, "", 0)
		if sm.left >= 0 || depth == 0 {
			return v
		}
	}
}

// sampleBudget bounds the values one sample holds.
const sampleBudget = 10_000

// sampler builds one sample, up to depth levels deep; left goes below
// zero when the sample would hold more than sampleBudget values.
type sampler struct {
	root  map[string]any
	left  int
	depth int
}

func (sm *sampler) sample(s map[string]any, name string, depth int) any {
	sm.left--
	if depth > sm.depth || sm.left < 0 {
		return nil
	}
	s = flow.ResolveSchemaRef(sm.root, s)
	if s == nil {
		return nil
	}
	if v, ok := s["const"]; ok {
		return flow.Normalize(v)
	}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		return flow.Normalize(ex[0])
	}
	if v, ok := s["default"]; ok {
		return flow.Normalize(v)
	}
	if en, ok := s["enum"].([]any); ok && len(en) > 0 {
		return flow.Normalize(en[0])
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[key].([]any); ok && len(alts) > 0 {
			if alt, ok := alts[0].(map[string]any); ok {
				return sm.sample(alt, name, depth+1)
			}
		}
	}
	typ := ""
	for _, t := range flow.SchemaTypes(s) {
		if t != "null" {
			typ = t
			break
		}
	}
	if typ == "" {
		if _, ok := s["properties"]; ok {
			typ = "object"
		}
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for k, p := range props {
			if sm.left < 0 {
				break // over budget: this sample is dropped for a shallower one
			}
			if pm, ok := p.(map[string]any); ok {
				out[k] = sm.sample(pm, k, depth+1)
			}
		}
		return out
	case "array":
		items, _ := s["items"].(map[string]any)
		if items == nil {
			return []any{}
		}
		return []any{sm.sample(items, name, depth+1)}
	case "string":
		switch s["format"] {
		case "date":
			return "2000-01-01"
		case "date-time":
			return "2000-01-01T00:00:00Z"
		case "uri":
			return "https://example.com/"
		case "email":
			return "someone@example.com"
		}
		if name == "" {
			return "<string>"
		}
		return "<" + name + ">"
	case "integer":
		if v, ok := s["minimum"]; ok {
			return flow.Normalize(v)
		}
		return 0
	case "number":
		if v, ok := s["minimum"]; ok {
			return flow.Normalize(v)
		}
		return 0.0
	case "boolean":
		return false
	}
	return nil
}

// executionOrder orders the call paths of f's runs as a run makes them
// (the finally steps last): within each steps list, by how many steps a step waits for one after
// another (steps that start together keep their file order); a group's or
// branch's nested steps right after the step holding them; items by
// index.
func executionOrder(f *flow.Flow) func(a, b string) bool {
	rank := map[string]int{}
	var walk func(prefix string, steps []*flow.Step)
	walk = func(prefix string, steps []*flow.Step) {
		for _, s := range waves(steps) {
			rank[prefix+s.Path] = len(rank)
			walk(prefix, s.Steps)
			for _, b := range s.BranchOrder {
				walk(prefix, s.Parallel[b])
			}
			if s.Uses != nil && s.Uses.Flow != nil {
				// "sync.uses/add" reads as step sync, branch uses, step add;
				// the sub-flow's finally steps come after its steps.
				sub := prefix + s.Path + "/uses/"
				walk(sub, s.Uses.Flow.Steps)
				if len(s.Uses.Flow.Finally) > 0 {
					rank[sub+strings.TrimSuffix(flow.FinallyPath, "/")] = len(rank)
					walk(sub, s.Uses.Flow.Finally)
				}
			}
		}
	}
	walk("", f.Steps)
	if len(f.Finally) > 0 {
		// The finally steps come after every step, as a run makes them.
		rank[strings.TrimSuffix(flow.FinallyPath, "/")] = len(rank)
		walk("", f.Finally)
	}
	return func(a, b string) bool {
		ka, kb := orderKey(a, rank), orderKey(b, rank)
		for i := 0; i < len(ka) && i < len(kb); i++ {
			if ka[i] != kb[i] {
				if ka[i][0] != kb[i][0] {
					return ka[i][0] < kb[i][0]
				}
				return ka[i][1] < kb[i][1]
			}
		}
		if len(ka) != len(kb) {
			return len(ka) < len(kb)
		}
		return pathLess(a, b)
	}
}

// waves orders one steps list by the length of the longest chain of
// dependencies (flow.Dependencies) before each step, then file order.
func waves(steps []*flow.Step) []*flow.Step {
	deps := flow.Dependencies(steps)
	level := map[string]int{}
	var depth func(id string, seen map[string]bool) int
	depth = func(id string, seen map[string]bool) int {
		if l, ok := level[id]; ok {
			return l
		}
		if seen[id] {
			return 0 // a cycle, which validation refuses
		}
		seen[id] = true
		l := 0
		for _, d := range deps[id] {
			l = max(l, depth(d, seen)+1)
		}
		level[id] = l
		return l
	}
	out := append([]*flow.Step(nil), steps...)
	for _, s := range out {
		depth(s.ID, map[string]bool{})
	}
	sort.SliceStable(out, func(i, j int) bool { return level[out[i].ID] < level[out[j].ID] })
	return out
}

// orderKey turns a call path ("batch[2]/upload", "par[1].left/put") into
// (rank, index) pairs, one per step on the way: its static step's rank
// and its item index, or -1.
func orderKey(path string, rank map[string]int) [][2]int {
	var key [][2]int
	static := ""
	for _, seg := range strings.Split(path, "/") {
		name, branch, _ := strings.Cut(seg, ".")
		index := -1
		if i := strings.IndexByte(name, '['); i >= 0 {
			index, _ = leadingInt(name[i+1:])
			name = name[:i]
		}
		static += name
		r, ok := rank[static]
		if !ok {
			r = len(rank) // not a step of the flow: last
		}
		key = append(key, [2]int{r, index})
		static += "/"
		if branch != "" {
			static += branch + "/"
		}
	}
	return key
}

// pathLess orders call paths with their indexes numerically, so remind[2]
// sorts before remind[10].
func pathLess(a, b string) bool {
	for a != "" && b != "" {
		ai, bi := indexAt(a), indexAt(b)
		if ai >= 0 && bi >= 0 && a[:ai] == b[:bi] {
			na, ra := leadingInt(a[ai+1:])
			nb, rb := leadingInt(b[bi+1:])
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		return a < b
	}
	return a < b
}

func indexAt(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			return i
		}
	}
	return -1
}

func leadingInt(s string) (int, string) {
	n, i := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, s[i:]
}
