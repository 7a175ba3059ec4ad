package flows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/resume"
	"github.com/mediatorhq/mediator/cmd/internal/commands/run"
	"github.com/mediatorhq/mediator/cmd/internal/commands/runs"
	"github.com/mediatorhq/mediator/cmd/internal/commands/validate"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// calcServer is a real go-sdk MCP server over loopback HTTP. Its "flaky"
// tool fails while broken is set, so a test can fail a run and then let
// the resume succeed.
type calcServer struct {
	mu     sync.Mutex
	calls  map[string]int
	broken bool
	// booking is signalled by every call of book as it begins.
	booking chan struct{}
	// hold, when set, holds every call of note until it is closed.
	hold chan struct{}
}

func (c *calcServer) count(tool string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[tool]
}

// setBroken sets whether the flaky tool fails.
func (c *calcServer) setBroken(broken bool) {
	c.mu.Lock()
	c.broken = broken
	c.mu.Unlock()
}

// interruptOnBooking returns a context for a run, cancelled as Ctrl-C
// cancels one ("interrupt signal received") once a call of book begins;
// it ends at the latest after 30s.
func interruptOnBooking(t *testing.T, c *calcServer) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	runCtx, interrupt := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-c.booking:
			interrupt(errors.New("interrupt signal received"))
		case <-ctx.Done():
		}
	}()
	return runCtx
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}
type addOut struct {
	Sum float64 `json:"sum"`
}

func startCalc(t *testing.T) (*calcServer, string) {
	c := &calcServer{calls: map[string]int{}, booking: make(chan struct{}, 16)}
	s := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(s, &mcp.Tool{Name: "add", Annotations: ro}, func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		c.mu.Lock()
		c.calls["add"]++
		c.mu.Unlock()
		return nil, addOut{Sum: in.A + in.B}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "flaky", Annotations: ro}, func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls["flaky"]++
		if c.broken && in.A == 2 {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "flaky is broken today"}}}, addOut{}, nil
		}
		return nil, addOut{Sum: in.A * 10}, nil
	})
	// note has effects and no annotations, and answers at once, or once
	// hold is closed while it is set.
	mcp.AddTool(s, &mcp.Tool{Name: "note"}, func(ctx context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		c.mu.Lock()
		c.calls["note"]++
		hold := c.hold
		c.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return nil, addOut{}, ctx.Err()
			}
		}
		return nil, addOut{Sum: in.A}, nil
	})
	// book has effects and no annotations, and takes until it is
	// cancelled: a call of it cut short leaves its outcome unknown. A
	// stateless server does not learn of a cancelled request, so the test's
	// end releases it too.
	released := make(chan struct{})
	mcp.AddTool(s, &mcp.Tool{Name: "book"}, func(ctx context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		c.mu.Lock()
		c.calls["book"]++
		c.mu.Unlock()
		c.booking <- struct{}{}
		select {
		case <-ctx.Done():
			return nil, addOut{}, ctx.Err()
		case <-released:
			return nil, addOut{}, errors.New("released at the end of the test")
		}
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(released) }) // runs before srv.Close
	return c, srv.URL
}

type env struct {
	t    *testing.T
	dir  string
	vars map[string]string
}

func newEnv(t *testing.T, url string) *env {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, vars: map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_STATE_HOME":  filepath.Join(dir, "state"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
		// The audit log's key is in the keyring.
		"MEDIATOR_KEYRING_PASSPHRASE": "workflow-test-passphrase",
	}}
	cfg := fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nservers:\n  calc:\n    url: %s\n    timeout: 10s\n", filepath.Join(dir, "keyring"), url)
	path := filepath.Join(dir, "config", "mediator", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) writeFlow(name, body string) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

// exec runs one workflow command (they are registered in the root command
// by its owner) with isolated streams and environment.
func (e *env) exec(newCmd func(*cmdutil.Factory) *cobra.Command, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.execCtx(ctx, newCmd, args...)
}

