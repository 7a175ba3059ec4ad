// Package validate implements `mediator validate FLOW [--connect]`: every
// problem in a flow file at once, as FILE:LINE:COL: FIELD: PROBLEM.
package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Options of `mediator validate`.
type Options struct {
	IO           *iostreams.IOStreams
	ReadFile     func(string) ([]byte, error)
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	// Policy reads the config's rules for every flow (policy.flows).
	Policy flowrun.PolicyFunc
	// Remote opens the engine of engine: temporal, whose queues --connect
	// checks instead of this machine's sessions (flowrun.OpenRemote).
	Remote func(context.Context, *config.Config) (cmdutil.RemoteRuns, error)

	File    string
	Connect bool
	JSON    bool
}

// NewCmdValidate returns `mediator validate FLOW`.
func NewCmdValidate(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	env := flowrun.NewEnv(f)
	opts := &Options{IO: f.IOStreams, ReadFile: os.ReadFile, Config: f.Config, Orchestrator: f.Orchestrator, Policy: env.Policy,
		Remote: func(ctx context.Context, cfg *config.Config) (cmdutil.RemoteRuns, error) {
			return flowrun.OpenRemote(ctx, env, cfg, "")
		}}
	cmd := &cobra.Command{
		Use:   "validate FLOW",
		Short: "Report every problem in a flow file at once",
		Long: `Checks a flow file (*.flow.yaml) without running it and reports every
problem at once as FILE:LINE:COL: FIELD: PROBLEM: the file's shape, unique
step ids, references that resolve, dependency cycles, jq expressions that do
not compile or use banned builtins (now, input, env, ...), and cross-server
data flows allowed neither by the file's flows: nor by the config's
policy.flows.

With --connect it also connects to the servers the flow calls and checks
each call against the live tool: the tool exists and the server's tools
filter allows it; literal arguments match its inputSchema and required
arguments are present; where an argument is a plain path into an input or
an upstream result, the types agree; and a step that retries a tool which
is not annotated read-only or idempotent has an idempotency_key or
retry_unsafe: true. Tool annotations count as trusted because mediator pins
each tool definition and refuses changed ones until accepted (the config's
policy.trust_annotations can narrow that to some servers).

Under engine: temporal the servers' sessions are on the domain workers, so
--connect checks the file against the config and asks the cluster whether
a worker polls every queue a run of it needs (the flow workers', each
server's domain's); a queue without one is reported, exit 3.

Without --connect the retry rule cannot be applied: whether a tool is
read-only or idempotent only its server says, so a step whose own retry
may repeat a call gets a warning instead (run applies the rule before
every call). Warnings, such as a flows: entry from a server to itself,
are printed but do not make the file invalid.

When the config loads, every server a call names must be configured in it.

Exits 2 if there is any problem, 3 if a server could not be reached (see
` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator validate rain-reminders.flow.yaml
  mediator validate --connect rain-reminders.flow.yaml
  mediator validate --json flow.yaml | jq '.problems[].message'`,
		Args:              cmdutil.ExactArgs(1, "FLOW"),
		ValidArgsFunction: flowrun.CompleteFlowFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return validateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Connect, "connect", false, "also check each call against the live servers' tools")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON on stdout")
	return cmd
}

// report is the --json output.
type report struct {
	File     string        `json:"file"`
	Valid    bool          `json:"valid"`
	Connect  bool          `json:"connect"`
	Problems []problemJSON `json:"problems"`
	// Warnings do not make the file invalid.
	Warnings []problemJSON `json:"warnings"`
}

type problemJSON struct {
	// File is set for a problem in a sub-flow's file, not the one validated.
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func problemsJSON(file string, ps flow.Problems) []problemJSON {
	out := []problemJSON{}
	for _, p := range ps {
		pj := problemJSON{Line: p.Pos.Line, Column: p.Pos.Column, Field: p.Field, Message: p.Message}
		if p.Pos.File != file {
			pj.File = p.Pos.File
		}
		out = append(out, pj)
	}
	return out
}

func validateRun(ctx context.Context, opts *Options) error {
	data, err := opts.ReadFile(opts.File)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "reading the flow file: %v", err)
	}
	cfg, err := opts.Config()
	if err != nil {
		if opts.Connect {
			return err
		}
		// Offline checks need the config only for policy.flows: say what
		// is missing and check the file on its own.
		fmt.Fprintf(opts.IO.ErrOut, "note: the config did not load, so its policy.flows are not applied:\n%v\n", err)
		cfg = nil
	}
	pol := flowrun.PolicyOf(flowrun.Env{Policy: opts.Policy}, cfg)
	vopts := flow.ValidateOptions{PolicyFlows: pol.Flows, ReadFile: opts.ReadFile}
	// Under engine: temporal the sessions are on the domain workers:
	// --connect checks the file against the config and asks for a worker
	// on every queue a run needs (idleQueues).
	onTemporal := opts.Connect && cfg.Engine == config.EngineTemporal
	if !opts.Connect || onTemporal {
		// --connect's catalog reports an unconfigured server per call.
		vopts.Server = flowrun.ServerCheck(cfg)
	}
	var cat *catalog
	if opts.Connect && !onTemporal {
		// Parse first to learn which servers to connect to.
		f, _ := flow.Parse(opts.File, data)
		if f != nil {
			// Its sub-flows' servers too; Check loads them again, validated.
			flow.LoadUses(ctx, f, flow.ValidateOptions{ReadFile: opts.ReadFile, RetryAtRunTime: true})
		}
		cat, err = newCatalog(ctx, opts, cfg, f)
		if err != nil {
			return err
		}
		defer cat.close()
		vopts.Catalog = cat
		vopts.TrustAnnotations = pol.TrustAnnotations
	}
	fl, all := flow.Check(ctx, opts.File, data, vopts)
	probs, warnings := all.Errors(), all.Warnings()
	var idle []string
	if onTemporal && fl != nil && len(probs) == 0 {
		if idle, err = idleQueues(ctx, opts, cfg, fl); err != nil {
			return err
		}
	}
	code := cmdutil.ExitUsage
	if cat != nil && cat.unreachable() {
		code = cmdutil.ExitConnect
	}
	// A queue without a worker is a problem of the cluster, not the file.
	var failed error
	switch {
	case len(probs) > 0:
		failed = &cmdutil.ExitError{Code: code, Err: probs, Silent: true}
	case len(idle) > 0:
		failed = &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: fmt.Errorf("%d queue(s) without a worker", len(idle)), Silent: true}
	}
	if opts.JSON {
		r := report{File: opts.File, Valid: failed == nil, Connect: opts.Connect, Problems: problemsJSON(opts.File, probs), Warnings: problemsJSON(opts.File, warnings)}
		for _, msg := range idle {
			r.Problems = append(r.Problems, problemJSON{Message: msg})
		}
		out, err := cmdutil.MarshalJSON(r)
		if err != nil {
			return err
		}
		if _, err := opts.IO.Out.Write(out); err != nil {
			return err
		}
		return failed
	}
	writeProblems(opts.IO.ErrOut, opts.File, data, opts.ReadFile, all)
	for _, msg := range idle {
		fmt.Fprintln(opts.IO.ErrOut, msg)
	}
	if len(probs) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%d %s in %s\n", len(probs), plural(len(probs), "problem", "problems"), opts.File)
	}
	if failed != nil {
		return failed
	}
	steps := len(fl.AllSteps())
	servers := serversOf(fl)
	how := "offline"
	switch {
	case onTemporal:
		how = "against the config; a worker polls every queue it needs on Temporal"
	case opts.Connect:
		how = "against the live tools"
	}
	_, err = fmt.Fprintf(opts.IO.Out, "OK: %s, %d %s%s calling %s%s, checked %s\n",
		opts.File, steps, plural(steps, "step", "steps"), finallyNote(fl), strings.Join(servers, ", "), timeoutNote(fl), how)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func serversOf(f *flow.Flow) []string { return f.Servers() }

// writeProblems prints each problem with the line it points at and a
// caret under the column, as compilers do: a position alone makes the
// reader open the file.
func writeProblems(w io.Writer, file string, data []byte, read func(string) ([]byte, error), probs flow.Problems) {
	texts := map[string][]string{file: strings.Split(string(data), "\n")}
	for _, p := range probs {
		fmt.Fprintln(w, p)
		lines, ok := texts[p.Pos.File]
		if !ok && read != nil {
			// A sub-flow's problem: show its own file's line.
			if b, err := read(p.Pos.File); err == nil {
				lines = strings.Split(string(b), "\n")
			}
			texts[p.Pos.File] = lines
		}
		if p.Pos.Line < 1 || p.Pos.Line > len(lines) {
			continue
		}
		text := strings.TrimRight(lines[p.Pos.Line-1], "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		num := fmt.Sprintf("%5d | ", p.Pos.Line)
		fmt.Fprintf(w, "%s%s\n", num, text)
		if p.Pos.Column > 0 {
			// Keep tabs so the caret lines up under them.
			prefix := []rune(text)
			col := min(p.Pos.Column-1, len(prefix))
			pad := make([]rune, col)
			for i := range pad {
				pad[i] = ' '
				if prefix[i] == '\t' {
					pad[i] = '\t'
				}
			}
			fmt.Fprintf(w, "%s| %s^\n", strings.Repeat(" ", len(num)-2), string(pad))
		}
	}
}

// catalog looks tools up through the orchestrator, which holds each
// server's credentials and applies its tools filter and pins.
type catalog struct {
	cfg   *config.Config
	o     *orchestrator.Orchestrator
	lists map[string][]orchestrator.ToolInfo
	errs  map[string]error
	down  bool
}

func newCatalog(ctx context.Context, opts *Options, cfg *config.Config, f *flow.Flow) (*catalog, error) {
	var err error
	c := &catalog{cfg: cfg, lists: map[string][]orchestrator.ToolInfo{}, errs: map[string]error{}}
	var known []string
	if f != nil {
		for _, s := range serversOf(f) {
			if _, err := cmdutil.CheckServer(cfg, s); err != nil {
				c.errs[s] = errors.Unwrap(err)
				continue
			}
			known = append(known, s)
		}
	}
	if len(known) == 0 {
		return c, nil
	}
	c.o, err = opts.Orchestrator(ctx, cfg, known...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *catalog) close() {
	if c.o != nil {
		c.o.Close()
	}
}

// unreachable reports whether some server could not be connected to, so
// the command exits 3 rather than 2.
func (c *catalog) unreachable() bool { return c.down }

// Tool implements flow.Catalog.
func (c *catalog) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	if err, ok := c.errs[server]; ok {
		return nil, err
	}
	list, ok := c.lists[server]
	if !ok {
		if c.o == nil {
			return nil, fmt.Errorf("server %q is not configured", server)
		}
		var err error
		list, err = c.o.Tools(ctx, server)
		if err != nil {
			if cmdutil.ExitCode(err) == cmdutil.ExitConnect {
				c.down = true
			}
			c.errs[server] = err
			return nil, err
		}
		c.lists[server] = list
	}
	var names []string
	for _, t := range list {
		if t.Name != tool {
			names = append(names, t.Name)
			continue
		}
		switch {
		case !t.Allowed:
			return nil, fmt.Errorf("the tools filter of server %q in %s does not allow %q", server, c.cfg.Path, tool)
		case t.Pin == "changed":
			return nil, fmt.Errorf("%s.%s changed since it was accepted, and calls to it are refused: review it with `mediator tools diff %s %s`, then accept it with `mediator tools accept %s %s`", server, tool, server, tool, server, tool)
		}
		return t.Tool, nil
	}
	return nil, fmt.Errorf("server %q has no tool %q%s; it has %s", server, tool, suggest.Hint(tool, names), suggest.List(names))
}

// finallyNote counts the finally steps among a flow's steps, for the OK
// line.
func finallyNote(f *flow.Flow) string {
	n := 0
	for _, s := range f.AllSteps() {
		if s.InFinally() {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d in finally)", n)
}

// timeoutNote is the flow's run timeout, for the OK line.
func timeoutNote(f *flow.Flow) string {
	if f.Timeout <= 0 {
		return ""
	}
	return fmt.Sprintf(", run timeout %s", flow.FormatDuration(f.Timeout))
}
