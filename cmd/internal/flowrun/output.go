package flowrun

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors"
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
	// Finally is how the flow's finally steps ended, beside Status.
	Finally *FinallySummary `json:"finally,omitempty"`
}

// FinallySummary is Summary.Finally.
type FinallySummary struct {
	Status string            `json:"status"`
	Steps  map[string]string `json:"steps,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// Report prints a finished run: its outputs as JSON on stdout (with --json
// the whole summary, also for a failed run), and returns the error that
// sets the exit code (ExitCode). A failure of the finally steps is
// reported beside the run's own; alone, after a run that succeeded, it
// exits 1.
func Report(env Env, red *credentials.Redactor, res *workflows.RunResult, runErr error, asJSON bool) error {
	return report(env, red, res, runErr, asJSON, resumeHint)
}

// ReportRemote is Report for a run of a remote engine (engine: temporal),
// whose runs are not resumed: its hint points at `mediator runs show`.
func ReportRemote(env Env, red *credentials.Redactor, res *workflows.RunResult, runErr error, asJSON bool) error {
	return report(env, red, res, runErr, asJSON, remoteHint)
}

// resumeHint says how to finish a journalled run that did not end well.
func resumeHint(res *workflows.RunResult) string {
	switch res.Status {
	case workflows.RunFailed, workflows.RunCancelled:
		return fmt.Sprintf("\nresume it with `mediator resume %s` (journalled successes are reused)", res.RunID)
	case workflows.RunTimedOut:
		return fmt.Sprintf("\nresume it with more time: `mediator resume %s --extend 10m` (journalled successes are reused)", res.RunID)
	case workflows.RunSucceeded:
		return fmt.Sprintf("\nthe run succeeded; `mediator resume %s` runs what its finally steps left undone", res.RunID)
	}
	return ""
}

// remoteHint points at the run's record in the remote engine.
func remoteHint(res *workflows.RunResult) string {
	return fmt.Sprintf("\nsee its steps with `mediator runs show %s`", res.RunID)
}

func report(env Env, red *credentials.Redactor, res *workflows.RunResult, runErr error, asJSON bool, hintOf func(*workflows.RunResult) string) error {
	if res == nil {
		return runErr
	}
	if asJSON {
		s := Summary{RunID: res.RunID, Status: res.Status, Outputs: res.Outputs, Steps: res.Steps}
		if runErr != nil {
			s.Error = runErr.Error()
		}
		if fin := res.Finally; fin != nil {
			s.Finally = &FinallySummary{Status: fin.Status, Steps: fin.Steps}
			if fin.Err != nil {
				s.Finally.Error = fin.Err.Error()
			}
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
	var finErr error
	if res.Finally != nil && res.Finally.Err != nil {
		finErr = res.Finally.Err
	}
	if runErr == nil && finErr == nil {
		return nil
	}
	var msgs []string
	if runErr != nil {
		msgs = append(msgs, runErr.Error())
	}
	if finErr != nil {
		// Beside the run's own outcome, never instead of it.
		msgs = append(msgs, finErr.Error())
	}
	msg := strings.Join(msgs, "\n")
	if red != nil {
		msg = red.Redact(msg)
	}
	hint := hintOf(res)
	code := cmdutil.ExitToolError
	if runErr != nil {
		code = ExitCode(res, runErr)
	}
	return &cmdutil.ExitError{Code: code, Err: errors.New(msg + hint), Silent: false}
}

// ExitCode is the exit code (cmdutil's table) of a run that ended with
// err: 1 timed out (its timeout: passed); 130 cancelled; 2 blocked on a decision, or a call mediator refused
// (the data-flow policy, an unknown, filtered or unaccepted tool, invalid
// arguments); 3 a server that could not be reached or answered with a
// JSON-RPC error; 1 a step that failed on its own (a tool's error result,
// an expression that failed on the data, a result not matching its
// outputSchema). A failure outside the steps (the audit log, a server's
// connection) has the code cmdutil.ExitCode gives it.
func ExitCode(res *workflows.RunResult, err error) int {
	if res != nil {
		switch res.Status {
		case workflows.RunTimedOut:
			// The work ran and did not finish in its time: not an
			// interruption (130), nor a server that did not answer (3).
			return cmdutil.ExitToolError
		case workflows.RunCancelled:
			return cmdutil.ExitInterrupted
		case workflows.RunBlocked:
			return cmdutil.ExitUsage
		}
	}
	switch workflows.ErrorClass(err) {
	case workflows.ClassCancelled:
		return cmdutil.ExitInterrupted
	case workflows.ClassRefused:
		return cmdutil.ExitUsage
	case workflows.ClassTransport, workflows.ClassTimeout, workflows.ClassProtocol:
		return cmdutil.ExitConnect
	case "":
		var oe *orchestrator.Error
		var ce *connectors.Error
		if errors.As(err, &oe) || errors.As(err, &ce) {
			return cmdutil.ExitCode(err)
		}
	}
	return cmdutil.ExitToolError
}