// execCtx is exec under ctx, which the test may cancel as Ctrl-C does
// (main cancels the command's context on SIGINT).
func (e *env) execCtx(ctx context.Context, newCmd func(*cmdutil.Factory) *cobra.Command, args ...string) result {
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	cmd := newCmd(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errOut, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: cmdutil.ExitCode(err)}
}

func runCmd(f *cmdutil.Factory) *cobra.Command { return run.NewCmdRun(f, nil) }
func validateCmd(f *cmdutil.Factory) *cobra.Command {
	return validate.NewCmdValidate(f, nil)
}
func runsCmd(f *cmdutil.Factory) *cobra.Command   { return runs.NewCmdRuns(f, nil, nil) }
func resumeCmd(f *cmdutil.Factory) *cobra.Command { return resume.NewCmdResume(f, nil) }

func want(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
}

const sumFlow = `version: 1
name: sums
inputs:
  xs: {type: array, items: {type: number}, default: [1, 2, 3]}
  b: {type: number, default: 100}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    max_concurrency: 2
    call: {server: calc, tool: add}
    with: {a: ${ .item }, b: ${ .inputs.b }}
  - id: times
    needs: [each]
    for_each: ${ .inputs.xs }
    max_concurrency: 1
    call: {server: calc, tool: flaky}
    with: {a: ${ .item }, b: 0}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
  tens: ${ [.steps.times.items[].result.sum] }
`

