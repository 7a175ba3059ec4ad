// Package run implements `mediator run FLOW`: one run of a workflow file,
// journalled so that `mediator resume` can finish it after a crash.
package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Dry-run modes of --dry-run.
const (
	DryRunSimulate = "simulate"
	DryRunReadOnly = "read-only"
)

// Options of `mediator run`.
type Options struct {
	Env      flowrun.Env
	ReadFile func(string) ([]byte, error)

	FlowPath string
	// Inputs are the -i NAME=VALUE flags, in order; they override
	// InputsFile's values.
	Inputs     []string
	InputsFile string
	JSON       bool
	// DryRun is "", DryRunSimulate or DryRunReadOnly.
	DryRun string
	// Engine is --engine: "" (the config's engine:), local or temporal.
	Engine string
}

// NewCmdRun returns `mediator run FLOW`.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Env: flowrun.NewEnv(f), ReadFile: os.ReadFile}
	cmd := &cobra.Command{
		Use:   "run FLOW [-i NAME=VALUE ... | --inputs FILE] [--json] [--dry-run[=read-only]]",
		Short: "Run a workflow file: a validated chain of tool calls across servers",
		Long: `Runs the workflow in FLOW (a *.flow.yaml file). The file is validated
first; inputs are checked against their JSON Schemas and completed with
their defaults before any call. Steps run in dependency order, independent
ones concurrently, every call through mediator with its checks and audit,
and every cross-server data flow must be declared in the file's flows:.

Every call attempt is journalled under the state directory, so a run that
fails, is cancelled or killed can be finished with ` + "`mediator resume ID`" + `.

Inputs come from --inputs FILE (JSON or YAML object) and -i NAME=VALUE
flags, which override it. VALUE is taken as text for a string input and
parsed as JSON otherwise (-i threshold=0.5 -i 'cities=["Oslo"]').

Progress goes to stderr (a live view on a terminal, plain lines otherwise),
the outputs to stdout as JSON. --json prints {run_id, status, outputs,
steps, error, finally} instead, also when the run fails.

A flow's timeout: bounds the run: when it passes, in-flight calls are
cancelled and the run ends timed_out (resume it with --extend). Its
finally: steps run once the steps end, whatever the outcome (Ctrl-C
included: mediator then waits for them, at most a minute; a second Ctrl-C
stops at once); their failure is reported beside the run's status.

--dry-run prints the call plan instead of running, in the order a run makes
the calls: every call with its composed arguments, each validated against
the tool's inputSchema, with sample results from outputSchema standing in
for the answers. Nothing is called, except with --dry-run=read-only, which
really calls tools annotated read-only. Every problem is reported: each
call marked INVALID, and why the dry run stopped.

Ctrl-C cancels the run: in-flight calls are cancelled on their servers and
journalled as cancelled.

--engine temporal (or engine: temporal in the config) runs the flow as a
Temporal workflow on the cluster's workers instead of in this process: the
same validation, progress, output and exit codes, but no journal here
(Temporal's history is the run's record: ` + "`mediator runs show ID`" + `) and no
resume (the workflow retries a lost worker's call by the flow's retry
rule). Ctrl-C cancels the workflow and waits for its finally steps.
--dry-run always runs here.

Exit codes: 0 success; 1 a step failed (a tool's error result, an
expression that failed on the data), the run timed out, or (after a run
that succeeded) a finally step failed; 2 refused: a flow or input problem, a
call mediator refused (an unknown or unaccepted tool, invalid arguments, a
data flow not allowed), or a dry-run call with invalid arguments; 3 a
server could not be used (unreachable, no answer in time, credential, a
JSON-RPC error); 130 cancelled. See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator run rain-reminders.flow.yaml
  mediator run rain-reminders.flow.yaml -i threshold=0.4 -i 'cities=["Oslo","Tromsø"]'
  mediator run rain-reminders.flow.yaml --inputs inputs.yaml --json
  mediator run rain-reminders.flow.yaml --dry-run
  mediator run rain-reminders.flow.yaml --dry-run=read-only`,
		Args:              cmdutil.ExactArgs(1, "FLOW"),
		ValidArgsFunction: flowrun.CompleteFlowFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.FlowPath = args[0]
			switch opts.DryRun {
			case "", DryRunSimulate, DryRunReadOnly:
			default:
				return cmdutil.UsageErrorf("--dry-run=%s: valid values are %s (the default of a bare --dry-run) and %s", opts.DryRun, DryRunSimulate, DryRunReadOnly)
			}
			if err := flowrun.CheckEngineFlag(opts.Engine); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Inputs, "input", "i", nil, "one input as NAME=VALUE (repeatable)")
	fl.StringVar(&opts.InputsFile, "inputs", "", "read inputs from a JSON or YAML file holding an object")
	fl.BoolVar(&opts.JSON, "json", false, "print {run_id, status, outputs, steps, error, finally} as JSON")
	fl.StringVar(&opts.DryRun, "dry-run", "", "print the call plan without calling anything (=read-only: call read-only tools)")
	fl.Lookup("dry-run").NoOptDefVal = DryRunSimulate
	fl.StringVar(&opts.Engine, "engine", "", "run on this engine: local or temporal (default: the config's engine:, else local)")
	_ = cmd.RegisterFlagCompletionFunc("engine", cobra.FixedCompletions(flowrun.Engines, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runRun(ctx context.Context, opts *Options) error {
	cfg, err := opts.Env.Config()
	if err != nil {
		return err
	}
	// A dry run calls nothing but read-only tools: it runs here whatever
	// the engine (docs/scale.md).
	if flowrun.EngineOf(opts.Engine, cfg) == config.EngineTemporal && opts.DryRun == "" {
		return runRemote(ctx, opts, cfg)
	}
	pol := flowrun.PolicyOf(opts.Env, cfg)
	f, err := flowrun.LoadFlow(ctx, opts.Env, cfg, opts.FlowPath)
	if err != nil {
		return err
	}
	inputs, err := BuildInputs(f, opts.InputsFile, opts.Inputs, opts.ReadFile)
	if err != nil {
		return err
	}
	// Inputs are checked before anything connects, let alone calls.
	if _, err := workflows.PrepareInputs(ctx, f, inputs); err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	o, err := flowrun.Connect(ctx, opts.Env, cfg, f, inputs)
	if err != nil {
		return err
	}
	defer o.Close()
	red := opts.Env.Redactor()
	rt := o.Runtime()
	if opts.DryRun != "" {
		return dryRun(ctx, opts, f, rt, inputs, pol)
	}
	j, err := flowrun.OpenJournal(cfg, red)
	if err != nil {
		return err
	}
	defer j.Close()
	abs, err := filepath.Abs(opts.FlowPath)
	if err != nil {
		return err
	}
	res, runErr := flowrun.Execute(ctx, opts.Env, f, red, func(ctx context.Context, progress func(workflows.Event)) (*workflows.RunResult, error) {
		return workflows.Run(ctx, f, workflows.RunOptions{
			Runtime: rt, Journal: j, Inputs: inputs, FlowPath: abs,
			PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations, Progress: progress,
		})
	})
	runErr = flowrun.WithAuditLoss(ctx, o, runErr)
	return flowrun.Report(opts.Env, red, res, runErr, opts.JSON)
}

// skippedStep is a step a dry run did not call, or called for only some
// of its items.
type skippedStep struct {
	Path    string `json:"path"`
	Skipped int    `json:"skipped"`
	// Total counts the step's items (0 for a step without items).
	Total int `json:"total,omitempty"`
}

func skippedSteps(t *flowrun.Tracker) []skippedStep {
	rows, _, _, _ := t.Snapshot()
	out := []skippedStep{}
	for _, r := range rows {
		n := r.Done[workflows.StatusSkipped]
		total := r.Total
		if !r.ForEach {
			total = 0
			for _, c := range r.Done {
				total += c
			}
		}
		switch {
		case n > 0:
			out = append(out, skippedStep{Path: r.Path, Skipped: n, Total: total})
		case total == 0 && r.Status == workflows.StatusSkipped:
			out = append(out, skippedStep{Path: r.Path, Skipped: 1})
		}
	}
	return out
}

// BuildInputs reads --inputs FILE, then applies -i NAME=VALUE pairs,
// coercing each VALUE by its input's schema.
func BuildInputs(f *flow.Flow, file string, pairs []string, readFile func(string) ([]byte, error)) (map[string]any, error) {
	inputs := map[string]any{}
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return nil, cmdutil.UsageErrorf("--inputs: %v", err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, cmdutil.UsageErrorf("--inputs %s: not valid JSON or YAML: %v", file, err)
		}
		m, ok := flow.Normalize(v).(map[string]any)
		if !ok && v != nil {
			return nil, cmdutil.UsageErrorf("--inputs %s: must hold an object of input names to values, found %T", file, flow.Normalize(v))
		}
		for k, x := range m {
			inputs[k] = x
		}
	}
	for _, p := range pairs {
		name, text, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, cmdutil.UsageErrorf("-i %q: want NAME=VALUE", p)
		}
		v, err := workflows.CoerceInput(f, name, text)
		if err != nil {
			return nil, cmdutil.UsageErrorf("-i %s: %v", name, err)
		}
		inputs[name] = v
	}
	return inputs, nil
}

