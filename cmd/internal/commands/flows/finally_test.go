package flows_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

const boundedFlow = `version: 1
name: bounded
timeout: 300ms
steps:
  - id: slow
    call: {server: calc, tool: note}
    with: {a: 1, b: 0}
finally:
  - id: report
    call: {server: calc, tool: add}
    with: {a: 2, b: 3}
`

type summary struct {
	RunID   string `json:"run_id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Finally *struct {
		Status string            `json:"status"`
		Steps  map[string]string `json:"steps"`
		Error  string            `json:"error"`
	} `json:"finally"`
}

// A run past its timeout: exit 1, status timed_out, finally run; resume
// refused without --extend (exit 2), done with it.
func TestRunTimeoutThenResumeWithExtend(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	path := e.writeFlow("bounded.flow.yaml", boundedFlow)
	r := e.exec(validateCmd, path)
	want(t, r, 0, "validate")
	if !strings.Contains(r.stdout, "2 steps (1 in finally) calling calc, run timeout 300ms") {
		t.Errorf("validate counts the finally step: %s", r.stdout)
	}

	hold := make(chan struct{})
	calc.mu.Lock()
	calc.hold = hold
	calc.mu.Unlock()
	r = e.exec(runCmd, path, "--json")
	want(t, r, 1, "timed-out run")
	var sum summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if sum.Status != "timed_out" || !strings.Contains(sum.Error, "timed out after 300ms") ||
		sum.Finally == nil || sum.Finally.Status != "succeeded" || sum.Finally.Steps["report"] != "succeeded" {
		t.Fatalf("--json: %+v\n%s", sum, r.stdout)
	}
	if !strings.Contains(r.stderr, "mediator resume "+sum.RunID+" --extend 10m") || !strings.Contains(r.stderr, "finally succeeded") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if calc.count("add") != 1 {
		t.Errorf("finally called add %d times", calc.count("add"))
	}

	r = e.exec(resumeCmd, sum.RunID)
	want(t, r, 2, "resume without --extend")
	if !strings.Contains(r.stderr, "--extend 10m") {
		t.Errorf("refusal does not say how:\n%s", r.stderr)
	}
	r = e.exec(resumeCmd, sum.RunID, "--extend", "0s")
	want(t, r, 2, "--extend 0s")

	calc.mu.Lock()
	calc.hold = nil
	calc.mu.Unlock()
	close(hold)
	// The cut-short note has effects and no idempotency key: settled by
	// --rerun, with the time --extend gives.
	r = e.exec(resumeCmd, sum.RunID, "--extend", "1m", "--rerun", "slow", "--json")
	want(t, r, 0, "resume --extend")
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Status != "succeeded" || sum.Finally == nil || sum.Finally.Status != "succeeded" {
		t.Fatalf("resumed: %v %+v", err, sum)
	}
	// The finally call is the same (its arguments read nothing that
	// changed): reused from the journal.
	if calc.count("add") != 1 {
		t.Errorf("finally's completed call was made again: add called %d times", calc.count("add"))
	}
	r = e.exec(runsCmd, "show", sum.RunID)
	want(t, r, 0, "runs show")
	for _, s := range []string{"Status:   succeeded", "Timeout:  1m (resume --extend gave 1m in all)", "Finally:  succeeded", "finally/report"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("runs show lacks %q:\n%s", s, r.stdout)
		}
	}
	// --json writes the durations as the flow file does, not in
	// nanoseconds.
	r = e.exec(runsCmd, "show", sum.RunID, "--json")
	want(t, r, 0, "runs show --json")
	var shown struct {
		Run map[string]any `json:"run"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Run["timeout"] != "1m" || shown.Run["extended"] != "1m" {
		t.Errorf("runs show --json: %v, run %v", err, shown.Run)
	}
}

// A failure in finally is reported beside a run that succeeded: the
// outputs are printed, status stays succeeded, exit 1.
func TestFinallyFailureBesideSuccess(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	path := e.writeFlow("cleanup.flow.yaml", `version: 1
name: cleanup
steps:
  - id: sum
    call: {server: calc, tool: add}
    with: {a: 1, b: 2}
outputs:
  sum: ${ .steps.sum.result.sum }
finally:
  - id: tidy
    call: {server: calc, tool: flaky}
    with: {a: 2, b: 0}
`)
	calc.setBroken(true)
	r := e.exec(runCmd, path)
	want(t, r, 1, "run whose finally fails")
	if strings.TrimSpace(r.stdout) != "{\n  \"sum\": 3\n}" {
		t.Errorf("outputs of the succeeded run: %q", r.stdout)
	}
	for _, s := range []string{": succeeded in", "; finally failed: ", "finally failed: step finally/tidy failed", "flaky is broken today"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	r = e.exec(runCmd, path, "--json")
	want(t, r, 1, "run --json whose finally fails")
	var sum summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Status != "succeeded" || sum.Error != "" ||
		sum.Finally == nil || sum.Finally.Status != "failed" || !strings.Contains(sum.Finally.Error, "flaky is broken today") {
		t.Fatalf("--json: %v %+v\n%s", err, sum, r.stdout)
	}
	// Resume finishes what finally left undone.
	calc.setBroken(false)
	r = e.exec(resumeCmd, sum.RunID)
	want(t, r, 0, "resume of the failed finally")

	r = e.exec(runCmd, path, "--dry-run")
	want(t, r, 0, "dry run")
	if !strings.Contains(r.stdout, "Calls under finally/ run after the steps") || !strings.Contains(r.stdout, "finally/tidy  calc.flaky") {
		t.Errorf("dry run:\n%s", r.stdout)
	}
}

// Ctrl-C cancels the steps; the finally steps still run, see the run
// cancelled, and the exit code is the interruption's.
func TestInterruptRunsFinally(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	path := e.writeFlow("book.flow.yaml", `version: 1
name: book
steps:
  - id: book
    call: {server: calc, tool: book}
    with: {a: 1, b: 2}
finally:
  - id: tidy
    if: ${ .run.status == "cancelled" }
    call: {server: calc, tool: add}
    with: {a: 1, b: 1}
`)
	r := e.execCtx(interruptOnBooking(t, calc), runCmd, path, "--json")
	want(t, r, cmdutil.ExitInterrupted, "interrupted run")
	var sum summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Status != "cancelled" ||
		sum.Finally == nil || sum.Finally.Steps["tidy"] != "succeeded" {
		t.Fatalf("--json: %v %+v\n%s", err, sum, r.stdout)
	}
	if n := calc.count("add"); n != 1 {
		t.Errorf("finally's call made %d times after the interrupt", n)
	}
}