func TestRunRunsResume(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("sums.flow.yaml", sumFlow)

	r := e.exec(runsCmd, "list")
	want(t, r, 0, "runs list before any run")
	if !strings.Contains(r.stderr, "no runs yet") {
		t.Errorf("empty list says %q", r.stderr)
	}
	r = e.exec(runCmd, flow, "-i", "b=1000")
	want(t, r, 0, "run")
	var outputs map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &outputs); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if got, _ := json.Marshal(outputs); string(got) != `{"sums":[1001,1002,1003],"tens":[10,20,30]}` {
		t.Fatalf("outputs %s", got)
	}
	for _, line := range []string{"sums started", "▸ each: 3 item(s)", "✓ each: succeeded (3 succeeded)", ": succeeded in"} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("progress lacks %q:\n%s", line, r.stderr)
		}
	}
	firstID := regexp.MustCompile(`run (\S+): sums started`).FindStringSubmatch(r.stderr)[1]

	// A failing run, then a resume once the server is fixed.
	calc.setBroken(true)
	r = e.exec(runCmd, flow, "--json")
	want(t, r, 1, "failing run")
	var sum struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Status != "failed" || !strings.Contains(sum.Error, "flaky is broken today") {
		t.Fatalf("--json of a failed run: %v %+v\n%s", err, sum, r.stdout)
	}
	if !strings.Contains(r.stderr, "mediator resume "+sum.RunID) {
		t.Errorf("no resume hint:\n%s", r.stderr)
	}
	addBefore := calc.count("add")
	calc.setBroken(false)
	r = e.exec(resumeCmd, sum.RunID[:18])
	want(t, r, 0, "resume")
	if !strings.Contains(r.stdout, `"tens": [`) {
		t.Fatalf("resume outputs:\n%s", r.stdout)
	}
	if n := calc.count("add"); n != addBefore {
		t.Errorf("resume re-made %d journalled add calls", n-addBefore)
	}
	if !strings.Contains(r.stderr, "✓ each: succeeded (3 succeeded, 3 from the journal)") {
		t.Errorf("resume progress does not say what was reused:\n%s", r.stderr)
	}

	r = e.exec(runsCmd, "list")
	want(t, r, 0, "runs list")
	if !strings.Contains(r.stdout, firstID) || !strings.Contains(r.stdout, sum.RunID) || !regexp.MustCompile(sum.RunID+`\s+sums\s+succeeded .*\s1\n`).MatchString(r.stdout) {
		t.Fatalf("runs list:\n%s", r.stdout)
	}
	r = e.exec(runsCmd, "show", sum.RunID)
	want(t, r, 0, "runs show")
	for _, s := range []string{"Status:   succeeded", "Resumes:  1", "Outputs:  {\n", `"tens": [`, "times[1]  calc.flaky  1        failed", "times[1]  calc.flaky  2        succeeded", "each[2]"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("runs show lacks %q:\n%s", s, r.stdout)
		}
	}
	r = e.exec(runsCmd, "show", sum.RunID, "--json")
	want(t, r, 0, "runs show --json")
	var shown struct {
		Run      map[string]any   `json:"run"`
		Attempts []map[string]any `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || len(shown.Attempts) != 7 {
		t.Fatalf("runs show --json: %v, %d attempts\n%s", err, len(shown.Attempts), r.stdout)
	}
	r = e.exec(runsCmd, "show", "nosuchrun")
	want(t, r, 2, "runs show of an unknown id")
	r = e.exec(resumeCmd, sum.RunID)
	want(t, r, 2, "resume of a finished run")
}

func TestRunProblems(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("sums.flow.yaml", sumFlow)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"input of the wrong type", []string{flow, "-i", `xs=["a"]`}, 2, []string{`input "xs[0]" must be a number (got string "a")`}},
		{"undeclared input", []string{flow, "-i", "c=1"}, 2, []string{`input "c" is not declared`}},
		{"bad inputs file", []string{flow, "--inputs", filepath.Join(e.dir, "none.yaml")}, 2, []string{"--inputs"}},
		{"missing flow", []string{filepath.Join(e.dir, "none.flow.yaml")}, 2, []string{"none.flow.yaml"}},
		{"invalid flow", []string{e.writeFlow("bad.flow.yaml", "version: 1\nname: bad\nsteps:\n  - id: a\n    call: {server: calc, tool: add}\n    with: {a: ${ .steps.nosuch.result }}\n")}, 2, []string{"bad.flow.yaml:6:", "nosuch"}},
		{"unknown server", []string{e.writeFlow("srv.flow.yaml", "version: 1\nname: srv\nsteps:\n  - id: a\n    call: {server: calz, tool: add}\n")}, 2, []string{`unknown server "calz"`}},
		{"bad dry-run mode", []string{flow, "--dry-run=everything"}, 2, []string{"--dry-run=everything"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.exec(runCmd, tt.args...)
			want(t, r, tt.code, tt.name)
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if n := calc.count("add") + calc.count("flaky"); n != 0 {
		t.Fatalf("%d calls made by runs that should have stopped first", n)
	}
}

func TestRunDryRun(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("sums.flow.yaml", sumFlow)
	r := e.exec(runCmd, flow, "--dry-run")
	want(t, r, 0, "dry run")
	for _, s := range []string{"Call plan of", "6 call(s); nothing was sent", "each[0]  calc.add  [simulated; arguments valid]", `"b": 100`} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan lacks %q:\n%s", s, r.stdout)
		}
	}
	if n := calc.count("add") + calc.count("flaky"); n != 0 {
		t.Fatalf("dry run made %d calls", n)
	}
	r = e.exec(runCmd, flow, "--dry-run=read-only", "--json")
	want(t, r, 0, "read-only dry run")
	var plan struct {
		Calls   []map[string]any `json:"calls"`
		Outputs map[string]any   `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || len(plan.Calls) != 6 || plan.Calls[0]["called"] != true {
		t.Fatalf("read-only plan: %v\n%s", err, r.stdout)
	}
	if calc.count("add") != 3 {
		t.Fatalf("read-only dry run made %d add calls, want 3", calc.count("add"))
	}
	bad := e.writeFlow("badargs.flow.yaml", "version: 1\nname: badargs\nsteps:\n  - id: a\n    call: {server: calc, tool: add}\n    with: {a: text}\n")
	r = e.exec(runCmd, bad, "--dry-run")
	want(t, r, 2, "dry run with invalid arguments")
	if !strings.Contains(r.stdout, "INVALID") {
		t.Fatalf("plan does not flag the invalid call:\n%s", r.stdout)
	}
}