func dryRun(ctx context.Context, opts *Options, f *flow.Flow, rt workflows.Runtime, inputs map[string]any, pol flowrun.Policy) error {
	red := opts.Env.Redactor()
	dr := &workflows.DryRun{Inner: rt, CallReadOnly: opts.DryRun == DryRunReadOnly, TrustAnnotations: pol.TrustAnnotations, Flow: f}
	tracker := flowrun.NewTracker(f, time.Now())
	res, runErr := workflows.Run(ctx, f, workflows.RunOptions{Runtime: dr, Inputs: inputs,
		PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations, RunID: "dry-run",
		Progress: func(ev workflows.Event) { tracker.Handle(ev) }})
	plan := dr.Plan()
	skipped := skippedSteps(tracker)
	if opts.JSON {
		doc := map[string]any{"calls": plan, "outputs": nil, "status": "", "skipped": skipped}
		if res != nil {
			doc["outputs"], doc["status"] = res.Outputs, res.Status
			if res.Finally != nil {
				doc["finally"] = res.Finally.Status
			}
		}
		if runErr != nil {
			doc["error"] = runErr.Error()
		}
		out, err := cmdutil.MarshalJSON(doc)
		if err != nil {
			return err
		}
		if err := cmdutil.WriteRedacted(opts.Env.IO.Out, red, out); err != nil {
			return err
		}
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "Call plan of %s (%d call(s); nothing was sent", f.Source, len(plan))
		if opts.DryRun == DryRunReadOnly {
			b.WriteString(" except to read-only tools")
		}
		b.WriteString("):\n")
		b.WriteString(finallyPlanNote(f))
		for _, c := range plan {
			args, _ := cmdutil.MarshalJSON(c.Args)
			verdict := "arguments valid"
			if c.Problem != "" {
				verdict = "INVALID: " + c.Problem
			}
			how := "simulated"
			switch {
			case c.Uncallable:
				how = "not called"
			case c.Called:
				how = "called (read-only)"
			case c.Conditional:
				// Its if was false on sample results; a real run may
				// make the call, so show what it would send.
				how = "not called: conditional on simulated data"
			}
			fmt.Fprintf(&b, "\n%s  %s.%s  [%s; %s]\n", c.Path, c.Server, c.Tool, how, verdict)
			if c.IdempotencyKey != "" {
				fmt.Fprintf(&b, "  idempotency key: %s\n", c.IdempotencyKey)
			}
			if c.Until != "" {
				fmt.Fprintf(&b, "  repeated until %s (a run repeats it; the plan shows the first call)\n", c.Until)
			}
			b.WriteString("  " + strings.ReplaceAll(strings.TrimSpace(string(args)), "\n", "\n  ") + "\n")
		}
		if len(skipped) > 0 {
			// A plan that silently lacks a step reads as a bug; say which
			// steps made no call and why they may.
			b.WriteString("\nNot called (skipped: an if was false, or an on_error handler was not needed):\n")
			for _, s := range skipped {
				if s.Total > 0 {
					fmt.Fprintf(&b, "  %s: %d of %d item(s)\n", s.Path, s.Skipped, s.Total)
				} else {
					fmt.Fprintf(&b, "  %s\n", s.Path)
				}
			}
			if opts.DryRun == DryRunSimulate {
				b.WriteString("Simulated results are samples made from each tool's outputSchema, so a condition\n" +
					"on them may go otherwise in a real run; --dry-run=read-only calls read-only tools.\n")
			}
		}
		if err := cmdutil.WriteRedacted(opts.Env.IO.Out, red, []byte(b.String())); err != nil {
			return err
		}
	}
	// Every problem is reported: the calls the plan flags, and why the
	// run stopped (which may be one of them, or another).
	var msgs []string
	code := cmdutil.ExitOK
	if n := dr.Problems(); n > 0 {
		msgs = append(msgs, fmt.Sprintf("%d planned call(s) cannot be made as written (marked INVALID above): arguments that do not match the tool's inputSchema, or a tool that cannot be called", n))
		code = cmdutil.ExitUsage
	}
	if runErr != nil {
		msg := runErr.Error()
		if red != nil {
			msg = red.Redact(msg)
		}
		msgs = append(msgs, "dry run stopped: "+msg)
		if code == cmdutil.ExitOK {
			code = flowrun.ExitCode(res, runErr)
		}
	}
	if res != nil && res.Finally != nil && res.Finally.Err != nil {
		msg := res.Finally.Err.Error()
		if red != nil {
			msg = red.Redact(msg)
		}
		msgs = append(msgs, "in the dry run, "+msg)
		if code == cmdutil.ExitOK {
			code = cmdutil.ExitToolError
		}
	}
	if len(msgs) > 0 {
		return &cmdutil.ExitError{Code: code, Err: errors.New(strings.Join(msgs, "\n"))}
	}
	return nil
}

// finallyPlanNote says, above a dry run's plan, what the plan cannot show:
// the run's time limit, and that the calls under finally/ run whatever
// the outcome.
func finallyPlanNote(f *flow.Flow) string {
	var b strings.Builder
	if f.Timeout > 0 {
		fmt.Fprintf(&b, "The run may take %s; past that its calls are cancelled and it ends timed_out.\n", flow.FormatDuration(f.Timeout))
	}
	if len(f.Finally) > 0 {
		fmt.Fprintf(&b, "Calls under %s run after the steps, whatever their outcome (planned here after a success).\n", flow.FinallyPath)
	}
	return b.String()
}
