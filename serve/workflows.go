package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Workflow files as tools. Every *.flow.yaml and *.flow.yml file of a
// directory that validates as `mediator run` validates it becomes one
// tool, named after the file ("rain-reminders"), or "workflow__NAME" with
// WorkflowOptions.Prefix (serve does so when the gateway is on too: no
// workflow then collides with a server__tool, as long as no server is
// named "workflow"). A run is journalled like `mediator run`'s, so
// `mediator runs` lists it and `mediator resume ID` finishes a failed one.

// WorkflowPrefix starts a workflow tool's name with WorkflowOptions.Prefix.
const WorkflowPrefix = "workflow__"

// maxToolName bounds a tool name: the LLM APIs a host passes tools to take
// at most 64 characters of [A-Za-z0-9_-].
const maxToolName = 64

var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// flowSuffixes are the file names LoadWorkflowTools offers.
var flowSuffixes = []string{".flow.yaml", ".flow.yml"}

// WorkflowOptions configures LoadWorkflowTools.
type WorkflowOptions struct {
	// Dir holds the workflow files (not its subdirectories).
	Dir string
	// Orchestrator returns the orchestrator runs call through. It is asked
	// at each run, not at load: serve builds the orchestrator after the
	// Server, with its Host.
	Orchestrator func() *orchestrator.Orchestrator
	// PolicyFlows are the config's policy.flows: the flows every file may
	// make besides its own flows:, in validation and at run time.
	PolicyFlows []flow.FlowEdge
	// TrustAnnotations says whose tool annotations the retry rule
	// believes; nil believes none.
	TrustAnnotations func(server string) bool
	// Server tells whether a server a file calls can be used (nil) or why
	// not, as flow.ValidateOptions.Server; nil checks no server names.
	Server func(name string) error
	// JournalPath is the run journal (the state directory's); empty runs
	// without one, and a failed run cannot be resumed.
	JournalPath string
	// Redactor returns what scrubs known secrets from the journal and from
	// everything a run returns. It is asked at each run: opening the
	// keyring, which comes after loading, replaces the redactor. Nil, or
	// a nil result, scrubs nothing.
	Redactor func() *credentials.Redactor
	// Prefix names each tool WorkflowPrefix+NAME.
	Prefix bool
	// Logger receives each file's warnings.
	Logger *slog.Logger
}

// LoadWorkflowTools makes a tool of every workflow file in opts.Dir, in
// file name order. A file that does not validate, or whose name is not a
// valid tool name or repeats another's, is not offered: the returned error
// lists each such file's problems (FILE:LINE:COL), and the tools of the
// other files are returned with it. An unreadable directory returns no
// tools. Warnings are logged.
func LoadWorkflowTools(ctx context.Context, opts WorkflowOptions) ([]WorkflowTool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("serve: workflows_dir: %w", err)
	}
	var (
		tools []WorkflowTool
		errs  []error
		names = map[string]string{} // tool name -> file
	)
	for _, e := range entries {
		base, ok := flowBase(e.Name())
		if !ok || !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		path := filepath.Join(opts.Dir, e.Name())
		name := base
		if opts.Prefix {
			name = WorkflowPrefix + base
		}
		if err := checkToolName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: not offered: the tool would be named %q, which %w; rename the file", path, name, err))
			continue
		}
		if other, dup := names[name]; dup {
			errs = append(errs, fmt.Errorf("%s: not offered: %s is offered as tool %q already; rename one of them", path, other, name))
			continue
		}
		wt, err := loadWorkflow(ctx, opts, path, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		names[name] = path
		tools = append(tools, wt.tool())
	}
	return tools, errors.Join(errs...)
}