// TestRunDryRunConditional: a call whose if was false on a sample result
// is shown with its arguments, not dropped, since a real run may make it.
func TestRunDryRunConditional(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("big.flow.yaml", `version: 1
name: big
steps:
  - id: one
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
  - id: big
    if: ${ .steps.one.result.sum > 1000 }
    call: {server: calc, tool: add}
    with: {a: ${ .steps.one.result.sum }, b: 7}
`)
	r := e.exec(runCmd, flow, "--dry-run")
	want(t, r, 0, "dry run")
	for _, s := range []string{"2 call(s); nothing was sent", "big  calc.add  [not called: conditional on simulated data; arguments valid]", `"b": 7`} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan lacks %q:\n%s", s, r.stdout)
		}
	}
	if n := calc.count("add"); n != 0 {
		t.Fatalf("dry run made %d calls", n)
	}
}

// TestStepTimeoutAboveServerTimeout: a step's timeout replaces its
// server's for that call (connectors.WithCallTimeout), so a longer one is
// honoured and nothing warns about it.
func TestStepTimeoutAboveServerTimeout(t *testing.T) {
	_, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("long.flow.yaml", `version: 1
name: long
steps:
  - id: one
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
    timeout: 1m
`)
	r := e.exec(runCmd, flow)
	want(t, r, 0, "run")
	r2 := e.exec(validateCmd, "--connect", flow)
	want(t, r2, 0, "validate --connect")
	for _, out := range []string{r.stderr, r2.stderr} {
		if strings.Contains(out, "longer than server") {
			t.Errorf("warned about a step timeout the connector now honours:\n%s", out)
		}
	}
}

// TestInterruptThenResume: cancelling a run (what Ctrl-C does) cancels the
// call in flight, journals it as cancelled and exits 130; since the call
// has effects, no key and an unknown outcome, resume then stops and asks,
// and --mark-done settles it without calling again.
func TestInterruptThenResume(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("book.flow.yaml", "version: 1\nname: book\nsteps:\n  - id: book\n    call: {server: calc, tool: book}\n    with: {a: 1, b: 2}\noutputs:\n  status: ${ .steps.book.status }\n")

	r := e.execCtx(interruptOnBooking(t, calc), runCmd, flow)
	want(t, r, cmdutil.ExitInterrupted, "interrupted run")
	id := regexp.MustCompile("mediator resume ([^\\s`]+)").FindStringSubmatch(r.stderr)
	if id == nil || !strings.Contains(r.stderr, "cancelled: interrupt signal received") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	r = e.exec(runsCmd, "show", id[1])
	want(t, r, 0, "runs show")
	if !regexp.MustCompile(`book\s+calc\.book\s+1\s+cancelled`).MatchString(r.stdout) || !strings.Contains(r.stdout, "Status:   cancelled") {
		t.Fatalf("journal after the interrupt:\n%s", r.stdout)
	}

	r = e.exec(resumeCmd, id[1])
	want(t, r, cmdutil.ExitUsage, "resume of an unsafe call in flight")
	for _, s := range []string{"cannot resume on its own", "book (calc.book, attempt 1 cancelled)", "--mark-done book"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("blocked resume lacks %q:\n%s", s, r.stderr)
		}
	}
	r = e.exec(resumeCmd, id[1], "--mark-done", "book")
	want(t, r, 0, "resume --mark-done")
	if !strings.Contains(r.stdout, `"status": "succeeded"`) {
		t.Fatalf("outputs after --mark-done:\n%s", r.stdout)
	}
	if n := calc.count("book"); n != 1 {
		t.Fatalf("book called %d times, want 1", n)
	}
}

