package flowrun

import (
	"errors"
	"fmt"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// Summary is `--json` output of run and resume.
type Summary struct {
	RunID   string            `json:"run_id"`
	Status  string            `json:"status"`
	Outputs map[string]any    `json:"outputs"`
	Steps   map[string]string `json:"steps,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// Report prints a finished run: its outputs as JSON on stdout (with --json
// the whole summary, also for a failed run), and returns the error that
// sets the exit code: 0 succeeded, 1 a step failed, 2 the run needs a
// decision (resume blocked) or a flow problem, 3 a server could not be
// reached, 130 cancelled.
func Report(env Env, red *credentials.Redactor, res *workflows.RunResult, runErr error, asJSON bool) error {
	if res == nil {
		return runErr
	}
	if asJSON {
		s := Summary{RunID: res.RunID, Status: res.Status, Outputs: res.Outputs, Steps: res.Steps}
		if runErr != nil {
			s.Error = runErr.Error()
		}
		out, err := cmdutil.MarshalJSON(s)
		if err != nil {
			return fmt.Errorf("encoding the run summary: %w", err)
		}
		if err := cmdutil.WriteRedacted(env.IO.Out, red, out); err != nil {
			return err
		}
	} else if res.Status == workflows.RunSucceeded {
		outputs := res.Outputs
		if outputs == nil {
			outputs = map[string]any{}
		}
		out, err := cmdutil.MarshalJSON(outputs)
		if err != nil {
			return fmt.Errorf("encoding the outputs: %w", err)
		}
		if err := cmdutil.WriteRedacted(env.IO.Out, red, out); err != nil {
			return err
		}
	}
	if runErr == nil {
		return nil
	}
	msg := runErr.Error()
	if red != nil {
		msg = red.Redact(msg)
	}
	hint := ""
	switch res.Status {
	case workflows.RunFailed, workflows.RunCancelled:
		hint = fmt.Sprintf("\nresume it with `mediator resume %s` (journalled successes are reused)", res.RunID)
	}
	return &cmdutil.ExitError{Code: ExitCode(res, runErr), Err: errors.New(msg + hint), Silent: false}
}

// ExitCode is the exit code of a run that ended with err: 130 cancelled,
// 2 blocked on a decision, 3 a server could not be reached, else 1.
func ExitCode(res *workflows.RunResult, err error) int {
	if res != nil {
		switch res.Status {
		case workflows.RunCancelled:
			return cmdutil.ExitInterrupted
		case workflows.RunBlocked:
			return cmdutil.ExitUsage
		}
	}
	var ce *workflows.CallError
	if errors.As(err, &ce) {
		switch ce.Class {
		case workflows.ClassTransport, workflows.ClassTimeout:
			return cmdutil.ExitConnect
		}
	}
	var oe *orchestrator.Error
	if errors.As(err, &oe) && (oe.Kind == orchestrator.KindConnection || oe.Kind == orchestrator.KindClosed) {
		return cmdutil.ExitConnect
	}
	return cmdutil.ExitToolError
}