// flowBase is a flow file's name without its suffix.
func flowBase(file string) (string, bool) {
	for _, suf := range flowSuffixes {
		if b, ok := strings.CutSuffix(file, suf); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

func checkToolName(name string) error {
	switch {
	case len(name) > maxToolName:
		return fmt.Errorf("is longer than %d characters", maxToolName)
	case !toolNameRE.MatchString(name):
		return errors.New("may hold only letters, digits, '_' and '-'")
	}
	return nil
}

// workflow is one loaded, validated workflow file.
type workflow struct {
	opts WorkflowOptions
	name string // the tool's
	path string // absolute, as journalled
	flow *flow.Flow
	prov *flow.Provenance
}

func loadWorkflow(ctx context.Context, opts WorkflowOptions, path, name string) (*workflow, error) {
	f, ps, err := workflows.LoadForRun(ctx, path, flow.ValidateOptions{PolicyFlows: opts.PolicyFlows, Server: opts.Server})
	if err != nil {
		return nil, fmt.Errorf("%s: not offered: %w", path, err)
	}
	if errs := ps.Errors(); len(errs) > 0 {
		return nil, fmt.Errorf("%s: not offered: %d problem(s):\n%w", path, len(errs), errs)
	}
	if ws := ps.Warnings(); len(ws) > 0 {
		opts.Logger.Warn("workflow file has warnings", "file", path, "warnings", ws.Error())
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not offered: %w", path, err)
	}
	return &workflow{opts: opts, name: name, path: abs, flow: f, prov: flow.NewProvenance(f)}, nil
}

func (w *workflow) tool() WorkflowTool {
	f := w.flow
	desc := f.Description
	if desc == "" {
		desc = "Runs the workflow " + f.Name + "."
	}
	if servers := f.Servers(); len(servers) > 0 {
		desc += fmt.Sprintf("\n\nA mediator workflow (%s) over the servers %s.", filepath.Base(w.path), strings.Join(servers, ", "))
	}
	return WorkflowTool{
		Tool: &mcp.Tool{
			Name:         w.name,
			Title:        f.Name,
			Description:  desc,
			InputSchema:  inputSchema(f),
			OutputSchema: outputSchema(f),
		},
		Run: w.run,
	}
}

// inputSchema is the tool's inputSchema: an object with one property per
// input, its JSON Schema as the file declares it; an input without a
// default is required, and no other property is allowed (PrepareInputs
// refuses unknown names).
func inputSchema(f *flow.Flow) map[string]any {
	props := map[string]any{}
	required := []string{}
	for name, in := range f.Inputs {
		props[name] = in.Schema
		if _, ok := in.Schema["default"]; !ok {
			required = append(required, name)
		}
	}
	slices.Sort(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// outputSchema is the tool's outputSchema: an object with every output.
// An output computed by an expression may be any JSON value (a flow does
// not type its outputs); a literal's type, and the shape of an object or
// array of values, are as written.
func outputSchema(f *flow.Flow) map[string]any {
	props := map[string]any{}
	for _, name := range f.OutputOrder {
		props[name] = valueSchema(f.Outputs[name])
	}
	return map[string]any{"type": "object", "properties": props, "required": slices.Clone(f.OutputOrder)}
}

func valueSchema(v *flow.Value) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	switch v.Kind {
	case flow.KindObject:
		props := map[string]any{}
		for _, k := range v.Keys {
			props[k] = valueSchema(v.Object[k])
		}
		return map[string]any{"type": "object", "properties": props, "required": slices.Clone(v.Keys)}
	case flow.KindArray:
		items := make([]any, len(v.Array))
		for i, x := range v.Array {
			items[i] = valueSchema(x)
		}
		return map[string]any{"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
	case flow.KindLiteral:
		switch v.Literal.(type) {
		case string:
			return map[string]any{"type": "string", "const": v.Literal}
		case bool:
			return map[string]any{"type": "boolean", "const": v.Literal}
		case int, int64, float64:
			return map[string]any{"type": "number", "const": v.Literal}
		case nil:
			return map[string]any{"type": "null"}
		}
	}
	return map[string]any{}
}

// run is WorkflowTool.Run: see there.
func (w *workflow) run(ctx context.Context, sess *orchestrator.Session, args map[string]any, progress func(connectors.Progress)) (*mcp.CallToolResult, orchestrator.Provenance, error) {
	var none orchestrator.Provenance
	if w.opts.Orchestrator == nil || w.opts.Orchestrator() == nil {
		return nil, none, fmt.Errorf("serve: workflow %s: no orchestrator to run it over", w.name)
	}
	o := w.opts.Orchestrator()
	inputs, err := w.inputs(ctx, args)
	if err != nil {
		// The host's model can correct its arguments: a tool error.
		return workflowError(w.redact(err.Error())), none, nil
	}
	opts := workflows.RunOptions{
		Runtime:          workflows.NewLocalRuntime(hostSourced{OrchestratorCaller: workflows.OrchestratorCaller{O: o}, from: hostProvenance(ctx).Servers()}),
		Inputs:           inputs,
		PolicyFlows:      w.opts.PolicyFlows,
		TrustAnnotations: w.opts.TrustAnnotations,
		FlowPath:         w.path,
		Logger:           w.opts.Logger,
	}
	if w.opts.JournalPath != "" {
		var red workflows.Redactor
		if r := w.redactor(); r != nil {
			red = r
		}
		j, err := workflows.OpenJournal(w.opts.JournalPath, red)
		if err != nil {
			return nil, none, fmt.Errorf("serve: workflow %s: %w", w.name, err)
		}
		defer j.Close()
		opts.Journal = j
	}
	if progress != nil {
		opts.Progress = newStepProgress(w.flow, w.redact, progress).handle
	}
	if sess != nil {
		// The flow's calls are decided under the host session: the file's
		// flows: are added to it (OrchestratorCaller), and what the host's
		// user approves for the session holds here too.
		ctx = orchestrator.WithSession(ctx, sess)
	}
	res, runErr := workflows.Run(ctx, w.flow, opts)
	if err := o.SyncAudit(context.WithoutCancel(ctx)); err != nil {
		// A run whose audit records are lost was not fully audited.
		runErr = errors.Join(runErr, err)
	}
	if res == nil {
		// Nothing ran: the inputs (checked above) or the journal.
		return workflowError(w.redact(fmt.Sprintf("workflow %s did not start: %v", w.name, runErr))), none, nil
	}
	if runErr == nil && res.Status == workflows.RunSucceeded && (res.Finally == nil || res.Finally.Status == workflows.StatusSucceeded) {
		return w.succeeded(res)
	}
	return w.failed(res, runErr), orchestrator.ProvenanceOf(w.flow.Servers()...), nil
}

// inputs reads the tool's arguments as `mediator run -i` reads its
// values, then checks and completes them (PrepareInputs, which names the
// input of every problem). A string given for an input that is not a
// string is parsed as `-i name=text` would be: "0.5" for a number.
func (w *workflow) inputs(ctx context.Context, args map[string]any) (map[string]any, error) {
	given := make(map[string]any, len(args))
	for name, v := range args {
		if text, ok := v.(string); ok {
			if in, declared := w.flow.Inputs[name]; declared && !slices.Contains(flow.SchemaTypes(in.Schema), "string") {
				c, err := workflows.CoerceInput(w.flow, name, text)
				if err != nil {
					return nil, fmt.Errorf("argument %s of workflow %s: %w", name, w.name, err)
				}
				v = c
			}
		}
		given[name] = flow.Normalize(v)
	}
	return workflows.PrepareInputs(ctx, w.flow, given)
}

// succeeded is a run's result: its outputs as structuredContent and as
// JSON text, and their provenance: the servers whose data the flow's
// analysis says can reach them.
func (w *workflow) succeeded(res *workflows.RunResult) (*mcp.CallToolResult, orchestrator.Provenance, error) {
	out := res.Outputs
	if out == nil {
		out = map[string]any{}
	}
	var structured any = out
	if r := w.redactor(); r != nil {
		structured = r.RedactValue(out)
	}
	text, err := json.MarshalIndent(structured, "", "  ")
	if err != nil {
		return nil, orchestrator.Provenance{}, fmt.Errorf("serve: workflow %s: encoding its outputs: %w", w.name, err)
	}
	r := &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(text)}},
		StructuredContent: structured,
	}
	return r, orchestrator.ProvenanceOf(w.prov.OutputServers()...), nil
}

// failed is a run that failed, was cancelled, timed out or blocked, or
// whose finally steps failed, as a tool error: the run, the failed steps,
// the error and its class, finally's outcome, and how to resume.
func (w *workflow) failed(res *workflows.RunResult, runErr error) *mcp.CallToolResult {
	var b strings.Builder
	fmt.Fprintf(&b, "workflow %s: run %s %s", w.name, res.RunID, res.Status)
	var failed []string
	for id, st := range res.Steps {
		if st == workflows.StatusFailed || st == workflows.StatusCancelled {
			failed = append(failed, id)
		}
	}
	slices.Sort(failed)
	if len(failed) > 0 {
		fmt.Fprintf(&b, " at step %s", strings.Join(failed, ", "))
	}
	if runErr != nil {
		fmt.Fprintf(&b, ": %v", runErr)
		if class := workflows.ErrorClass(runErr); class != "" {
			fmt.Fprintf(&b, "\nerror class: %s", class)
		}
	}
	finallyFailed := res.Finally != nil && res.Finally.Status != workflows.StatusSucceeded
	if finallyFailed {
		fmt.Fprintf(&b, "\nits finally steps %s: %v", res.Finally.Status, res.Finally.Err)
	}
	if w.opts.JournalPath != "" {
		switch {
		case res.Status == workflows.RunTimedOut:
			fmt.Fprintf(&b, "\nresume it with more time: `mediator resume %s --extend 10m` (journalled successes are reused)", res.RunID)
		case res.Status == workflows.RunFailed || res.Status == workflows.RunCancelled || finallyFailed:
			fmt.Fprintf(&b, "\nresume it with `mediator resume %s` (journalled successes are reused)", res.RunID)
		}
	}
	return workflowError(w.redact(b.String()))
}

func (w *workflow) redactor() *credentials.Redactor {
	if w.opts.Redactor == nil {
		return nil
	}
	return w.opts.Redactor()
}

func (w *workflow) redact(s string) string {
	if r := w.redactor(); r != nil {
		return r.Redact(s)
	}
	return s
}

func workflowError(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// stepProgress turns a run's events into the tool call's progress: one
// report per top-level step finished ("step forecast done (1/2)"), and
// the servers' own reports in between, each tagged with its step. The
// progress value only ever increases, as MCP requires: the steps done,
// plus a fraction below one for a server's report.
type stepProgress struct {
	steps  map[*flow.Step]bool // the top-level steps
	total  int
	redact func(string) string
	send   func(connectors.Progress)

	mu   sync.Mutex
	done int
	last float64
}

func newStepProgress(f *flow.Flow, redact func(string) string, send func(connectors.Progress)) *stepProgress {
	p := &stepProgress{steps: map[*flow.Step]bool{}, total: len(f.Steps), redact: redact, send: send}
	for _, s := range f.Steps {
		p.steps[s] = true
	}
	return p
}

func (p *stepProgress) handle(ev workflows.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Kind {
	case workflows.EventStepFinished:
		if !p.steps[ev.Step] || ev.Path != ev.Step.ID {
			return
		}
		p.done++
		p.last = float64(p.done)
		p.send(connectors.Progress{
			Progress: p.last,
			Total:    float64(p.total),
			Message:  fmt.Sprintf("step %s %s (%d/%d)", ev.Step.ID, stepVerb(ev.Status), p.done, p.total),
		})
	case workflows.EventProgress:
		if p.done >= p.total {
			return // a late report: the run is done
		}
		next := float64(p.done) + 1
		v := p.last + (next-p.last)/2
		if r := ev.Report; r.Total > 0 && r.Progress >= 0 {
			if f := float64(p.done) + min(r.Progress/r.Total, 0.99); f > p.last {
				v = f
			}
		}
		if v <= p.last || v >= next {
			return
		}
		p.last = v
		msg := "step " + ev.Path
		if ev.Report.Server != "" {
			msg += " (" + ev.Report.Server + ")"
		}
		if ev.Report.Message != "" {
			msg += ": " + p.redact(ev.Report.Message)
		}
		p.send(connectors.Progress{Server: ev.Report.Server, Progress: v, Total: float64(p.total), Message: msg})
	}
}

// stepVerb says how a step finished, as a progress message words it.
func stepVerb(status string) string {
	switch status {
	case workflows.StatusSucceeded:
		return "done"
	case "":
		return "finished"
	}
	return status
}

type hostProvenanceKey struct{}

// withHostProvenance returns ctx for a workflow run whose host session has
// been given data of prov: the run's arguments may carry it. The gateway
// sets it on each workflow call (the session's provenance so far).
func withHostProvenance(ctx context.Context, prov orchestrator.Provenance) context.Context {
	return context.WithValue(ctx, hostProvenanceKey{}, prov)
}

func hostProvenance(ctx context.Context) orchestrator.Provenance {
	p, _ := ctx.Value(hostProvenanceKey{}).(orchestrator.Provenance)
	return p
}

// hostSourced makes every call and read of a run carry the host session's
// provenance besides the sources the flow's analysis gives it: the run's
// inputs come from the host, and which calls an input reaches is not
// tracked, so every call is taken to carry them. Without this a host
// could launder server A's data into server B through a workflow's
// arguments, past the session's data-flow check. (DecidesFlows is
// OrchestratorCaller's: the orchestrator decides.)
type hostSourced struct {
	workflows.OrchestratorCaller
	from []string
}

func (c hostSourced) CallTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	req.Sources = c.sources(req.Sources)
	return c.OrchestratorCaller.CallTool(ctx, req)
}

func (c hostSourced) ReadResource(ctx context.Context, req workflows.ReadRequest) (*mcp.ReadResourceResult, error) {
	req.Sources = c.sources(req.Sources)
	return c.OrchestratorCaller.ReadResource(ctx, req)
}

func (c hostSourced) sources(own []string) []string {
	if len(c.from) == 0 {
		return own
	}
	out := slices.Concat(own, c.from)
	slices.Sort(out)
	return slices.Compact(out)
}
