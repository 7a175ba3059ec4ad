package slash

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Flow file suffixes, as `mediator run` completes them.
var flowSuffixes = []string{".flow.yaml", ".flow.yml"}

// runFlow runs a workflow file as `mediator run FLOW -i name=value ...`
// does (validated against the config's policy and servers, inputs checked
// before any call, journalled under the state directory, audited), over
// the chat's orchestrator, each engine event to the Sink.
func (c *Commands) runFlow(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	fields, err := splitArgs(args)
	if err != nil {
		return chat.Result{}, fmt.Errorf("/run: %w", err)
	}
	if len(fields) == 0 {
		return chat.Result{}, fmt.Errorf("/run needs a workflow file: /run FLOW [name=value ...]%s", c.flowFilesHint())
	}
	path, err := c.findFlow(fields[0])
	if err != nil {
		return chat.Result{}, err
	}
	cfg := c.env.Config
	var warnings strings.Builder
	env := flowrun.Env{IO: &iostreams.IOStreams{ErrOut: &warnings}, Policy: flowrun.ConfigPolicy}
	f, err := flowrun.LoadFlow(ctx, env, cfg, path)
	if err != nil {
		return chat.Result{}, fmt.Errorf("/run %s refused: %w", fields[0], unexit(err))
	}
	if w := strings.TrimSpace(warnings.String()); w != "" {
		out.Markdown(fence(w, ""))
	}
	inputs, err := flowInputs(f, fields[1:])
	if err != nil {
		return chat.Result{}, fmt.Errorf("/run %s: %w", fields[0], err)
	}
	if _, err := workflows.PrepareInputs(ctx, f, inputs); err != nil {
		return chat.Result{}, fmt.Errorf("/run %s: %w", fields[0], err)
	}
	for _, s := range f.Servers() {
		if err := c.checkServer(fmt.Sprintf("/run %s calls", fields[0]), s); err != nil {
			return chat.Result{}, err
		}
	}
	opts := workflows.RunOptions{Runtime: flowrun.Runtime(c.env.Orchestrator), Inputs: inputs}
	if opts.FlowPath, err = filepath.Abs(path); err != nil {
		return chat.Result{}, err
	}
	pol := flowrun.PolicyOf(env, cfg)
	opts.PolicyFlows, opts.TrustAnnotations = pol.Flows, pol.TrustAnnotations
	if cfg != nil && cfg.StateDir != "" {
		j, err := flowrun.OpenJournal(cfg, c.env.Redactor)
		if err != nil {
			return chat.Result{}, err
		}
		defer j.Close()
		opts.Journal = j
	}
	var res *workflows.RunResult
	runErr := pump(func(emit func(func())) error {
		opts.Progress = func(ev workflows.Event) {
			// What the TUI shows of a step holds no secret either.
			if ev.Err != nil {
				ev.Err = redactedErr(c.env.Redactor, ev.Err)
			}
			ev.Report.Message = c.env.Redactor.Redact(ev.Report.Message)
			emit(func() { out.Flow(ev) })
		}
		var err error
		res, err = workflows.Run(ctx, f, opts)
		return err
	})
	runErr = flowrun.WithAuditLoss(ctx, c.env.Orchestrator, runErr)
	if res == nil {
		return chat.Result{}, fmt.Errorf("/run %s: %w", fields[0], runErr)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Run `%s` of %s: **%s**\n", res.RunID, f.Name, res.Status)
	if res.Status == workflows.RunSucceeded {
		outputs, err := cmdutil.MarshalJSON(res.Outputs)
		if err != nil {
			return chat.Result{}, fmt.Errorf("encoding the outputs: %w", err)
		}
		b.WriteString("\n" + fence(string(outputs), "json") + "\n")
	}
	if runErr != nil {
		fmt.Fprintf(&b, "\n%s\n", fence(runErr.Error(), ""))
		if opts.Journal != nil && (res.Status == workflows.RunFailed || res.Status == workflows.RunCancelled) {
			fmt.Fprintf(&b, "\nResume it with `mediator resume %s` (journalled successes are reused).\n", res.RunID)
		}
	}
	out.Markdown(c.env.Redactor.Redact(b.String()))
	return chat.Result{}, nil
}

// unexit is the error an ExitError carries: the chat has no exit code.
func unexit(err error) error {
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) && ee.Err != nil {
		return ee.Err
	}
	return err
}

// flowInputs reads name=value pairs as `mediator run -i` does: VALUE is
// text for a string input and JSON otherwise (workflows.CoerceInput).
func flowInputs(f *flow.Flow, pairs []string) (map[string]any, error) {
	inputs := map[string]any{}
	for _, p := range pairs {
		name, text, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("input %q: give inputs as name=value (e.g. threshold=0.5)", p)
		}
		v, err := workflows.CoerceInput(f, name, text)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		inputs[name] = v
	}
	return inputs, nil
}

// findFlow finds FLOW as `mediator run` does (a path, from the working
// directory), then in FlowDir, each also with a flow file suffix added.
func (c *Commands) findFlow(name string) (string, error) {
	var tries []string
	for _, dir := range c.flowDirs() {
		p := name
		if dir != "" && !filepath.IsAbs(name) {
			p = filepath.Join(dir, name)
		}
		tries = append(tries, p)
		for _, suf := range flowSuffixes {
			tries = append(tries, p+suf)
		}
	}
	for _, p := range tries {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	files := c.flowFiles()
	return "", fmt.Errorf("/run: no workflow file %q%s%s", name, suggest.Hint(name, files), c.flowFilesHint())
}

// flowDirs are where flows are looked for: the working directory, then
// FlowDir.
func (c *Commands) flowDirs() []string {
	dirs := []string{""}
	if c.env.FlowDir != "" {
		dirs = append(dirs, c.env.FlowDir)
	}
	return dirs
}

// flowFiles lists the flow files /run finds by name, as /run takes them.
func (c *Commands) flowFiles() []string {
	var out []string
	for _, dir := range c.flowDirs() {
		d := dir
		if d == "" {
			d = "."
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.Type()&fs.ModeType != 0 {
				continue
			}
			for _, suf := range flowSuffixes {
				if strings.HasSuffix(e.Name(), suf) && !slices.Contains(out, e.Name()) {
					out = append(out, e.Name())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *Commands) flowFilesHint() string {
	files := c.flowFiles()
	if len(files) == 0 {
		return " (no *.flow.yaml files here)"
	}
	return "; flow files here: " + strings.Join(files, ", ")
}

// splitArgs splits a command's arguments at spaces, keeping what is in
// single or double quotes together: name="New York".
func splitArgs(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed in %q", quote, s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