// TestRunRetryDecidedLive: run is connected, so it applies the retry rule
// with the live annotations, as validate --connect does: a retry on a tool
// annotated readOnlyHint passes run and run --dry-run, and defaults.retry
// does not make a step calling a tool with effects say retry_unsafe (the
// call is made once).
func TestRunRetryDecidedLive(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	readOnly := e.writeFlow("readonly.flow.yaml", `version: 1
name: readonly
steps:
  - id: sum
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
    retry: {max_attempts: 4, initial_interval: 10ms}
outputs:
  sum: ${ .steps.sum.result.sum }
`)
	defaults := e.writeFlow("defaults.flow.yaml", `version: 1
name: defaults
defaults:
  retry: {max_attempts: 3, initial_interval: 10ms}
steps:
  - id: sum
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
  - id: write
    call: {server: calc, tool: note}
    with: {a: ${ .steps.sum.result.sum }, b: 0}
outputs:
  noted: ${ .steps.write.result.sum }
`)
	for _, flow := range []string{readOnly, defaults} {
		r := e.exec(runCmd, flow, "--dry-run")
		want(t, r, 0, "run --dry-run "+flow)
		if strings.Contains(r.stderr, "cannot tell") || strings.Contains(r.stderr, "warning") {
			t.Errorf("dry run questions the retry:\n%s", r.stderr)
		}
		r = e.exec(runCmd, flow)
		want(t, r, 0, "run "+flow)
		r = e.exec(validateCmd, "--connect", flow)
		want(t, r, 0, "validate --connect "+flow)
	}
	if n := calc.count("note"); n != 1 {
		t.Fatalf("note called %d times", n)
	}
}

// TestConcurrentResumes: two `mediator resume` of one run at once: exactly
// one goes ahead, the other exits 2 naming the process that holds the run,
// and each remaining call reaches the server once.
func TestConcurrentResumes(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("notes.flow.yaml", `version: 1
name: notes
steps:
  - id: first
    call: {server: calc, tool: flaky}
    with: {a: 2, b: 0}
  - id: w
    needs: [first]
    for_each: ${ [1, 2, 3] }
    max_concurrency: 1
    call: {server: calc, tool: note}
    with: {a: ${ .item }, b: 0}
`)
	calc.setBroken(true)
	r := e.exec(runCmd, flow, "--json")
	want(t, r, 1, "failing run")
	id := regexp.MustCompile(`"run_id": "([^"]+)"`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("no run id:\n%s", r.stdout)
	}
	hold := make(chan struct{})
	calc.mu.Lock()
	calc.broken, calc.hold = false, hold
	calc.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two resumes that both went ahead would both make the first note.
	go func() {
		for ctx.Err() == nil && calc.count("note") < 2 {
			time.Sleep(time.Millisecond)
		}
		release()
	}()
	results := make(chan result, 2)
	for range 2 {
		go func() {
			r := e.execCtx(ctx, resumeCmd, id[1])
			release() // the refused one lets the other go on
			results <- r
		}()
	}
	a, b := <-results, <-results
	if a.code != 0 {
		a, b = b, a
	}
	want(t, a, 0, "the resume that went ahead")
	want(t, b, cmdutil.ExitUsage, "the resume that found the run held")
	if w := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(b.stderr, w) {
		t.Errorf("refusal does not name the holder (%s):\n%s", w, b.stderr)
	}
	if n := calc.count("note"); n != 3 {
		t.Fatalf("note called %d times, want 3", n)
	}
}

// TestRunDryRunShowsEveryProblem: the text plan of a dry run flags the
// call with invalid arguments and the call to a tool the server lacks, in
// the order the run reached them, and the error names both.
func TestRunDryRunShowsEveryProblem(t *testing.T) {
	_, url := startCalc(t)
	e := newEnv(t, url)
	flow := e.writeFlow("problems.flow.yaml", `version: 1
name: problems
steps:
  - id: second
    needs: [first]
    call: {server: calc, tool: nosuch}
  - id: first
    call: {server: calc, tool: add}
    with: {a: text, b: 1}
`)
	r := e.exec(runCmd, flow, "--dry-run")
	want(t, r, cmdutil.ExitUsage, "dry run")
	first, second := strings.Index(r.stdout, "first  calc.add  [simulated; INVALID: invalid arguments for calc.add"), strings.Index(r.stdout, "second  calc.nosuch  [not called; INVALID:")
	if first < 0 || second < first || !strings.Contains(r.stdout, `no tool "nosuch"`) {
		t.Fatalf("plan:\n%s", r.stdout)
	}
	for _, s := range []string{"2 planned call(s) cannot be made as written", `dry run stopped: step second failed:`, `no tool "nosuch"`} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}
